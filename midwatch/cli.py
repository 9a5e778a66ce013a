"""The ``midwatch`` command: a thin shell that parses arguments and calls the packages.

Each subcommand group lives in ``midwatch/commands/<group>.py`` with a ``register(sub)``
function; no product logic belongs here or there beyond argument handling and printing.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from midwatch import __version__

COMMAND_MODULES = (
    "version", "doctor", "parse", "run", "trace", "demo", "rules", "anomaly", "dashboards",
    "probes", "report", "slo", "known_issues",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="midwatch",
        description="Message-level observability for integration platforms.",
    )
    parser.add_argument("--version", action="version", version=f"midwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"midwatch.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `midwatch parse big.log | head` must end quietly.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
