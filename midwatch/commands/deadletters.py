"""``midwatch deadletters``: the records midwatch could not parse or store, from the store.

The store comes from ``-c FILE`` as for ``midwatch trace``. Exit status: 0 answered (also
with none found), 2 a usage, config or store problem.
"""

from __future__ import annotations

import argparse
import time

from collector.apidoc import MAX_LIMIT
from collector.deadletters import (
    DEFAULT_LIMIT,
    DEFAULT_SINCE,
    RAW_HEAD_BYTES,
    WHOLE_LIMIT,
    DeadLetterQuery,
    newest,
    row,
    summary,
)
from collector.store.base import Store
from collector.tracequery import table
from midwatch.commands.trace import _common, _Fail, _print_json, _run, _since


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("deadletters",
                       help="records that could not be parsed or stored, newest first")
    d.add_argument("--since", metavar="DURATION", default=DEFAULT_SINCE,
                   help=f"dead-lettered within, e.g. {DEFAULT_SINCE} (default), 12h, 30m, or "
                        "since an RFC 3339 time")
    d.add_argument("--input", help="input name from the config")
    d.add_argument("--reason", metavar="KIND",
                   help="reason kind, e.g. line_too_long, parse_error (the reason's head)")
    d.add_argument("--source", metavar="FILE:LINE",
                   help="the record(s) read from there (file:line, or topic:partition:offset)")
    d.add_argument("--limit", type=int, metavar="N",
                   help=f"at most N, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}; with --whole "
                        f"1 to {WHOLE_LIMIT}, default {WHOLE_LIMIT})")
    d.add_argument("--whole", action="store_true",
                   help=f"raw records whole (up to 64 KiB each) instead of their first "
                        f"{RAW_HEAD_BYTES // 1024} KiB (raw_truncated): with --json, at most "
                        f"{WHOLE_LIMIT} (--limit), e.g. --source FILE:LINE --limit 1")
    d.add_argument("--summary", action="store_true",
                   help="counts by reason and input over the window instead of the records")
    _common(d)
    d.set_defaults(func=deadletters)


def deadletters(args: argparse.Namespace) -> int:
    def answer(store: Store) -> int:
        if args.whole and not args.json:
            raise _Fail("--whole: only with --json (the table cuts each record to its column)")
        most = WHOLE_LIMIT if args.whole else MAX_LIMIT
        limit = min(DEFAULT_LIMIT, most) if args.limit is None else args.limit
        if not 1 <= limit <= most:
            raise _Fail(f"--limit: expected a number from 1 to {most}"
                        + (" with --whole" if args.whole else ""))
        q = DeadLetterQuery(start_ms=_since(args.since) or 0,
                            end_ms=int(time.time() * 1000) + 1, input=args.input,
                            reason=args.reason, limit=limit, source=args.source)
        if args.summary:
            counts = summary(store, q)
            if args.json:
                _print_json(counts)
            elif counts:
                print(table(["REASON", "INPUT", "COUNT"],
                            [[c["reason"], c["input"], c["count"]] for c in counts]))
            else:
                print(f"no dead letters since {args.since}")
            return 0
        docs = newest(store, q, whole=args.whole)
        if args.json:
            _print_json(docs)
        elif docs:
            print(table(["TIME", "INPUT", "SOURCE", "REASON", "RAW"],
                        [row(d) for d in docs]))
        else:
            print(f"no dead letters since {args.since}")
        return 0

    return _run(args, answer)
