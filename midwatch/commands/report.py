"""``midwatch report``: the monthly or quarterly integration health report, from the store
of ``-c FILE`` (SQLite or Elasticsearch), as HTML, PDF or Markdown.

Exit status: 0 written, 2 a usage, config or store problem.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from collector.config import CONFIG_ENV
from collector.store import DEFAULT_SQLITE_PATH


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="integration health report for a month, quarter or range")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--period", metavar="PERIOD", help="a month (2026-11) or quarter (2026-Q4)")
    when.add_argument("--from", dest="start", metavar="DATE", help="start (2026-11-01); with --to")
    p.add_argument("--to", dest="end", metavar="DATE", help="end, inclusive as a date (2026-11-30)")
    p.add_argument("--flows", metavar="A,B", help="only these flows (comma-separated)")
    p.add_argument("--partners", metavar="A,B", help="only these trading partners")
    p.add_argument("--format", choices=("html", "pdf", "md"), default="html",
                   help="output format (default html)")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write")
    p.add_argument("-c", "--config", metavar="FILE",
                   help=f"config file (default: ${CONFIG_ENV}, else the store at "
                        f"{DEFAULT_SQLITE_PATH})")
    p.set_defaults(func=report)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def report(args: argparse.Namespace) -> int:
    from collector.store.base import StoreError
    from collector.yamlconf import ConfigError
    from midwatch.report.period import between, parse_period, previous
    from midwatch.report.run import make_report

    try:
        if args.period:
            period = parse_period(args.period)
        elif not args.end:
            raise ValueError("--from needs --to (e.g. --from 2026-11-01 --to 2026-11-15)")
        else:
            period = between(args.start, args.end)
    except ValueError as exc:
        print(f"midwatch report: {exc}", file=sys.stderr)
        return 2
    config = args.config or os.environ.get(CONFIG_ENV)
    if not config and not Path(DEFAULT_SQLITE_PATH).exists():
        print(f"midwatch report: no store at {DEFAULT_SQLITE_PATH}: run `midwatch run` or "
              f"`midwatch demo` here first, or pass -c FILE (or set {CONFIG_ENV})",
              file=sys.stderr)
        return 2
    try:
        out, seconds = make_report(config, period, previous(period), Path(args.out), args.format,
                                   flows=_names(args.flows), partners=_names(args.partners))
    except (ConfigError, StoreError, OSError) as exc:
        print(f"midwatch report: {exc}", file=sys.stderr)
        return 2
    print(f"report {period.label} ({args.format}) written to {out} in {seconds:.1f}s")
    return 0
