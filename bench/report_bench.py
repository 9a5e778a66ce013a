"""Monthly report time over as many events as load into Elasticsearch in a time budget.

Run: ``.venv/bin/python bench/report_bench.py [--seconds 110] [--keep PREFIX]`` with
Elasticsearch at MIDWATCH_ES_URL.

Loads a month (2026-11) of order-to-cash traffic through ``ElasticsearchStore`` for
``--seconds``: 4 hops per order on four platforms, ~3 % failures spread over 12 error
signatures, EDI documents of three partners with 997 rejections, probe readings, and one
trace per order (completed, failed, stuck, ~2 % over SLA). Then times the report: the
store aggregations (``build``, all sections) and the HTML and PDF rendering apart. The
issue's target is a month of 10M events in under 60 s; the figure to read is the build time
next to the event count (aggregation cost grows with the data, rendering does not).
``--keep PREFIX`` keeps (and reuses) the indices, so a second run times the report only.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from ceiling import cleanup
from elasticsearch import Elasticsearch

from collector.event import Event, event_id
from collector.store.elasticsearch import ElasticsearchStore
from collector.trace import Hop, Trace
from midwatch.report.build import build
from midwatch.report.period import parse_period, previous
from midwatch.report.scope import Scope
from midwatch.report.write import write

ES = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200").rstrip("/")
PLATFORMS = ("apigw", "mulesoft", "kafka", "boomi")
BATCH = 5_000
ERRORS = [f"Connection refused: backend-{i}:<n>" for i in range(12)]


def month_events(rng: random.Random, start_ms: int, span_ms: int, first: int, n_orders: int
                 ) -> tuple[list[Event], list[Trace]]:
    events, traces = [], []
    for order in range(first, first + n_orders):
        t0 = start_ms + rng.randrange(span_ms)
        fate = rng.random()
        hops = []
        for h, platform in enumerate(PLATFORMS):
            failed = fate < 0.03 and h == 3
            ev = Event(t0 + h * 2_000, f"{platform}.log", platform,
                       ERRORS[order % 12].replace("<n>", "8080") if failed else "ok",
                       action="failed" if failed else "received",
                       outcome="failure" if failed else "success",
                       level="error" if failed else "info",
                       id=event_id("report-bench", f"{order}:{h}"), service=f"svc-{platform}",
                       flow="order-to-cash", stage=f"{platform}.done",
                       message_id=f"o-{order}", duration_ns=rng.randrange(10**6, 10**9))
            if failed:
                ev.signature, ev.error_class = f"sig{order % 12:013d}", "connectivity"
                ev.labels["signature_template"] = ERRORS[order % 12]
            ev.add_id("order", order)
            events.append(ev)
            hops.append(Hop(ev.stage, ev.service, platform, ev.timestamp_ms, ev.outcome, ev.id))
        if order % 50 == 0:  # EDI: an 850 to a partner, its 997 (1 in 10 rejected)
            partner = ("GLOBEX", "INITECH", "ACME")[order % 3]
            rejected = order % 500 == 0
            for k, action in enumerate(("sent", "rejected" if rejected else "acknowledged")):
                ev = Event(t0 + k * 600_000, "edi.x12", "edi", "850", action=action,
                           outcome="failure" if rejected and k else "success",
                           id=event_id("report-bench-edi", f"{order}:{k}"), partner=partner,
                           flow="edi-850-outbound")
                if rejected and k:
                    ev.error_type, ev.error_code, ev.error_class = "x12.997", "5", "validation"
                events.append(ev)
        status = "failed" if fate < 0.03 else ("stuck" if fate < 0.035 else "completed")
        duration = rng.randrange(5_000, 60_000) if fate > 0.02 else 20 * 60_000
        traces.append(Trace(f"order:{order}", [f"order:{order}"], t0, t0 + duration,
                            flow="order-to-cash", status=status,
                            ended_ms=t0 + duration if status != "stuck" else None,
                            hops=hops, hop_count=4, sla_ms=15 * 60_000,
                            sla_breached=duration > 15 * 60_000 or status == "stuck"))
    return events, traces


def load(store: ElasticsearchStore, start_ms: int, span_ms: int, seconds: float) -> int:
    rng = random.Random(7)
    deadline = time.monotonic() + seconds
    written, order = 0, 0
    while time.monotonic() < deadline:
        events, traces = month_events(rng, start_ms, span_ms, order, BATCH // 4)
        order += BATCH // 4
        written += store.write_events(events).written
        store.upsert_traces(traces)
    store.refresh()
    return written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=110.0)
    ap.add_argument("--keep", metavar="PREFIX", help="keep and reuse the indices under PREFIX")
    args = ap.parse_args()
    period = parse_period("2026-11")
    prefix = args.keep or f"mwbench-report-{os.getpid()}"
    store = ElasticsearchStore(ES, index_prefix=prefix)
    store.setup()
    es = Elasticsearch(ES, request_timeout=120)
    try:
        have = es.count(index=f"{prefix}-events*", allow_no_indices=True,
                        ignore_unavailable=True)["count"]
        if not have:
            t = time.perf_counter()
            n = load(store, period.start_ms, period.end_ms - period.start_ms, args.seconds)
            print(f"loaded {n:,} events in {time.perf_counter() - t:.0f} s")
        have = es.count(index=f"{prefix}-events*")["count"]
        scope = Scope(store, period, previous(period))
        times = []
        for _ in range(2):  # first: cold caches; second: what a re-run costs
            t = time.perf_counter()
            report = build(scope, source="bench")
            times.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            write(report, "html", Path(tmp) / "r.html")
            html_s = time.perf_counter() - t
            t = time.perf_counter()
            write(report, "pdf", Path(tmp) / "r.pdf")
            pdf_s = time.perf_counter() - t
        print(f"report {period.label} over {have:,} events: aggregations (all sections) "
              f"{times[0]:.2f} s cold, {times[1]:.2f} s warm; HTML {html_s:.2f} s; "
              f"PDF {pdf_s:.2f} s")
    finally:
        store.close()
        if not args.keep:
            cleanup(es, prefix)
        es.close()


if __name__ == "__main__":
    main()
