"""A sample midwatch plug-in: the ``at_least`` rule type and the ``jsonl_file`` notifier."""
