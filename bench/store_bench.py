"""Store speed, each figure next to its ceiling in the same run.

Run: ``.venv/bin/python bench/store_bench.py [--only bulk,lookup,sqlite] [--events 200000]
[--lookup-events 1000000] [--lookups 2000] [--keep]`` with Elasticsearch at MIDWATCH_ES_URL.

1. bulk: the same events into the same ES, (a) as prepared documents through the client's
   raw ``helpers.bulk`` (the ceiling) and (b) through ``ElasticsearchStore.write_events``
   (which also builds the documents from Events). Target ratio (b)/(a) >= 0.8.
2. lookup: ``get_trace`` by a typed ID, a bare ID or the trace key with ``--lookup-events``
   events and their traces indexed. Target p99 < 50 ms. ``--keep`` keeps the indices so a
   second run skips the load.
3. sqlite: ``SQLiteStore.write_events`` events/s into a fresh file.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from ceiling import cleanup, raw_bulk
from elasticsearch import Elasticsearch

from collector.event import Event, event_id
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace

T0 = 1_709_546_400_000
BATCH = 5_000
PLATFORMS = ("apigw", "mulesoft", "kafka", "boomi")
EVENTS_PER_TRACE = 4


def make_events(n: int, seed: int = 7) -> list[Event]:
    """Events as the parsers make them: 4 hops per order, ~5% failures, a few labels."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        order, hop = divmod(i, EVENTS_PER_TRACE)
        platform = PLATFORMS[hop]
        failed = rng.random() < 0.05
        ev = Event(
            timestamp_ms=T0 + i * 20,
            dataset=f"{platform}.log",
            platform=platform,
            message=(f"HTTP POST on resource 'http://sap-gw:8080/orders' failed: Connection "
                     f"refused (order {order})" if failed else f"Processed order {order} at hop {hop}"),
            action="failed" if failed else "received",
            outcome="failure" if failed else "success",
            level="error" if failed else "info",
            id=event_id("bench.log", str(i)),
            ingested_ms=T0 + i * 20 + 150,
            duration_ns=rng.randrange(1_000_000, 900_000_000),
            service=f"order-{platform}",
            host=f"host-{i % 7}",
            flow="order-to-cash",
            stage=f"{platform}.received",
            message_id=f"corr-{order:08d}",
            error_class="connectivity" if failed else None,
            labels={"env": "prod", "region": ("eu", "us")[order % 2]},
        )
        ev.add_id("correlation", f"corr-{order:08d}")
        ev.add_id("order", 100_000 + order)
        out.append(ev)
    return out


def make_traces(events: list[Event]) -> list[Trace]:
    traces = []
    for start in range(0, len(events), EVENTS_PER_TRACE):
        group = events[start:start + EVENTS_PER_TRACE]
        hops = [Hop(e.stage, e.service, e.platform, e.timestamp_ms, e.outcome, e.id, e.action)
                for e in group]
        ids = sorted({i for e in group for i in e.ids})
        traces.append(Trace(group[0].ids[0], ids, group[0].timestamp_ms, group[-1].timestamp_ms,
                            flow="order-to-cash", status="completed", hops=hops,
                            hop_count=len(hops), stages=[h.stage for h in hops]))
    return traces






def _store_bulk(es: Elasticsearch, url: str, events: list[Event]) -> float:
    """ElasticsearchStore.write_events from Events (documents built inside the clock)."""
    prefix = f"mwbench-st-{uuid.uuid4().hex[:6]}"
    store = ElasticsearchStore(url, index_prefix=prefix)
    store.setup()
    try:
        t = time.perf_counter()
        written = 0
        for start in range(0, len(events), BATCH):
            written += store.write_events(events[start:start + BATCH]).written
        return written / (time.perf_counter() - t)
    finally:
        store.close()
        cleanup(es, prefix)


