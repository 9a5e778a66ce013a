"""``midwatch slo status``: each SLO of the config's ``slos:`` with its attainment and error
budget over its window, from one aggregation per SLO (one round trip for all).

Exit status: 0 every objective met, 1 some budget is spent (objective missed), 2 a usage,
config or store problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from collector.config import CONFIG_ENV


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("slo", help="service level objectives and their error budgets")
    ps = p.add_subparsers(dest="slo_command", metavar="COMMAND", required=True)
    st = ps.add_parser("status", help="attainment and error budget of every SLO")
    st.add_argument("--at", metavar="ISO", help="end of the window (default now)")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.add_argument("-c", "--config", metavar="FILE", help=f"config file (default ${CONFIG_ENV})")
    st.set_defaults(func=status)


def status(args: argparse.Namespace) -> int:
    from collector.event import iso_to_ms
    from collector.store import open_store
    from collector.store.base import StoreError
    from collector.tracequery import table
    from collector.yamlconf import ConfigError, load
    from rules.slo import budget, budget_query, load_slos

    path = args.config or os.environ.get(CONFIG_ENV)
    if not path:
        print(f"midwatch slo status: pass -c FILE (or set {CONFIG_ENV}): SLOs are defined in "
              "its slos: section", file=sys.stderr)
        return 2
    try:
        at_ms = iso_to_ms(args.at) if args.at else int(time.time() * 1000)
    except ValueError:
        print(f"midwatch slo status: --at {args.at!r}: expected e.g. 2026-11-30T00:00:00Z",
              file=sys.stderr)
        return 2
    try:
        doc = load(path)
        slos = load_slos(doc)
        if not slos:
            print(f"midwatch slo status: {path} has no slos: section (see "
                  "deploy/midwatch.example.yaml)", file=sys.stderr)
            return 2
        store = open_store(doc.data.get("store"), doc)
        try:
            answers = store.metrics([budget_query(s, at_ms) for s in slos])
        finally:
            store.close()
    except (ConfigError, StoreError, ValueError) as exc:
        print(f"midwatch slo status: {exc}", file=sys.stderr)
        return 2
    budgets = [budget(s, rows) for s, rows in zip(slos, answers, strict=True)]
    for note in _unmeasured(doc, [b.slo for b in budgets if not b.total]):
        print(f"midwatch slo status: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps([{
            "name": b.slo.name, "sli": b.slo.objective.sli,
            "target": b.slo.objective.flow or b.slo.objective.probe,
            "objective": b.slo.objective.objective, "window_ms": b.slo.window_ms,
            "events": b.total, "bad": b.bad, "attainment": b.attainment,
            "budget_remaining": b.remaining, "burned_days": len(b.burned_days),
        } for b in budgets], indent=2))
    else:
        print(table(["slo", "sli", "of", "objective", "window", "events", "attained",
                     "budget left", "days burning"], [[
            b.slo.name, b.slo.objective.sli, b.slo.objective.flow or b.slo.objective.probe
            or "all", f"{100 * b.slo.objective.objective:g}%",
            f"{b.slo.window_ms // 86_400_000}d", b.total,
            "-" if b.attainment is None else f"{100 * b.attainment:.2f}%",
            f"{100 * b.remaining:.0f}%", len(b.burned_days)] for b in budgets]))
    return 1 if any(b.remaining < 0 for b in budgets) else 0


def _unmeasured(doc, slos) -> list[str]:
    """Why an SLO measured nothing, naming the flow or probe it counts: one misspelt showed
    "100% budget left" like a healthy one (new-team walk). A flow or probe neither the
    catalog nor ``probes:`` has gets the closest one that is (a flow may also come from a
    parser mapping, so it is not refused)."""
    from collector.correlation.catalog import load_catalog
    from collector.inputs.mapped_ids import mapped_id_types_in
    from collector.yamlconf import ConfigError, did_you_mean

    try:
        flows = set(load_catalog(doc.data.get("flows"), doc,
                                 mapped_types=mapped_id_types_in(doc.data)).flows) \
            if slos else set()
    except (ConfigError, OSError):  # the catalog's own errors are `midwatch run`'s to report
        flows = set()
    probes = {str(p.get("name")) for p in doc.data.get("probes") or [] if isinstance(p, dict)}
    notes = []
    for slo in slos:
        o = slo.objective
        kind, name, known = ("flow", o.flow, flows) if o.flow else ("probe", o.probe, probes)
        if name is None:
            continue
        what = "messages" if o.sli == "sla" else "endpoint.up readings"
        note = (f"{slo.name} ({slo.origin}): no {what} of {kind} {name!r} in its "
                f"{slo.window_ms // 86_400_000}d window")
        hint = None if name in known else (
            did_you_mean(name, known) or ("the flow catalog has no such flow" if o.flow
                                          else "probes: has no probe of that name"))
        notes.append(f"{note} ({hint})" if hint else note)
    return notes
