"""``midwatch run`` imports only its own command module at start (the others cost it a
seventh of a second of CPU, numpy among them), and parses exactly as the full parser does."""

from __future__ import annotations

import subprocess
import sys

from midwatch.cli import build_parser

RUN_ARGS = ["run", "-c", "midwatch.yaml", "--no-api", "--log-level", "warning"]


def test_run_alone_parses_as_the_full_parser_does():
    alone, full = build_parser("run").parse_args(RUN_ARGS), build_parser().parse_args(RUN_ARGS)
    assert vars(alone) == vars(full)
    assert vars(build_parser("serve").parse_args(["serve", "--listen", "127.0.0.1:1"])) == \
        vars(build_parser().parse_args(["serve", "--listen", "127.0.0.1:1"]))


def test_run_does_not_import_the_other_commands():
    probe = ("import sys; from midwatch.cli import build_parser; build_parser('run'); "
             "print(sorted(m for m in sys.modules if m in ('numpy', 'midwatch.commands.anomaly',"
             " 'midwatch.commands.rules', 'midwatch.commands.run')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['midwatch.commands.run']"


def test_a_command_no_module_is_named_after_gets_the_full_parser():
    """``serve`` lives in the run module, ``known-issues`` in known_issues: both still parse,
    and an unknown command is refused naming every command."""
    assert build_parser("known-issues").parse_args(["known-issues", "list"]).command == \
        "known-issues"
    assert "anomaly" in build_parser("runn").format_help()
