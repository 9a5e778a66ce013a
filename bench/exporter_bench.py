"""OTLP exporter cost: what ingestion pays per finished journey, and how fast one thread sends.

    .venv/bin/python bench/exporter_bench.py [--traces 20000] [--otlp http://127.0.0.1:14318]

Journeys are the demo's (SQLite, 2000 orders), repeated under new keys up to ``--traces``.
Reports:

- ``offer`` on the ingest side (the snapshot into the bounded queue), microseconds per trace;
- building and serializing the OTLP request on the exporter's thread, traces/s on one core;
- with ``--otlp`` (a real Jaeger, e.g. the one services.sh starts), the whole export: traces/s
  from offer to the peer's 200, with the spans sent, dropped and failed.

The issue's target: keep up with 5,000 finishing traces/s at under 10% of the collector's CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from collector.config import load_config
from collector.exporters import spans
from collector.exporters.otlp import OtlpExporter, OtlpSettings
from collector.metrics import Registry
from collector.store.base import TraceQuery
from midwatch.demo.run import run_demo


def journeys(count: int) -> list:
    result = run_demo(Path(tempfile.mkdtemp(prefix="exporter-bench-")), messages=2000)
    store = load_config(result.config).open_store()
    try:
        base = [t for t in store.search_traces(TraceQuery(limit=10_000))
                if t.status in spans.FINAL_STATUSES]
    finally:
        store.close()
    run = time.time_ns()
    return [dataclasses.replace(base[i % len(base)],
                                trace_key=f"{base[i % len(base)].trace_key}#{run}-{i}")
            for i in range(count)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", type=int, default=20_000)
    ap.add_argument("--otlp", metavar="URL", help="OTLP/HTTP base URL of a real peer")
    args = ap.parse_args()
    traces = journeys(args.traces)
    span_count = sum(1 + len(t.hops) for t in traces)
    print(f"{len(traces)} journeys, {span_count} spans ({span_count / len(traces):.1f} a journey)")

    idle = OtlpExporter(OtlpSettings(endpoint="http://127.0.0.1:9/v1/traces",
                                     queue_traces=len(traces)), Registry())
    cpu = time.process_time()
    idle.offer(traces)
    offer_us = (time.process_time() - cpu) / len(traces) * 1e6
    print(f"offer (ingest side)          {offer_us:7.2f} us a journey "
          f"({offer_us * 5000 / 1e4:.2f}% of one core at 5,000 journeys/s)")

    cpu = time.process_time()
    for start in range(0, len(traces), 200):
        batch = spans.Batch()
        for t in traces[start:start + 200]:
            batch.add(t)
        batch.serialize()
    build = time.process_time() - cpu
    print(f"build + serialize (exporter) {len(traces) / build:9.0f} journeys/s on one core "
          f"({build / len(traces) * 1e6:.1f} us a journey)")

    if args.otlp:
        exporter = OtlpExporter(OtlpSettings(endpoint=args.otlp + "/v1/traces",
                                             queue_traces=len(traces)), Registry())
        exporter.start()
        wall, cpu = time.monotonic(), time.process_time()
        exporter.offer(traces)
        done = exporter.flush(300)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        exporter.stop()
        counts = {r: int(exporter.spans.value("otlp", r)) for r in ("sent", "dropped", "failed")}
        print(f"export to {args.otlp}  {len(traces) / wall:9.0f} journeys/s "
              f"(wall {wall:.1f}s, this process's CPU {cpu:.1f}s, finished={done}) {counts}")


if __name__ == "__main__":
    main()
