"""Monthly report time over N events in Elasticsearch (issue 23: 10M events in under 60 s).

Run: ``.venv/bin/python bench/report_bench.py [--events 10000000] [--until HH:MM]
[--keep PREFIX]`` with Elasticsearch at MIDWATCH_ES_URL.

Loads a month (2026-11) of integration traffic into a prefix of its own, as fast as the store
takes it: documents built by the store's own serializers (``to_doc``, ``trace_doc``, so the
report reads what ``midwatch run`` writes), pre-serialized as gzip NDJSON bulk bodies by
worker processes, several requests in flight, daily indices created up front with no replica
and no refresh, refreshed once at the end. The mix: four flows over eight platforms (2 to 4
hops a message), ~3 % failures over 24 error signatures, ~0.5 % stuck, ~2 % over their SLA;
an EDI 850 to one of six partners every 40 messages with its 997 (5 % rejected with AK5/AK9
codes, 5 % never acknowledged); broker warnings; one trace per message; the demo's probe
readings for every day. The report's config names an SLO per flow. ``--until`` stops
loading at that UTC time (what was loaded is reported).

Then times ``midwatch report --period 2026-11`` (a real subprocess, as a user runs it) as
HTML and PDF, each cold (Elasticsearch's request and query caches cleared first) and warm,
checks every section has content or says why not, prints Elasticsearch's heap and the
prefix's disk size, and deletes the prefix's indices (``--keep PREFIX`` keeps and reuses
them, so a second run times the report only).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import orjson
import urllib3
from ceiling import cleanup
from elasticsearch import Elasticsearch

from collector.event import Event, event_id, to_doc
from collector.store import documents, es_mappings
from collector.store.elasticsearch import ElasticsearchStore
from collector.trace import Hop, Trace
from midwatch.demo.probes import readings as probe_readings
from midwatch.report.period import parse_period

ES = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200").rstrip("/")
PERIOD = "2026-11"
MESSAGES_PER_BODY = 1_500  # ~5,500 events + 1,500 traces: ~6 MB of NDJSON, ~0.5 MB gzipped
IN_FLIGHT = 4
# flow -> (platforms of its hops, SLA in minutes, share of the messages)
FLOWS = {
    "order-to-cash": (("apigw", "mulesoft", "kafka", "boomi"), 15, 0.45),
    "invoice-sync": (("boomi", "biztalk", "ibmmq"), 30, 0.25),
    "shipment-notify": (("rabbitmq", "ace"), 10, 0.20),
    "customer-update": (("azure", "mulesoft", "kafka"), 20, 0.10),
}
PARTNERS = ("GLOBEX", "INITECH", "ACME", "UMBRELLA", "HOOLI", "STARK")
ERRORS = [f"{what} backend-{i}:<n>" for i, what in enumerate(
    ["Connection refused:", "Read timed out calling", "HTTP 503 from", "SSL handshake failed with",
     "Deadlock victim at", "Mapping failed for field customer.country on"] * 4)]
REJECT_CODES = ("1", "2", "5")  # AK5/AK9: not supported, not supported, one or more segments


def _flow_of(roll: float) -> str:
    for flow, (_, _, share) in FLOWS.items():
        if roll < share:
            return flow
        roll -= share
    return "order-to-cash"


def messages(body: int, start_ms: int, span_ms: int) -> tuple[list[Event], list[Trace]]:
    """The events and traces of one bulk body's messages; deterministic by ``body``."""
    rng = random.Random(body)
    events, traces = [], []
    for n in range(body * MESSAGES_PER_BODY, (body + 1) * MESSAGES_PER_BODY):
        flow = _flow_of(rng.random())
        platforms, sla_min, _ = FLOWS[flow]
        t0 = start_ms + rng.randrange(span_ms)
        fate = rng.random()
        failed, stuck = fate < 0.03, 0.03 <= fate < 0.035
        last = len(platforms) - 1 if not stuck else len(platforms) - 2
        hops, t = [], t0
        for h, platform in enumerate(platforms[:last + 1]):
            bad = failed and h == last
            sig = n % len(ERRORS)
            ev = Event(t, f"{platform}.log", platform,
                       ERRORS[sig].replace("<n>", "8080") if bad else "ok",
                       action="failed" if bad else "received",
                       outcome="failure" if bad else "success",
                       level="error" if bad else "info",
                       id=event_id("report-bench", f"{n}:{h}"), service=f"svc-{platform}",
                       flow=flow, stage=f"{platform}.done", message_id=f"m-{n}",
                       duration_ns=rng.randrange(10**6, 10**9))
            if bad:
                ev.signature, ev.error_class = f"sig{sig:013d}", "connectivity"
                ev.labels["signature_template"] = ERRORS[sig]
            ev.add_id("order" if flow == "order-to-cash" else "msg", n)
            events.append(ev)
            hops.append(Hop(ev.stage, ev.service, platform, t, ev.outcome, ev.id))
            t += rng.randrange(500, 30_000)
        late = rng.random() < 0.02
        duration = (sla_min + 5) * 60_000 if late else t - t0
        status = "failed" if failed else "stuck" if stuck else "completed"
        traces.append(Trace(f"m:{n}", [f"m:{n}"], t0, t0 + duration, flow=flow, status=status,
                            ended_ms=None if stuck else t0 + duration, hops=hops,
                            hop_count=len(hops), error_count=int(failed),
                            stages=tuple(h.stage for h in hops), sla_ms=sla_min * 60_000,
                            sla_breached=late or stuck,
                            last_error={"class": "connectivity", "message": events[-1].message,
                                        "stage": hops[-1].stage} if failed else None))
        if n % 40 == 0:
            events_, trace = _edi(rng, n, t0)
            events += events_
            traces.append(trace)
        if n % 100 == 0:  # broker warnings, in no flow
            platform = ("kafka", "rabbitmq")[n % 200 // 100]
            events.append(Event(t0, f"{platform}.broker", platform,
                                "ISR shrunk for partition orders-3" if platform == "kafka"
                                else "memory resource limit alarm set on node 'rabbit@mq-01'.",
                                action="logged", level="warning",
                                id=event_id("report-bench-broker", str(n)), service=platform))
    return events, traces


def _edi(rng: random.Random, n: int, t0: int) -> tuple[list[Event], Trace]:
    """An 850 to a partner and its 997: accepted, rejected with a code, or never sent."""
    partner = PARTNERS[n // 40 % len(PARTNERS)]
    fate = rng.random()
    answer = None if fate < 0.05 else "rejected" if fate < 0.10 else "acknowledged"
    events, hops = [], []
    for k, action in enumerate(("sent", answer) if answer else ("sent",)):
        ev = Event(t0 + k * rng.randrange(60_000, 3_600_000), "edi.x12", "edi", "850",
                   action=action, outcome="failure" if action == "rejected" else "success",
                   id=event_id("report-bench-edi", f"{n}:{k}"), partner=partner,
                   flow="edi-850-outbound", stage=f"edi.{action}")
        if action == "rejected":
            ev.error_type, ev.error_class = "x12.997", "validation"
            ev.error_code = REJECT_CODES[n % len(REJECT_CODES)]
        ev.add_id("x12.st", f"{partner}:{n}")
        events.append(ev)
        hops.append(Hop(ev.stage, None, "edi", ev.timestamp_ms, ev.outcome, ev.id))
    end = events[-1].timestamp_ms
    status = answer or "stuck"
    return events, Trace(f"x12.st:{partner}:{n}", [f"x12.st:{partner}:{n}"], t0, end,
                         flow="edi-850-outbound", status=status, partner=partner,
                         ended_ms=end if answer else None, hops=hops, hop_count=len(hops),
                         sla_ms=4 * 3_600_000, sla_breached=status == "stuck")


def body(args: tuple[int, str, str, int, int]) -> tuple[int, bytes]:
    """One gzip NDJSON bulk body: (events in it, body). A negative ``n`` is day ``-n - 1`` of
    the probes' readings (the demo's: consumer lag, queue depth, certificates, health)."""
    n, events_base, traces_index, start_ms, span_ms = args
    if n < 0:
        day = start_ms + (-n - 1) * 86_400_000
        events, traces = probe_readings(-n, day, day + 86_400_000), []
    else:
        events, traces = messages(n, start_ms, span_ms)
    dumps, daily = orjson.dumps, es_mappings.daily
    out = bytearray()
    for ev in events:
        out += b'{"index":{"_index":"%s","_id":"%s"}}\n' % (
            daily(events_base, ev.timestamp_ms).encode(), ev.id.encode())
        out += dumps(to_doc(ev)) + b"\n"
    for tr in traces:
        out += b'{"index":{"_index":"%s","_id":%s}}\n' % (traces_index.encode(),
                                                          dumps(tr.trace_key))
        out += dumps(documents.trace_doc(tr)) + b"\n"
    return len(events), gzip.compress(bytes(out), compresslevel=1)


def post(http: urllib3.PoolManager, data: bytes) -> None:
    for attempt in range(20):
        resp = http.request("POST", f"{ES}/_bulk?filter_path=errors,items.*.error",
                            body=data, headers={"Content-Type": "application/x-ndjson",
                                                "Content-Encoding": "gzip"})
        if resp.status == 429:
            time.sleep(min(5.0, 0.2 * 2 ** attempt))  # backing off a busy cluster
            continue
        doc = orjson.loads(resp.data)
        if resp.status >= 300 or doc.get("errors"):
            raise SystemExit(f"bulk refused ({resp.status}): {str(doc)[:1000]}")
        return
    raise SystemExit("bulk: still 429 after 20 attempts")


def load(prefix: str, target: int, until: float | None) -> tuple[int, float]:
    """Events loaded and seconds taken; stops at ``target`` events or at ``until`` (epoch s)."""
    period = parse_period(PERIOD)
    span = period.end_ms - period.start_ms
    names = ElasticsearchStore(ES, index_prefix=prefix).names
    http = urllib3.PoolManager(maxsize=IN_FLIGHT, timeout=urllib3.Timeout(total=300))
    _create_days(http, names.events, period.start_ms, period.end_ms)
    _put(http, f"/{names.traces}/_settings",
         {"index": {"number_of_replicas": 0, "refresh_interval": "-1"}})
    days = -(-span // 86_400_000)
    started, loaded, last_print = time.perf_counter(), 0, 0
    jobs: Iterator = ((b, names.events, names.traces, period.start_ms, span)
                      for b in itertools.chain(range(-1, -days - 1, -1), itertools.count()))
    with ProcessPoolExecutor(2, mp_context=get_context("fork")) as makers, ThreadPoolExecutor(IN_FLIGHT) as senders:
        made = set()
        sending = set()
        for job in jobs:
            if loaded >= target or until and time.time() > until:
                break
            made.add(makers.submit(body, job))
            while len(made) + len(sending) >= 2 * IN_FLIGHT:
                done, _ = wait(made | sending, return_when=FIRST_COMPLETED)
                for f in done:
                    if f in made:
                        made.discard(f)
                        count, data = f.result()
                        sending.add(senders.submit(post, http, data))
                        loaded += count
                    else:
                        sending.discard(f)
                        f.result()
            if loaded - last_print >= 500_000:
                last_print = loaded
                s = time.perf_counter() - started
                print(f"  {loaded:,} events in {s:.0f} s ({loaded / s:,.0f}/s)", flush=True)
        for f in list(made):
            count, data = f.result()
            sending.add(senders.submit(post, http, data))
            loaded += count
        for f in sending:
            f.result()
    _put(http, f"/{prefix}-*/_settings", {"index": {"refresh_interval": "5s"}})
    http.request("POST", f"{ES}/{prefix}-*/_refresh")
    return loaded, time.perf_counter() - started


def _put(http: urllib3.PoolManager, path: str, doc: dict) -> None:
    resp = http.request("PUT", ES + path, body=orjson.dumps(doc),
                        headers={"Content-Type": "application/json"})
    if resp.status >= 300:
        raise SystemExit(f"PUT {path}: {resp.status} {resp.data[:500]!r}")


def _create_days(http: urllib3.PoolManager, base: str, start_ms: int, end_ms: int) -> None:
    """Every day's index, before the load: the templates' mappings, no replica, no refresh."""
    for day in range(start_ms // 86_400_000, -(-end_ms // 86_400_000)):
        _put(http, "/" + es_mappings.daily(base, day * 86_400_000),
             {"settings": {"number_of_replicas": 0, "refresh_interval": "-1"}})


def report(config: Path, fmt: str, out: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "midwatch", "report", "--period", PERIOD,
                           "--format", fmt, "--out", str(out), "-c", str(config)],
                          capture_output=True, text=True, timeout=1800)
    took = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"midwatch report --format {fmt}: exit {proc.returncode}\n"
                         f"{proc.stderr[-2000:]}")
    return took


def sections(html: str) -> tuple[list[str], list[str]]:
    """(every section's title, the titles of those that say why they are empty)."""
    titles, empty = [], []
    for part in re.split(r"(?=<h2)", html)[1:]:
        title = re.sub(r"<[^>]+>", "", part.split("</h2>", 1)[0]).strip()
        titles.append(title)
        if 'class="empty"' in part:
            empty.append(title)
    return titles, empty


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--until", metavar="HH:MM", help="stop loading at this UTC time today")
    ap.add_argument("--keep", metavar="PREFIX", help="keep and reuse the indices under PREFIX")
    args = ap.parse_args()
    until = None
    if args.until:
        h, m = map(int, args.until.split(":"))
        until = datetime.now(UTC).replace(hour=h, minute=m, second=0).timestamp()
    prefix = args.keep or f"mwbench-report-{os.getpid()}"
    store = ElasticsearchStore(ES, index_prefix=prefix)
    store.setup()
    store.close()
    es = Elasticsearch(ES, request_timeout=300)
    try:
        have = es.count(index=f"{prefix}-events*", allow_no_indices=True,
                        ignore_unavailable=True)["count"]
        if not have:
            n, s = load(prefix, args.events, until)
            print(f"loaded {n:,} events in {s:.0f} s ({n / s:,.0f} events/s)", flush=True)
        have = es.count(index=f"{prefix}-events*")["count"]
        traces = es.count(index=f"{prefix}-traces")["count"]
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "midwatch.yaml"
            config.write_text(json.dumps({
                "store": {"kind": "elasticsearch", "elasticsearch": {"url": ES,
                                                                     "index_prefix": prefix}},
                "slos": [{"name": f"{flow}-sla", "flow": flow, "objective": 99.5}
                         for flow in FLOWS]}))
            times = {}
            for fmt in ("html", "pdf"):
                es.indices.clear_cache(index=f"{prefix}-*", request=True, query=True)
                times[fmt] = (report(config, fmt, Path(tmp) / f"cold.{fmt}"),
                              report(config, fmt, Path(tmp) / f"warm.{fmt}"))
            titles, empty = sections((Path(tmp) / "warm.html").read_text())
            pdf_kb = (Path(tmp) / "warm.pdf").stat().st_size // 1024
        print(f"report {PERIOD} over {have:,} events and {traces:,} traces "
              f"(load average {os.getloadavg()[0]:.1f}):")
        for fmt, (cold, warm) in times.items():
            print(f"  midwatch report --format {fmt}: {cold:.1f} s cold, {warm:.1f} s warm")
        print(f"  sections: {len(titles)}, with content: {len(titles) - len(empty)}; saying why "
              f"empty: {', '.join(empty) or 'none'}; PDF {pdf_kb} KiB")
        heap = es.nodes.stats(metric="jvm")["nodes"]
        for node in heap.values():
            mem = node["jvm"]["mem"]
            print(f"  Elasticsearch heap: {mem['heap_used_in_bytes'] / 2**20:,.0f} MiB used of "
                  f"{mem['heap_max_in_bytes'] / 2**20:,.0f} MiB")
        size = es.indices.stats(index=f"{prefix}-*", metric="store")["_all"]["total"]["store"]
        print(f"  disk of {prefix}-*: {size['size_in_bytes'] / 2**30:.2f} GiB")
    finally:
        if not args.keep:
            cleanup(es, prefix)
        es.close()


if __name__ == "__main__":
    main()
