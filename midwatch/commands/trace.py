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
from collector.since import parse_since
from collector.store import DEFAULT_SQLITE_PATH, open_store
from collector.store.base import Store, StoreError, TraceQuery
from collector.trace import STATUSES
from collector.yamlconf import ConfigError, load


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("trace", help="one message's journey, by any ID it was known by")
    t.add_argument("id", metavar="ID", help="typed (order:4711) or bare (4711) ID, or trace key")
    _common(t)
    t.set_defaults(func=trace)

    ts = sub.add_parser("traces", help="list message traces, newest first")
    ts.add_argument("--flow", help="flow name from the catalog")
    ts.add_argument("--partner", help="trading partner")
    ts.add_argument("--status", choices=STATUSES)
    ts.add_argument("--since", metavar="DURATION",
                    help="seen within, e.g. 1h, 30m, 2d, or since an RFC 3339 time")
    ts.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    _common(ts)
    ts.set_defaults(func=traces)

    r = sub.add_parser("reconcile",
                       help="messages of a flow that reached one stage but not another")
    r.add_argument("--flow", required=True, help="flow name from the catalog")
    r.add_argument("--from", dest="from_stage", required=True, metavar="STAGE")
    r.add_argument("--to", dest="to_stage", required=True, metavar="STAGE")
    r.add_argument("--since", metavar="DURATION", default="1d",
                   help="traces seen within, e.g. 1d (default), 12h, or since an RFC 3339 "
                        "time")
    _common(r)
    r.set_defaults(func=reconcile)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-c", "--config", metavar="FILE",
                   help=f"config file whose store: section to read (default: ${CONFIG_ENV}, "
                        f"else {DEFAULT_SQLITE_PATH})")


class _Fail(Exception):
    pass


def _catalog(args: argparse.Namespace):
    """The flow catalog of the config, to check names against; a reconciliation without one
    cannot tell a stage from a typo."""
    from collector.correlation.catalog import load_catalog
    from collector.inputs.mapped_ids import mapped_id_types_in

    path = args.config or os.environ.get(CONFIG_ENV)
    doc = load(path) if path else None
    flows = doc.data.get("flows") if doc is not None and isinstance(doc.data, dict) else None
    if flows is None:
        raise _Fail("needs the flow catalog to check --flow, --from and --to: pass -c FILE "
                    f"(or set {CONFIG_ENV}) whose flows: names it, e.g. flows: "
                    "deploy/flows.example.yaml")
    return load_catalog(flows, doc, ("flows",), mapped_types=mapped_id_types_in(doc.data))


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
        return parse_since(text, int(time.time() * 1000))
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


def _stored_form(args: argparse.Namespace) -> str:
    """The ID as the store holds it: a card number or e-mail address was replaced by its
    token before storage (collector.normalize), so it is looked up by the token the
    config's redaction key gives it (without a config, as typed)."""
    from collector.normalize import redact_text

    path = args.config or os.environ.get(CONFIG_ENV)
    if not path or redact_text(args.id) == args.id:
        return args.id
    from collector.config import load_config
    from collector.redaction_key import load_key

    config = load_config(path)
    red = config.collector.redaction
    return redact_text(args.id, red.cards, red.emails, load_key(config.collector, config.file))


def _knowledge(args: argparse.Namespace):
    """The config's known issues (none without a config or a knowledge: section)."""
    from collector.knowledge import KnowledgeBase, from_config

    path = args.config or os.environ.get(CONFIG_ENV)
    return from_config(load(path)) if path else KnowledgeBase()


def trace(args: argparse.Namespace) -> int:
    from collector.knowledge import render_known_issues, trace_known_issues
    from collector.tracequery import (
        MAX_MATCHES,
        find_by_id,
        matches_doc,
        not_found_hint,
        one_named,
        render_matches,
        render_trace,
    )

    def answer(store: Store) -> int:
        wanted, found = find_by_id(store, _stored_form(args), MAX_MATCHES + 1)
        if not found:
            hint = not_found_hint(args.id)
            print(f"midwatch trace: no trace has the ID {args.id!r} (IDs are typed like "
                  f"order:4711; a bare value matches any type{'; ' + hint if hint else ''})",
                  file=sys.stderr)
            return 1
        one = one_named(wanted, found)
        if one is None:  # an envelope or batch ID, a reused ID: every message it names
            if args.json:
                _print_json(matches_doc(wanted, found, full=True))
            else:
                print(render_matches(wanted, found))
            return 0
        kb = _knowledge(args)
        issues = trace_known_issues(store, one, kb) if kb else []
        if args.json:
            _print_json({**one.to_doc(), **({"known_issues": issues} if issues else {})})
        else:
            print(render_trace(one))
            if issues:
                print(render_known_issues(issues))
        return 0

    return _run(args, answer)


def traces(args: argparse.Namespace) -> int:
    from collector.tracequery import render_traces

    def answer(store: Store) -> int:
        if args.limit < 1:
            raise _Fail("--limit must be at least 1")
        found = store.search_traces(TraceQuery(
            flow=args.flow, partner=args.partner, status=args.status,
            since_ms=_since(args.since), limit=args.limit))
        if args.json:
            _print_json([t.to_doc() for t in found])
        elif found:
            print(render_traces(found))
        else:
            print("no traces match", file=sys.stderr)
            if args.flow and (why := _unknown_flow(args)):
                print(why, file=sys.stderr)
        return 0

    return _run(args, answer)


def _unknown_flow(args: argparse.Namespace) -> str | None:
    """Why ``--flow`` matched nothing when the config's catalog has no such flow (a typo, with
    the closest name); None without a catalog, whose flows cannot be told from a typo."""
    from collector.tracequery import UnknownName, check_names

    try:
        check_names(_catalog(args), args.flow, {})
    except UnknownName as exc:
        return str(exc)
    except (ConfigError, _Fail):
        pass
    return None


def reconcile(args: argparse.Namespace) -> int:
    from collector.tracequery import UnknownName, check_names, render_reconciliation
    from collector.tracequery import reconcile as compare

    try:
        check_names(_catalog(args), args.flow, {"--from": args.from_stage, "--to": args.to_stage})
    except (ConfigError, _Fail, UnknownName) as exc:
        print(f"midwatch reconcile: {exc}", file=sys.stderr)
        return 2

    def answer(store: Store) -> int:
        result = compare(store, args.flow, args.from_stage, args.to_stage,
                         _since(args.since) or 0)
        if args.json:
            _print_json(result.to_doc())
        else:
            print(render_reconciliation(result))
        return 0

    return _run(args, answer)
