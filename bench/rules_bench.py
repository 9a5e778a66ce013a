"""Rule evaluation speed: 50, 200 and 500 rules against millions of events in the real ES.

Run: ``.venv/bin/python bench/rules_bench.py [--events 5000000] [--rules 50,200,500]
[--prefix mwbench-rules] [--keep]`` with Elasticsearch at MIDWATCH_ES_URL.

Events are generated cheaply as prepared documents through ``helpers.parallel_bulk`` into one
daily index of the store's template (refresh off while loading); ``--keep`` leaves them for
the next run, which then skips the load. Rules are a mix of every type over 6 platforms and 3
windows with varied thresholds, so some share queries and most do not; thresholds sit above the
generated traffic, as in production, where few of 500 rules fire at once (each firing alert
costs one state write on its first tick). The target is one
evaluation of 500 rules well within a 30 s interval; each figure is the wall time of one
``Engine.evaluate`` (all queries batched through ``_msearch``, alert state persisted), cold
(first tick: every alert is new and written) and steady (the next tick).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from collector.event import ms_to_iso
from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z; every event falls in the 2 hours before
SPAN_MS = 2 * 3_600_000
PLATFORMS = ("mulesoft", "boomi", "kafka", "rabbitmq", "apigw", "edi")
STAGES = ("received", "transformed", "published", "consumed", "delivered")
FLOWS = 50
WINDOWS = ("5m", "10m", "15m")


def documents(n: int, index: str, seed: int = 11, span_ms: int = SPAN_MS):
    rnd = random.Random(seed)
    for i in range(n):
        failed = rnd.random() < 0.03
        platform = PLATFORMS[i % len(PLATFORMS)]
        doc = {
            "@timestamp": ms_to_iso(T0 - span_ms + rnd.randrange(span_ms)),
            "event": {"id": f"b{i}", "dataset": f"{platform}.bench", "action": "delivered",
                      "outcome": "failure" if failed else "success",
                      "duration": rnd.randrange(1, 900) * 1_000_000},
            "log": {"level": "error" if failed else "info"},
            "service": {"name": f"svc-{i % 37}"},
            "midwatch": {"platform": platform, "flow": f"flow-{rnd.randrange(FLOWS):02d}",
                         "stage": f"{platform}.{STAGES[i % len(STAGES)]}",
                         "partner": f"P{i % 20}", "message_id": f"m{i}"},
        }
        if failed:
            doc["midwatch"]["signature"] = f"sig-{rnd.randrange(8)}"
        yield {"_index": index, "_id": f"b{i}", "_source": doc}


def load_events(es: Elasticsearch, store: ElasticsearchStore, n: int, *, day: str = "2024.03.04",
                span_ms: int = SPAN_MS) -> float:
    index = f"{store.names.events}-{day}"
    if es.indices.exists(index=index):
        have = es.count(index=index)["count"]
        if have >= n:
            print(f"reusing {have:,} events in {index}")
            return 0.0
    es.indices.create(index=index, settings={"refresh_interval": "-1", "number_of_replicas": 0})
    start = time.perf_counter()
    for ok, item in helpers.parallel_bulk(es, documents(n, index, span_ms=span_ms),
                                          thread_count=2, chunk_size=5000, queue_size=2):
        if not ok:
            raise RuntimeError(f"bulk failed: {item}")
    es.indices.put_settings(index=index, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=index)
    es.indices.forcemerge(index=index, max_num_segments=1)
    took = time.perf_counter() - start
    print(f"loaded {n:,} events in {took:.0f} s ({n / took:,.0f}/s)")
    return took


def rule_file(n: int) -> str:
    lines = ["rules:"]
    for i in range(n):
        platform = PLATFORMS[i % 6]
        window = WINDOWS[(i // 6) % 3]
        kind = i // 18 % 6
        head = (f"  - {{name: r{i:03d}, window: {window}, filter: {{midwatch.platform: {platform}}}, "
                "group_by: [midwatch.flow], ")
        body = [
            f"type: threshold, above: {5000 + i}}}",
            f"type: ratio, where: {{event.outcome: failure}}, above: 0.{1 + i % 9}, min_events: 20}}",
            "type: absence, seen_within: 1h}",
            f"type: latency, source: hop, percentile: {(50, 95, 99)[i % 3]}, above: {1000 + i}ms}}",
            f"type: spike, factor: {2 + i % 3}, min_events: 20}}",
            "type: new_error, lookback: 1h}",
        ][kind]
        lines.append(head + body)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--rules", default="50,200,500")
    ap.add_argument("--prefix", default="mwbench-rules")
    ap.add_argument("--keep", action="store_true", help="keep the indices for the next run")
    args = ap.parse_args()
    url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    es = Elasticsearch(url, request_timeout=600)
    store = ElasticsearchStore(client=es, index_prefix=args.prefix)
    store.setup()
    try:
        load_events(es, store, args.events)
        total = es.count(index=store.names.events)["count"]
        print(f"{total:,} events in {store.names.events}")
        with tempfile.TemporaryDirectory() as tmp:
            for n in (int(x) for x in args.rules.split(",")):
                path = Path(tmp) / f"rules-{n}.yaml"
                path.write_text(rule_file(n))
                config = load_rules_config(loads(f"rules: {{paths: [{path}]}}\n"))
                assert not config.errors, config.errors[:3]
                for key in store.get_state("alerts"):
                    store.put_state("alerts", key, None)
                engine = Engine(config, store)
                figures = []
                for tick in range(2):
                    start = time.perf_counter()
                    outcome = engine.evaluate(T0 + tick * 30_000)
                    figures.append(time.perf_counter() - start)
                    assert not outcome.failed_rules, outcome.failed_rules
                print(f"{n:>4} rules: {outcome.queries:>4} distinct queries, "
                      f"{len(outcome.alerts):>5} alerts; evaluation cold {figures[0]:.2f} s, "
                      f"steady {figures[1]:.2f} s (interval 30 s)")
    finally:
        if not args.keep:
            drop(es, args.prefix)


def drop(es: Elasticsearch, prefix: str) -> None:
    """Delete the bench's indices (by name: wildcard deletes may be refused)."""
    found = es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    if found:
        es.indices.delete(index=",".join(found))


if __name__ == "__main__":
    main()
