"""Backfill speed: ``rules backfill`` over a day at 1-minute steps (1,441 evaluations) for 50
rules on 1M events in the real Elasticsearch; target under 60 s.

Run: ``.venv/bin/python bench/backfill_bench.py [--events 1000000] [--rules 50] [--step 1m]
[--prefix mwbench-backfill] [--keep]`` with Elasticsearch at MIDWATCH_ES_URL.

Events and rules are those of ``bench/rules_bench.py`` (every type, 6 platforms, 3 windows),
the events spread over the day before T0 instead of two hours. Printed: the wall time, the
store queries sent against the rule queries the engine asked for (the batching), and the
timeline's size. ``--exact N`` also times N steps of the engine asking the store for every
query, for the per-step cost without batching.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from elasticsearch import Elasticsearch
from rules_bench import T0, drop, load_events, rule_file

from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import loads, parse_duration_ms
from rules.backfill import backfill
from rules.config import load_rules_config
from rules.engine import Engine

DAY_MS = 86_400_000


def search_ms(es: Elasticsearch, store: ElasticsearchStore) -> int:
    """Time Elasticsearch spent searching the events so far (query and fetch phases)."""
    stats = es.indices.stats(index=f"{store.names.events}-*", metric="search")
    total = stats["_all"]["total"]["search"]
    return total["query_time_in_millis"] + total["fetch_time_in_millis"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rules", type=int, default=50)
    ap.add_argument("--step", default="1m")
    ap.add_argument("--exact", type=int, default=0, metavar="N",
                    help="also time N steps without batching")
    ap.add_argument("--prefix", default="mwbench-backfill")
    ap.add_argument("--keep", action="store_true", help="keep the indices for the next run")
    args = ap.parse_args()
    es = Elasticsearch(os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200"),
                       request_timeout=600)
    store = ElasticsearchStore(client=es, index_prefix=args.prefix)
    store.setup()
    step = parse_duration_ms(args.step)
    try:
        load_events(es, store, args.events, day="2024.03.03", span_ms=DAY_MS)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "rules.yaml"
            path.write_text(rule_file(args.rules))
            config = load_rules_config(loads(f"rules: {{paths: [{path}], notify: [pager]}}\n"
                                             "notifiers: {pager: {type: webhook, "
                                             "url: 'http://127.0.0.1:9/'}}\n"))
            assert not config.errors, config.errors[:3]
            start, cpu, searched = time.perf_counter(), time.process_time(), search_ms(es, store)
            report = backfill(config, store, T0 - DAY_MS, T0, step)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            searched = (search_ms(es, store) - searched) / 1000
            fired = sum(s.fired for s in report.summary.values())
            failed = sum(s.failed for s in report.summary.values())
            print(f"backfill of {args.rules} rules over a day every {args.step}: "
                  f"{report.steps} evaluations in {took:.1f} s ({cpu:.1f} s CPU here, "
                  f"{searched:.1f} s searching in Elasticsearch, load "
                  f"{os.getloadavg()[0]:.1f}); {report.store_queries:,} store "
                  f"queries for {report.engine_queries:,} rule queries ({report.folded:,} "
                  f"folded from histograms); {len(report.timeline):,} timeline lines, "
                  f"{fired} fired, {failed} failed evaluations")
            if args.exact:
                engine = Engine(config, store, persist=False)
                start, cpu, searched = time.perf_counter(), time.process_time(), search_ms(es, store)
                for at in range(T0 - DAY_MS // 2, T0 - DAY_MS // 2 + args.exact * step, step):
                    engine.evaluate(at)
                n = report.steps / args.exact
                took, cpu = time.perf_counter() - start, time.process_time() - cpu
                searched = (search_ms(es, store) - searched) / 1000
                print(f"without batching (a day extrapolated from {args.exact} steps): "
                      f"{took * n:.0f} s ({cpu * n:.1f} s CPU here, {searched * n:.1f} s "
                      "searching in Elasticsearch)")
    finally:
        if not args.keep:
            drop(es, args.prefix)


if __name__ == "__main__":
    main()
