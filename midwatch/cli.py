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
    "probes", "report", "slo", "known_issues", "deadletters",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; or, when ``command`` names a command module that registers a
    command of that name (``run``), only that module's: importing all of them (numpy for
    ``anomaly``, among others) cost ``midwatch run`` a seventh of a second of CPU at every
    start (bench/peer_otelcol.py's ``midwatch run`` row). The one parser parses that
    command exactly as the full one would."""
    if command in COMMAND_MODULES:
        parser, commands = _parser((command,))
        if command in commands:
            return parser
    return _parser(COMMAND_MODULES)[0]


def _parser(modules: tuple[str, ...]) -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser of these modules' commands, and the names of those commands."""
    parser = argparse.ArgumentParser(
        prog="midwatch",
        description="Message-level observability for integration platforms.",
    )
    parser.add_argument("--version", action="version", version=f"midwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(f"midwatch.commands.{name}").register(sub)
    return parser, set(sub.choices)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
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
