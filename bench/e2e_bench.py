"""End-to-end file -> Elasticsearch events/s, next to its ceiling in the same run.

Run: ``.venv/bin/python bench/e2e_bench.py [--lines 200000] [--events-only] [--profile] [--timeline]`` with
Elasticsearch at MIDWATCH_ES_URL (default http://127.0.0.1:9200).

1. Generated logs of three platforms, one file each (Mule runtime, JSON lines, NGINX access
   logs with request IDs), read through the real collector service as ``midwatch run`` runs
   it: file input with auto-detection, parse worker, correlator, writer,
   ``ElasticsearchStore``; timed from start until the store has acknowledged every event.
   The service writes the events and one trace document per message (ids, hops).
2. The ceiling, as the issue defines it: raw ``helpers.bulk`` of the same documents, prepared
   before the clock starts, into the same Elasticsearch: the events, and each trace document
   the service left in the store written once (no look-ups, no rewrites, no version checks).
   Printed next to it, and not the target: the events alone (chunk 500 and 2000), which is the
   rate of a collector that stores events and does not correlate.

Target: (1)/(2) >= 0.8: midwatch must not be the bottleneck of its own store. Also printed:
the collector's CPU time per event (all its threads and its parse worker), steadier than
rates on a shared machine, and Elasticsearch's. ``--events-only`` runs the service without
the correlator (its ceiling is then the events alone); ``--in-process`` measures
``parse_worker: false``; ``--profile`` wraps (1) in pyinstrument and prints where time goes
(the collector's process only); ``--timeline`` prints the wall time of each stage
(``stage_timeline``): which one the others wait for, and what Elasticsearch's write threads
did meanwhile (``es_write_stats``).

Elasticsearch is warmed up first (its JIT and index creation), since (1) runs before the
ceilings and a cold store would otherwise count against midwatch.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import threading
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

from ceiling import cleanup, es_cpu_s, proc_cpu_s, proc_stat, raw_bulk
from elasticsearch import Elasticsearch, helpers
from es_write_stats import report as es_report
from es_write_stats import sampled
from stage_timeline import report, stage_timeline

from collector.config import config_from_doc
from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.service.service import Service, build_correlator
from collector.store import es_mappings
from collector.yamlconf import loads

MULE = ("{level:<5} 2024-03-01 10:{m:02d}:{s:02d},{ms:03d} [[MuleRuntime].uber.0{t}: "
        "[order-api].order-main.CPU_LITE @5a1b2c3d] [processor: order-main/processors/{p}; "
        "event: {corr}] org.mule.runtime.core.internal.processor.LoggerMessageProcessor: "
        "{msg}\n")
JSON = ('{{"@timestamp":"2024-03-01T10:{m:02d}:{s:02d}.{ms:03d}Z","level":"{level}",'
        '"message":"{msg}","service":"order-gateway","correlationId":"{corr}",'
        '"orderId":"{order}"}}\n')
NGINX = ('10.20.1.{host} - - [01/Mar/2024:10:{m:02d}:{s:02d} +0000] "POST /api/v1/orders '
         'HTTP/1.1" {status} 118 "-" "axios/1.6.7" 0.046 0.044 "{rid}" "{corr}"\n')


def generate(logs: Path, lines: int, hops: int, seed: int = 11) -> None:
    """One file per platform (as each writes its own log), ``lines`` in all. Each message
    crosses the platforms in turn (Mule, the order gateway, NGINX) and logs ``hops`` lines
    under one correlation ID; ``hops=1`` makes every line a message of its own, the worst
    case for correlation (one trace document per event)."""
    rng = random.Random(seed)
    files = [(logs / name).open("w") for name in ("mule.log", "gateway.jsonl", "nginx.log")]
    corr = ""
    try:
        for i in range(lines):
            order = 4000 + i // 3
            if i % hops == 0:
                corr = str(uuid.UUID(int=rng.getrandbits(128)))
            failed = rng.random() < 0.05
            m, s, ms = (i // 60_000) % 60, (i // 1000) % 60, i % 1000
            kind = i % 3
            if kind == 0:
                files[0].write(MULE.format(
                    level="ERROR" if failed else "INFO", m=m, s=s, ms=ms, t=i % 8, p=i % 4,
                    corr=corr, msg=(f"HTTP POST on resource 'http://sap:8080/orders' failed: "
                                    f"Connection refused (order {order})" if failed
                                    else f"Received order {order} from partner ACME")))
            elif kind == 1:
                files[1].write(JSON.format(m=m, s=s, ms=ms, level="ERROR" if failed else "INFO",
                                           msg="order rejected" if failed else "order accepted",
                                           corr=corr, order=order))
            else:
                files[2].write(NGINX.format(host=i % 250, m=m, s=s, status=502 if failed else 202,
                                            rid=uuid.UUID(int=rng.getrandbits(128)).hex,
                                            corr=corr))
    finally:
        for fh in files:
            fh.close()




def end_to_end(url: str, logs: Path, workdir: Path, expected: int,
               profile: bool, correlate: bool, parse_worker: bool, es_stats: bool = False,
               ) -> tuple[float, float, float | None, list[dict]]:
    """Events/s, collector and Elasticsearch CPU µs/event of the real service, and the trace
    documents it left in the store (the rest of "the same documents" the ceiling writes).
    ``es_stats`` prints what Elasticsearch did meanwhile (``es_write_stats``)."""
    prefix = f"mwbench-e2e-{uuid.uuid4().hex[:6]}"
    text = f"""
store:
  kind: elasticsearch
  elasticsearch: {{url: "{url}", index_prefix: {prefix}}}
