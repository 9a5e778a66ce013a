"""Parse + normalize throughput on one core: Mule runtime lines, JSON lines, X12 sets.

Run: ``.venv/bin/python bench/parse_bench.py [--lines 200000] [--profile]``.
Inputs are generated (deterministic seed) in memory and run through the same path as
``midwatch parse``: ``collector.parse.parse_stream`` over bytes (decode, framing, parser,
normalization, event IDs), without serializing output. Targets: 50,000 events/s for Mule
and JSON, 20,000/s for X12 transaction sets.
"""

from __future__ import annotations

import argparse
import io
import random
import time
import uuid

from collector.event import DeadLetter
from collector.parse import ParseStats, parse_stream
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext

TARGETS = {"mule": 50_000, "json": 50_000, "x12": 20_000}

_STACK = (
    "java.net.ConnectException: Connection refused (Connection refused)\n"
    "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
    "\tat java.base/sun.nio.ch.Net.connect(Net.java:579)\n"
    "\tat org.mule.service.http.impl.service.client.GrizzlyHttpClient.send(GrizzlyHttpClient.java:312)\n"
    "\tat org.mule.extension.http.internal.request.HttpRequester.doRequest(HttpRequester.java:190)\n"
    "\t... 42 more"
)
_ERROR_BLOCK = (
    "\n********************************************************************************\n"
    "Message               : HTTP POST on resource 'http://sap-gw.corp.internal:8080/orders' "
    "failed: Connection refused.\n"
    "Element               : order-main/processors/2 @ order-api:order-api.xml:25 (Request)\n"
    "Error type            : HTTP:CONNECTIVITY\n"
    "********************************************************************************"
)


def mule_events(n: int, rng: random.Random) -> tuple[bytes, int]:
    """n events, ~10% errors (half Mule error blocks, half Java stack traces)."""
    out = []
    for i in range(n):
        corr = uuid.UUID(int=rng.getrandbits(128))
        ts = f"2024-03-01 10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d},{i % 1000:03d}"
        thread = f"[MuleRuntime].uber.{i % 16:02d}: [order-api].order-main.CPU_LITE @{i:08x}"
        head = f"[{thread}] [processor: order-main/processors/{i % 7}; event: {corr}]"
        roll = rng.random()
        if roll < 0.05:
            out.append(f"ERROR {ts} {head} org.mule.runtime.core.internal.exception."
                       f"OnErrorPropagateHandler: {_ERROR_BLOCK}")
        elif roll < 0.10:
            out.append(f"ERROR {ts} {head} org.mule.runtime.core.internal.processor."
                       f"LoggerMessageProcessor: Order {i} failed\n{_STACK}")
        else:
            out.append(f"INFO  {ts} {head} org.mule.runtime.core.internal.processor."
                       f"LoggerMessageProcessor: Received order {i} from partner ACME in {roll:.3f}s")
    return ("\n".join(out) + "\n").encode(), n


def json_events(n: int, rng: random.Random) -> tuple[bytes, int]:
    out = []
    for i in range(n):
        level = "ERROR" if rng.random() < 0.1 else "INFO"
        msg = "SAP call failed: connection reset by peer" if level == "ERROR" else f"order {i} ok"
        out.append(
            f'{{"@timestamp":"2024-03-01T10:15:{i % 60:02d}.{i % 1000:03d}Z","level":"{level}",'
            f'"message":"{msg}","service":"order-gateway","correlationId":"'
            f'{uuid.UUID(int=rng.getrandbits(128))}","orderId":"{4000 + i}","region":"eu"}}')
    return ("\n".join(out) + "\n").encode(), n


def x12_sets(n: int, rng: random.Random) -> tuple[bytes, int]:
    """Interchanges of 10 850 purchase orders each, one segment per line."""
    out = []
    per = 10
    for icn in range(1, n // per + 1):
        segs = [f"ISA*00*          *00*          *ZZ*ACME           *ZZ*PARTNER        "
                f"*240301*1015*U*00401*{icn:09d}*0*P*>~", f"GS*PO*ACME*PARTNER*20240301*1015*{icn}*X*004010~"]
        for st in range(1, per + 1):
            body = [f"ST*850*{st:04d}~", f"BEG*00*SA*PO{icn}{st:04d}**20240301~",
                    f"PO1*1*{rng.randint(1, 99)}*EA*9.99**VP*SKU{st}~", "CTT*1~"]
            segs += body + [f"SE*{len(body) + 1}*{st:04d}~"]
        segs += [f"GE*{per}*{icn}~", f"IEA*1*{icn:09d}~"]
        out.extend(segs)
    return ("\n".join(out) + "\n").encode(), (n // per) * per


def run(fmt: str, data: bytes) -> tuple[float, float, ParseStats, int]:
    """(CPU seconds, wall seconds, stats, dead letters). CPU time is what "one core" means on
    a shared machine; wall time is shown beside it."""
    ctx = ParseContext(now_ms=int(time.time() * 1000))
    stats = ParseStats()
    cpu, wall = time.process_time(), time.perf_counter()
    dead = sum(1 for item in parse_stream(io.BytesIO(data), "bench", fmt, ctx, stats)
               if isinstance(item, DeadLetter))
    return time.process_time() - cpu, time.perf_counter() - wall, stats, dead


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--lines", type=int, default=200_000, help="events per format")
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of each run")
    args = ap.parse_args()
    rng = random.Random(42)
    generators = {"mule": mule_events, "json": json_events}
    try:
        PARSERS.get("x12")
        generators["x12"] = x12_sets
    except ModuleNotFoundError:
        print("x12: parser not present, skipped")
    for fmt, gen in generators.items():
        data, expected = gen(args.lines, rng)
        if args.profile:
            from pyinstrument import Profiler

            with Profiler() as profiler:
                run(fmt, data)
            profiler.print(show_all=False)
        cpu, wall, stats, dead = run(fmt, data)
        rate = stats.events / cpu
        verdict = "ok" if rate >= TARGETS[fmt] else "BELOW TARGET"
        print(f"{fmt:5s} {stats.events:>8,} events ({expected:,} expected, {dead} dead letters) "
              f"cpu {cpu:5.2f}s wall {wall:5.2f}s = {rate:>7,.0f} events/s per core "
              f"(target {TARGETS[fmt]:,}: {verdict})")


if __name__ == "__main__":
    main()
