"""Store speed per search engine: the same documents, the same run, Elasticsearch 9 and 8 and
OpenSearch 2 and 3 side by side (issue 28: within 20% of each other).

Run: ``.venv/bin/python bench/store_engines_bench.py [--events 40000] [--lookups 600]
[--rounds 2]`` with the engines of ``deploy/local/services.sh up es es8 opensearch opensearch3``
(MIDWATCH_ES_URL, MIDWATCH_ES8_URL, MIDWATCH_OPENSEARCH_URL, MIDWATCH_OPENSEARCH3_URL).

Per engine: ``write_events`` throughput (events/s, documents built inside the clock, batches
of 5,000) plus ``upsert_traces`` of their traces, then ``get_trace`` p50/p99 by a typed ID, a
bare ID or the trace key. Rounds visit the engines in rotated order so that none is always
first while the machine is cold (or last while another engine is still merging); each
figure is the best of its rounds. The engines share the machine: heaps as services.sh sets
them (ES 9 1 GB, the others 512 MB).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid

from store_bench import BATCH, EVENTS_PER_TRACE, make_events, make_traces

from collector.store import engines
from collector.store.elasticsearch import ElasticsearchStore

ENGINES = {
    "elasticsearch 9": ("MIDWATCH_ES_URL", "http://127.0.0.1:9200"),
    "elasticsearch 8": ("MIDWATCH_ES8_URL", "http://127.0.0.1:9210"),
    "opensearch": ("MIDWATCH_OPENSEARCH_URL", "http://127.0.0.1:9220"),
    "opensearch 3": ("MIDWATCH_OPENSEARCH3_URL", "http://127.0.0.1:9230"),
}


def one_round(url: str, n_events: int, lookups: int) -> tuple[str, float, float, float, float]:
    """(engine name, events/s, traces/s, lookup p50 ms, lookup p99 ms) on a fresh prefix."""
    events = make_events(n_events)
    traces = make_traces(events)
    client = engines.client(url, request_timeout=120)
    store = ElasticsearchStore(client=client, index_prefix=f"mwbench-eng-{uuid.uuid4().hex[:6]}")
    try:
        store.setup()
        name = store.engine().name
        t = time.perf_counter()
        written = sum(store.write_events(events[i:i + BATCH]).written
                      for i in range(0, len(events), BATCH))
        events_s = written / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, len(traces), BATCH):
            store.upsert_traces(traces[i:i + BATCH])
        traces_s = len(traces) / (time.perf_counter() - t)
        store.refresh()
        rng = random.Random(1)
        samples, misses = [], 0
        for k in range(lookups):
            order = rng.randrange(n_events // EVENTS_PER_TRACE)
            any_id = (f"order:{100_000 + order}", str(100_000 + order),
                      f"correlation:corr-{order:08d}")[k % 3]
            t = time.perf_counter()
            misses += store.get_trace(any_id) is None
            samples.append((time.perf_counter() - t) * 1000)
        if misses:
            raise SystemExit(f"{name}: {misses} of {lookups} lookups found nothing")
        samples.sort()
        p99 = samples[max(0, int(len(samples) * 0.99) - 1)]
        return name, events_s, traces_s, statistics.median(samples), p99
    finally:
        store.close()
        _delete(client, store.names.prefix)
        client.close()


def _delete(client, prefix: str) -> None:
    """Every index and template of the bench prefix."""
    found = client.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    if found:
        client.indices.delete(index=",".join(found))
    for name in (f"{prefix}-events", f"{prefix}-deadletter", f"{prefix}-traces",
                 f"{prefix}-alerts", f"{prefix}-state"):
        client.options(ignore_status=404).indices.delete_index_template(name=name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--lookups", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    urls = {label: os.environ.get(var, default) for label, (var, default) in ENGINES.items()}
    best: dict[str, list] = {}
    labels = list(urls)
    for r in range(args.rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            name, ev, tr, p50, p99 = one_round(urls[label], args.events, args.lookups)
            print(f"round {r + 1} {name}: write_events {ev:,.0f}/s, upsert_traces {tr:,.0f}/s, "
                  f"get_trace p50 {p50:.1f} ms p99 {p99:.1f} ms", flush=True)
            got = best.setdefault(name, [0.0, 0.0, float("inf"), float("inf")])
            best[name] = [max(got[0], ev), max(got[1], tr), min(got[2], p50), min(got[3], p99)]
    print(f"best of {args.rounds} rounds, {args.events} events, {args.lookups} lookups:")
    for name, (ev, tr, p50, p99) in best.items():
        print(f"  {name:<22} write_events {ev:>8,.0f}/s  upsert_traces {tr:>7,.0f}/s  "
              f"get_trace p50 {p50:5.1f} ms  p99 {p99:5.1f} ms")
    writes = [v[0] for v in best.values()]
    p99s = [v[3] for v in best.values()]
    print(f"spread: write_events slowest/fastest {min(writes) / max(writes):.2f}, "
          f"get_trace p99 fastest/slowest {min(p99s) / max(p99s):.2f} (target >= 0.80 each)")


if __name__ == "__main__":
    main()