collector:
  checkpoint_dir: {workdir / "checkpoints"}
inputs:
  - {{type: file, name: bench, paths: ["{logs}/*"], parse_worker: {str(parse_worker).lower()}}}
"""
    config = config_from_doc(loads(text, "e2e-bench.yaml"))
    store = config.open_store()
    store.setup()
    correlator = build_correlator(config, store) if correlate else None
    service = Service(config, store, with_api=False, progress_tty=False, correlator=correlator)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    with sampled(url, f"{prefix}-*") if es_stats else nullcontext() as write_stats:
        started, cpu_before, es_before = time.perf_counter(), _cpu_s(), es_cpu_s()
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        while service.pipeline.indexed.total() < expected:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        # Read before the sampler's last index stats, which would count as the run's CPU.
        cpu_us = (_cpu_s() - cpu_before) / expected * 1e6
        es_us = _per_event_us(es_before, es_cpu_s(), expected)
    if write_stats is not None:
        print(es_report(write_stats, elapsed))
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    service.stop()
    thread.join(timeout=60)
    store.close()
    es = Elasticsearch(url, request_timeout=120)
    try:
        es.indices.refresh(index=f"{prefix}-*")
        hits = list(helpers.scan(es, index=es_mappings.index_names(prefix).traces, size=5_000,
                                 version=True))
        traces = [hit["_source"] for hit in hits]
        cleanup(es, prefix)
    finally:
        es.close()
    if hits:  # each write of a trace document bumps its _version
        print(f"trace writes per trace: {sum(h['_version'] for h in hits) / len(hits):.2f}")
    return expected / elapsed, cpu_us, es_us, traces


WARM_UP = 50_000  # events bulk-indexed (and deleted) before anything is timed


def _per_event_us(before: float | None, after: float | None, events: int) -> float | None:
    return None if before is None or after is None else (after - before) / events * 1e6


def _timed_raw(es: Elasticsearch, events: list[Event], chunk: int,
               traces: list[dict] | None = None) -> tuple[float, float | None]:
    """The ceiling's events/s and Elasticsearch CPU µs/event."""
    before = es_cpu_s()
    rate = raw_bulk(es, events, chunk, traces or ())
    return rate, _per_event_us(before, es_cpu_s(), len(events))


def _cpu_s() -> float:
    """CPU seconds of the collector: this process (every thread: reading, writer, bulk
    sender) and its live children (the parse workers). Steadier than events/s on a shared
    machine, and what leaves CPU to Elasticsearch. Workers are measured before they exit."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = proc_stat(stat.parent.name)
        except OSError:
            continue
        if fields[1] == me:
            total += proc_cpu_s(stat.parent.name, fields)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--profile", action="store_true", help="profile the end-to-end run")
    ap.add_argument("--events-only", action="store_true",
                    help="run the service without the correlator (midwatch run correlates)")
    ap.add_argument("--in-process", action="store_true",
                    help="parse in the collector's process (file input parse_worker: false)")
    ap.add_argument("--hops", type=int, default=3,
                    help="lines per message (1: every line its own message and trace)")
    ap.add_argument("--timeline", action="store_true",
                    help="print the wall time of each stage of the end-to-end run")
    args = ap.parse_args()
    url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    with tempfile.TemporaryDirectory(prefix="mw-e2e-") as tmp:
        workdir = Path(tmp)
        logs = workdir / "logs"
        logs.mkdir()
        generate(logs, args.lines, args.hops)
        events: list[Event] = []
        for path in sorted(logs.iterdir()):
            with path.open("rb") as fh:
                events.extend(x for x in parse_stream(fh, str(path), "auto", ParseContext())
                              if isinstance(x, Event))
        size = sum(p.stat().st_size for p in logs.iterdir())
        print(f"{args.lines:,} lines in 3 files, {size / 1e6:.1f} MB, {len(events):,} events")
        es = Elasticsearch(url, request_timeout=120)
        try:
            raw_bulk(es, events[:WARM_UP], 2_000)
            with stage_timeline() if args.timeline else nullcontext() as stages:
                e2e, cpu_us, es_us, traces = end_to_end(url, logs, workdir, len(events),
                                                        args.profile, not args.events_only,
                                                        not args.in_process,
                                                        es_stats=args.timeline)
            if stages is not None:
                print(report(stages, len(events) / e2e))
            alone = {chunk: _timed_raw(es, events, chunk) for chunk in (500, 2_000)}
            same = _timed_raw(es, events, 2_000, traces) if traces else max(alone.values())
        finally:
            es.close()
    what = "events only" if args.events_only else f"with correlation, {args.hops} lines/message"
    written = f"{len(events):,} events + {len(traces):,} trace documents"
    print(f"end-to-end file -> ES ({what}): {e2e:,.0f} events/s")
    print(f"ceiling, helpers.bulk of the same documents ({written}) once: {same[0]:,.0f} "
          f"events/s; ratio {e2e / same[0]:.2f} (target >= 0.8)")
    if traces:
        best = max(rate for rate, _ in alone.values())
        print(f"helpers.bulk of the events alone (no traces; not the target): chunk 500 "
              f"{alone[500][0]:,.0f}/s, chunk 2000 {alone[2_000][0]:,.0f}/s; ratio "
              f"{e2e / best:.2f}")
    print(f"CPU per event: collector {cpu_us:.1f} us, Elasticsearch {_us(es_us)} "
          f"(ceiling's Elasticsearch {_us(same[1])})")


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} us"


if __name__ == "__main__":
    main()