def bench_bulk(es: Elasticsearch, url: str, n: int) -> None:
    events = make_events(n)
    # The raw helper with its default chunk (500) and with ours: the faster is the ceiling.
    raw = {chunk: raw_bulk(es, events, chunk) for chunk in (500, 2_000)}
    ours = _store_bulk(es, url, events)
    ceiling = max(raw.values())
    print(f"bulk: {n} events; helpers.bulk chunk 500: {raw[500]:,.0f}/s, chunk 2000: "
          f"{raw[2_000]:,.0f}/s; ElasticsearchStore.write_events: {ours:,.0f}/s; "
          f"ratio to ceiling {ours / ceiling:.2f} (target >= 0.8)")


def bench_lookup(es: Elasticsearch, url: str, n: int, lookups: int, keep: bool) -> None:
    prefix = f"mwbench-lookup-{n}"
    store = ElasticsearchStore(url, index_prefix=prefix)
    store.setup()
    names = store.names
    have = es.count(index=names.events, ignore_unavailable=True, allow_no_indices=True)["count"]
    try:
        if have < n:
            t = time.perf_counter()
            for start in range(0, n, 100_000):
                chunk = make_events(min(100_000, n - start), seed=start)
                for e, i in zip(chunk, range(start, start + len(chunk)), strict=True):
                    e.id = event_id("bench.log", str(i))  # unique across chunks
                    order = i // EVENTS_PER_TRACE
                    e.ids = [f"correlation:corr-{order:08d}", f"order:{100_000 + order}"]
                for b in range(0, len(chunk), BATCH):
                    store.write_events(chunk[b:b + BATCH])
                traces = make_traces(chunk)
                for b in range(0, len(traces), BATCH):
                    store.upsert_traces(traces[b:b + BATCH])
            es.indices.refresh(index=f"{prefix}-*")
            print(f"lookup: loaded {n} events and {n // EVENTS_PER_TRACE} traces in "
                  f"{time.perf_counter() - t:.0f} s")
        n_traces = es.count(index=names.traces)["count"]
        rng = random.Random(1)
        samples = []
        misses = 0
        for k in range(lookups):
            order = rng.randrange(n // EVENTS_PER_TRACE)
            any_id = (f"order:{100_000 + order}", str(100_000 + order),
                      f"correlation:corr-{order:08d}")[k % 3]
            t = time.perf_counter()
            found = store.get_trace(any_id)
            samples.append((time.perf_counter() - t) * 1000)
            misses += found is None
        samples.sort()
        p50 = statistics.median(samples)
        p99 = samples[int(len(samples) * 0.99) - 1]
        print(f"lookup: get_trace over {have if have >= n else n} events / {n_traces} traces, "
              f"{lookups} lookups (typed, bare, key): p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
              f"max {samples[-1]:.1f} ms, not found {misses} (target p99 < 50 ms)")
    finally:
        store.close()
        if not keep:
            cleanup(es, prefix)


def bench_sqlite(n: int) -> None:
    events = make_events(n)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.sqlite")
        store.setup()
        t = time.perf_counter()
        for start in range(0, n, BATCH):
            store.write_events(events[start:start + BATCH])
        rate = n / (time.perf_counter() - t)
        store.close()
    print(f"sqlite: write_events {n} events: {rate:,.0f}/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="bulk,lookup,sqlite")
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--lookup-events", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=2_000)
    ap.add_argument("--keep", action="store_true", help="keep the lookup indices for re-runs")
    args = ap.parse_args()
    only = set(args.only.split(","))
    url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    if "sqlite" in only:
        bench_sqlite(args.events)
    if only & {"bulk", "lookup"}:
        es = Elasticsearch(url, request_timeout=120)
        if "bulk" in only:
            bench_bulk(es, url, args.events)
        if "lookup" in only:
            bench_lookup(es, url, args.lookup_events, args.lookups, args.keep)
        es.close()


if __name__ == "__main__":
    main()
