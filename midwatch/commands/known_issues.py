"""``midwatch known-issues``: the knowledge base of known issues (``knowledge:`` in the
config). ``validate`` checks files with file:line errors; ``list`` shows how often each
issue occurred and the most frequent error signatures no entry explains yet.

Exit status: 0 fine, 1 ``validate`` found a mistake, 2 a usage, config or store problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict

from collector.config import CONFIG_ENV


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("known-issues", help="the known-issues knowledge base")
    ps = p.add_subparsers(dest="ki_command", metavar="COMMAND", required=True)
    ls = ps.add_parser("list", help="occurrences per known issue, and candidates for new ones")
    ls.add_argument("--since", default="30d", metavar="DURATION", help="default 30d")
    ls.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ls.add_argument("-c", "--config", metavar="FILE", help=f"config file (default ${CONFIG_ENV})")
    ls.set_defaults(func=list_issues)
    va = ps.add_parser("validate", help="check knowledge files (file:line errors)")
    va.add_argument("files", nargs="+", metavar="FILE")
    va.set_defaults(func=validate)


def validate(args: argparse.Namespace) -> int:
    from collector.knowledge import load_knowledge
    from collector.yamlconf import ConfigError

    try:
        kb = load_knowledge(args.files)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{len(kb.issues)} known issues OK")
    return 0


def list_issues(args: argparse.Namespace) -> int:
    from collector.knowledge import from_config
    from collector.store import open_store
    from collector.store.base import StoreError
    from collector.tracequery import table
    from collector.yamlconf import ConfigError, load, parse_duration_ms
    from midwatch.report.known import known_issues

    path = args.config or os.environ.get(CONFIG_ENV)
    if not path:
        print(f"midwatch known-issues list: pass -c FILE (or set {CONFIG_ENV})", file=sys.stderr)
        return 2
    try:
        now = int(time.time() * 1000)
        since = now - parse_duration_ms(args.since)
        doc = load(path)
        kb = from_config(doc)
        store = open_store(doc.data.get("store"), doc)
        try:
            occ, cands = known_issues(store, kb, since, now)
        finally:
            store.close()
    except (ConfigError, StoreError, ValueError) as exc:
        print(f"midwatch known-issues list: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"known_issues": [asdict(o) for o in occ],
                          "candidates": [asdict(c) for c in cands]}, indent=2))
        return 0
    if not kb:
        print(f"no knowledge: files in {path}; every signature below is a candidate")
    else:
        print(table(["known issue", "occurrences", "fix", "title"],
                    [[o.id, o.count, o.fix_status, o.title] for o in occ]))
    print(f"\ncandidates for the knowledge base (failures with no known issue, last {args.since}):")
    print(table(["signature", "failures", "platform", "message template"],
                [[c.signature, c.count, c.platform, c.template[:100]] for c in cands])
          if cands else "  none")
    return 0
