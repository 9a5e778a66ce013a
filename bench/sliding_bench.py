"""Query cost of sliding windows against today's fixed windows: 500 rules, 1M events, one run.

Run: ``.venv/bin/python bench/sliding_bench.py [--events 1000000] [--rules 500] [--ticks 5]
[--stores es,sqlite] [--keep]`` with Elasticsearch at MIDWATCH_ES_URL.

The rules and events are ``bench/rules_bench.py``'s (a mix of every type over 6 platforms and
3 windows; half of them threshold, ratio or spike, the sliding types). For each tick, steady state
(the previous evaluation 30 s earlier), the engine's own plan is run as the engine runs it
(``Engine._run``: unique queries in ``_msearch`` batches), once as planned (sliding: the
sliding types' queries bucketed over window + 30 s, those of one filter and window asked
as one, ``rules/sharing.py``) and once as today's fixed windows (no
buckets, the window ending at the tick; a spike's baseline its own query, as before); the order alternates per
tick and every tick moves 30 s from a time new to each run, so no answer comes from
Elasticsearch's request cache. The
figure per mode is the median wall time of the whole plan and of the sliding types' queries
alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from elasticsearch import Elasticsearch

sys.path.insert(0, str(Path(__file__).parent))
from rules_bench import T0, documents, load_events, rule_file  # noqa: E402

from collector.event import from_doc  # noqa: E402
from collector.store.elasticsearch import ElasticsearchStore  # noqa: E402
from collector.store.sqlite import SQLiteStore  # noqa: E402
from collector.yamlconf import loads  # noqa: E402
from rules import sharing, types  # noqa: E402
from rules.config import load_rules_config  # noqa: E402
from rules.engine import Engine  # noqa: E402

TICK_MS = 30_000


def plans(engine: Engine, at_ms: int) -> dict[str, list]:
    """Unique queries per mode: ``sliding`` as the engine plans them, ``fixed`` as before."""
    out: dict[str, list] = {"sliding": [], "fixed": [], "sliding-only": [], "fixed-only": []}
    for rule in engine.rules:
        engine.last_run[rule.name] = at_ms - TICK_MS
        qs = engine._plan(rule, at_ms)
        fixed = [replace(q, edges_ms=None, start_ms=q.end_ms - rule.window_ms)
                 if q.edges_ms is not None else q for q in qs]
        if rule.type == "spike" and rule.spec.compare == "previous":  # today: two queries
            fixed.append(replace(fixed[0], start_ms=at_ms - 2 * rule.window_ms,
                                 end_ms=at_ms - rule.window_ms))
        out["sliding"] += qs
        out["fixed"] += fixed
        if getattr(types.get(rule.type), "SLIDING", False):
            out["sliding-only"] += qs
            out["fixed-only"] += fixed
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def measure(engine: Engine, ticks: int, whole: bool = True) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    # A fresh second per run: Elasticsearch's request cache keeps answers across runs.
    t0 = T0 - int(time.time() * 1000) % 600_000
    engine._run(plans(engine, t0 - TICK_MS)["sliding"])  # warm up: connections, caches of the mapping
    for tick in range(ticks):
        modes = ["sliding", "fixed", "sliding-only", "fixed-only"][0 if whole else 2:]
        for mode in modes if tick % 2 == 0 else modes[::-1]:
            # each mode 1 ms apart: no mode is answered from another's cached answers
            plan = plans(engine, t0 + tick * TICK_MS + modes.index(mode))
            start = time.perf_counter()
            _, errors = engine._run(plan[mode])
            times.setdefault(mode, []).append(time.perf_counter() - start)
            print(f"    tick {tick} {mode}: {times[mode][-1]:.2f} s", flush=True)
            assert not errors, list(errors.values())[:2]
        if tick == 0:
            print("  distinct queries: " + ", ".join(f"{k} {len(v)}" for k, v in plan.items())
                  + "; sent (alike sliding windows shared, rules/sharing.py): "
                  + ", ".join(f"{k} {len(set(sharing.share(v).values()))}"
                              for k, v in plan.items()))
    return times


def report(name: str, times: dict[str, list[float]]) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    whole = (f"whole plan sliding {med['sliding']:.2f} s vs fixed {med['fixed']:.2f} s "
             f"(x{med['sliding'] / med['fixed']:.2f}); " if "fixed" in med else "")
    print(f"  {name}: {whole}sliding types' queries alone {med['sliding-only']:.2f} s vs "
          f"{med['fixed-only']:.2f} s (x{med['sliding-only'] / med['fixed-only']:.2f}); "
          f"medians of {len(times['fixed-only'])} ticks", flush=True)


def sqlite_store(path: Path, n: int) -> SQLiteStore:
    store = SQLiteStore(path)
    store.setup()
    start, batch = time.perf_counter(), []
    for item in documents(n, "events"):
        ev = from_doc(item["_source"])
        ev.id = item["_id"]
        batch.append(ev)
        if len(batch) == 10_000:
            store.write_events(batch)
            batch = []
    if batch:
        store.write_events(batch)
    print(f"  loaded {n:,} events into SQLite in {time.perf_counter() - start:.0f} s")
    return store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rules", type=int, default=500)
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--stores", default="es,sqlite")
    ap.add_argument("--prefix", default="mwbench-sliding")
    ap.add_argument("--keep", action="store_true", help="keep the ES indices for the next run")
    ap.add_argument("--types-only", action="store_true",
                    help="time only the sliding types' queries, not the whole plan")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(rule_file(args.rules))
        config = load_rules_config(loads(f"rules: {{paths: [{path}]}}\n"))
        assert not config.errors, config.errors[:3]
        print(f"{args.rules} rules, {args.events:,} events")
        if "es" in args.stores:
            es = Elasticsearch(os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200"),
                               request_timeout=600)
            store = ElasticsearchStore(client=es, index_prefix=args.prefix)
            store.setup()
            try:
                load_events(es, store, args.events)
                report("Elasticsearch", measure(Engine(config, store, persist=False), args.ticks,
                                                        not args.types_only))
            finally:
                if not args.keep:
                    found = es.indices.get(index=f"{args.prefix}-*", allow_no_indices=True)
                    if found:
                        es.indices.delete(index=",".join(found))
        if "sqlite" in args.stores:
            lite = sqlite_store(Path(tmp) / "bench.sqlite", args.events)
            try:
                report("SQLite", measure(Engine(config, lite, persist=False), args.ticks,
                                                 not args.types_only))
            finally:
                lite.close()


if __name__ == "__main__":
    main()
