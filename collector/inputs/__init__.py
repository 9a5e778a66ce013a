"""Inputs: where records come from. One module per input type, found through ``INPUTS``.

Each input module holds everything about its type, so a new input is one file plus one line
below (or an entry point in ``midwatch.inputs`` for an installed package):

- ``KEYS``: its config keys beyond the common ``type`` and ``name``;
- ``Config``: the frozen settings (with ``name`` and ``type``), read by
  ``parse(section, name) -> Config`` with file:line errors through ``Section``;
- ``build(cfg, ctx, config, metrics)``: the running input (``base.Input``) from its settings,
  its ``ParseContext``, the loaded ``collector.config.Config`` (for the shared ``kafka``,
  ``api`` and ``collector`` sections) and the metrics registry.

The other modules here (``base``, ``checkpoint``, ``lines``, ``rotation``, the guards and the
parse worker) are what the inputs share.
"""

from __future__ import annotations

from collector.registry import Registry

INPUTS = Registry(
    "input",
    {
        "file": "collector.inputs.file",
        "kafka": "collector.inputs.kafka",
        "otlp": "collector.inputs.otlp",
        "stdin": "collector.inputs.stdin",
        "syslog": "collector.inputs.syslog",
        "http": "collector.inputs.http",
    },
    required=("KEYS", "Config", "parse", "build"),
    entry_point_group="midwatch.inputs",
)
