"""``midwatch trace`` / ``traces`` / ``reconcile``: read message traces from the store.

The store comes from the ``store:`` section of ``-c FILE`` (or ``$MIDWATCH_CONFIG``); without
either, the embedded SQLite file that ``midwatch run`` and ``midwatch demo`` write by default.
Exit status: 0 answered, 1 the ID is not known, 2 a usage, config or store problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from collector.config import CONFIG_ENV
from collector.store import DEFAULT_SQLITE_PATH, open_store
from collector.store.base import Store, StoreError
from collector.trace import STATUSES
from collector.yamlconf import ConfigError, load, parse_duration_ms


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("trace", help="one message's journey, by any ID it was known by")
    t.add_argument("id", metavar="ID", help="typed (order:4711) or bare (4711) ID, or trace key")
    _common(t)
    t.set_defaults(func=trace)

    ts = sub.add_parser("traces", help="list message traces, newest first")
    ts.add_argument("--flow", help="flow name from the catalog")
    ts.add_argument("--partner", help="trading partner")
    ts.add_argument("--status", choices=STATUSES)
    ts.add_argument("--since", metavar="DURATION", help="seen within, e.g. 1h, 30m, 2d")
    ts.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    _common(ts)
    ts.set_defaults(func=traces)

    r = sub.add_parser("reconcile",
                       help="messages of a flow that reached one stage but not another")
    r.add_argument("--flow", required=True, help="flow name from the catalog")
    r.add_argument("--from", dest="from_stage", required=True, metavar="STAGE")
    r.add_argument("--to", dest="to_stage", required=True, metavar="STAGE")
    r.add_argument("--since", metavar="DURATION", default="1d",
                   help="traces seen within, e.g. 1d (default), 12h")
    _common(r)
    r.set_defaults(func=reconcile)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-c", "--config", metavar="FILE",
                   help=f"config file whose store: section to read (default: ${CONFIG_ENV}, "
                        f"else {DEFAULT_SQLITE_PATH})")


class _Fail(Exception):
    pass


def _store(args: argparse.Namespace) -> Store:
    path = args.config or os.environ.get(CONFIG_ENV)
    if path:
        doc = load(path)
        section = doc.data.get("store") if isinstance(doc.data, dict) else None
        store = open_store(section, doc)
    else:
        if not Path(DEFAULT_SQLITE_PATH).exists():
            raise _Fail(f"no store at {DEFAULT_SQLITE_PATH}: run `midwatch run` or "
                        f"`midwatch demo` here first, or pass -c FILE (or set {CONFIG_ENV})")
        store = open_store(None)
    try:
        store.ping()
    except StoreError as exc:
        store.close()
        raise _Fail(f"store not usable: {exc}") from None
    return store


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(time.time() * 1000) - parse_duration_ms(text)
    except ValueError as exc:
        raise _Fail(f"--since: {exc}") from None


def _run(args: argparse.Namespace, answer) -> int:
    try:
        store = _store(args)
        try:
            return answer(store)
        finally:
            store.close()
    except (ConfigError, _Fail, StoreError) as exc:
        print(f"midwatch {args.command}: {exc}", file=sys.stderr)
        return 2


def _print_json(doc: object) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False))


def _knowledge(args: argparse.Namespace):
    """The config's known issues (none without a config or a knowledge: section)."""
    from collector.knowledge import KnowledgeBase, from_config

    path = args.config or os.environ.get(CONFIG_ENV)
    return from_config(load(path)) if path else KnowledgeBase()


def trace(args: argparse.Namespace) -> int:
    from collector.knowledge import render_known_issues, trace_known_issues
    from collector.tracequery import render_trace

    def answer(store: Store) -> int:
        found = store.get_trace(args.id)
        if found is None:
            print(f"midwatch trace: no trace has the ID {args.id!r} (IDs are typed like "
                  f"order:4711; a bare value matches any type)", file=sys.stderr)
            return 1
        kb = _knowledge(args)
        issues = trace_known_issues(store, found, kb) if kb else []
        if args.json:
            _print_json({**found.to_doc(), **({"known_issues": issues} if issues else {})})
        else:
            print(render_trace(found))
            if issues:
                print(render_known_issues(issues))
        return 0

    return _run(args, answer)


def traces(args: argparse.Namespace) -> int:
    from collector.tracequery import render_traces

    def answer(store: Store) -> int:
        if args.limit < 1:
            raise _Fail("--limit must be at least 1")
        found = store.search_traces(flow=args.flow, partner=args.partner, status=args.status,
                                    since_ms=_since(args.since), limit=args.limit)
        if args.json:
            _print_json([t.to_doc() for t in found])
        elif found:
            print(render_traces(found))
        else:
            print("no traces match", file=sys.stderr)
        return 0

    return _run(args, answer)


def reconcile(args: argparse.Namespace) -> int:
    from collector.tracequery import reconcile as compare
    from collector.tracequery import render_reconciliation

    def answer(store: Store) -> int:
        result = compare(store, args.flow, args.from_stage, args.to_stage,
                         _since(args.since) or 0)
        if args.json:
            _print_json(result.to_doc())
        else:
            print(render_reconciliation(result))
        return 0

    return _run(args, answer)
