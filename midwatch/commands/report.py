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
    p.add_argument("--format", choices=FORMATS,
                   help="output format (default: from --out's extension, else html)")
    p.add_argument("--out", required=True, metavar="FILE", help="file to write")
    p.add_argument("-c", "--config", metavar="FILE",
                   help=f"config file (default: ${CONFIG_ENV}, else the store at "
                        f"{DEFAULT_SQLITE_PATH})")
    p.set_defaults(func=report)


FORMATS = ("html", "pdf", "md")
_SUFFIXES = {".html": "html", ".htm": "html", ".pdf": "pdf", ".md": "md"}


def output_format(given: str | None, out: Path) -> str:
    """The format asked for, else the one ``--out`` names (``x.pdf``), else html; a PDF
    written to ``x.html`` (or the like) is refused rather than mislabelled."""
    implied = _SUFFIXES.get(out.suffix.lower())
    if given and implied and given != implied:
        raise ValueError(f"--format {given} does not match --out {out} (a {implied} file name): "
                         f"change one of them")
    return given or implied or "html"


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
        out = Path(args.out)
        fmt = output_format(args.format, out)
        if out.is_dir():
            raise ValueError(f"--out {out} is a directory: give a file name, e.g. "
                             f"{out / f'health.{fmt}'}")
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
        out, seconds = make_report(config, period, previous(period), out, fmt,
                                   flows=_names(args.flows), partners=_names(args.partners))
    except (ConfigError, StoreError) as exc:
        print(f"midwatch report: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the output side: say which file and why, not an errno
        print(f"midwatch report: cannot write {exc.filename or out}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"report {period.label} ({fmt}) written to {out} in {seconds:.1f}s")
    return 0
