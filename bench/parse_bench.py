"""Parse + normalize throughput on one core: Mule runtime lines, JSON lines, NGINX access
lines, X12 sets.

Run: ``.venv/bin/python bench/parse_bench.py [--lines 200000] [--profile] [--against REV]``.
Inputs are generated (deterministic seed) in memory and run through the same path as
``midwatch parse``: ``collector.parse.parse_stream`` over bytes (decode, framing, parser,
normalization, event IDs), without serializing output. Each text format is run twice: with
its format named, and with ``auto`` (what a file input without ``format`` does, so the rate
the service's parse worker sees). Targets (issue 25): 100,000 events/s per core for Mule,
JSON and NGINX, 20,000/s for X12 transaction sets.

Each case runs with the native fast path (``collector.native``, built from native/ by
``make venv``) and with the pure-Python path, one after the other, and prints their ratio;
``--native`` / ``--no-native`` runs only one of them.

The rate is events per CPU second of this process (what "one core" means on a shared
machine); wall time is shown beside it. ``--against REV`` measures the tree at git revision
REV and this tree alternately, ``--repeat`` times, each run in a fresh subprocess on the
same generated input, and prints the median of each and their ratio: on a loaded machine
only figures from one interleaved run compare.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

from collector import native
from collector.event import DeadLetter
from collector.parse import ParseStats, available_parsers, parse_stream
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext

TARGETS = {"mule": 100_000, "json": 100_000, "apigw": 100_000, "x12": 20_000}

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


def nginx_events(n: int, rng: random.Random) -> tuple[bytes, int]:
    """NGINX ``combined`` plus request times, ``$request_id`` and a correlation header, as
    bench/e2e_bench.py writes them; ~5% 502s."""
    out = []
    for i in range(n):
        status = 502 if rng.random() < 0.05 else 202
        out.append(
            f'10.20.1.{i % 250} - - [01/Mar/2024:10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}'
            f' +0000] "POST /api/v1/orders/{4000 + i} HTTP/1.1" {status} {100 + i % 900} "-" '
            f'"axios/1.6.7" 0.0{i % 90 + 10} 0.0{i % 80 + 10} '
            f'"{uuid.UUID(int=rng.getrandbits(128)).hex}" "{uuid.UUID(int=rng.getrandbits(128))}"')
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


GENERATORS = {"mule": mule_events, "json": json_events, "apigw": nginx_events, "x12": x12_sets}
# (label, generator, format given to parse_stream)
CASES = [(f"{fmt}/{how}", fmt, how if how == "auto" else fmt)
         for fmt in ("mule", "json", "apigw") for how in ("named", "auto")] + [("x12", "x12", "x12")]


def inputs(lines: int) -> dict[str, tuple[bytes, int]]:
    """The generated input of each format; one seed per format, so a subset of formats
    sees the same lines as the whole set."""
    return {fmt: gen(lines, random.Random(f"{fmt}-42")) for fmt, gen in GENERATORS.items()}


def run(fmt: str, data: bytes, fast: bool = True) -> tuple[float, float, ParseStats, int]:
    """(CPU seconds, wall seconds, stats, dead letters). Every item is taken from the
    generator (nothing is skipped), only its serialization is left out. ``fast`` False: the
    pure-Python reference path alone (``collector.native`` off)."""
    native.use(fast)
    # Every format's module imported (and its patterns compiled) before the clock starts,
    # as in a parse worker that runs for hours: the first auto-detection of a process
    # imports them all, 0.1 s that cost a 30,000-line auto case 3 us an event.
    available_parsers()
    ctx = ParseContext(now_ms=int(time.time() * 1000))
    stats = ParseStats()
    cpu, wall = time.process_time(), time.perf_counter()
    dead = sum(1 for item in parse_stream(io.BytesIO(data), "bench", fmt, ctx, stats)
               if isinstance(item, DeadLetter))
    return time.process_time() - cpu, time.perf_counter() - wall, stats, dead


def measure(lines: int, only: list[str] | None, profile: bool,
            paths: tuple[bool, ...] = (True,)) -> dict[str, float]:
    """Events/s per CPU second of each case (printed as it goes), through each of ``paths``
    (True: with the native fast path where it applies, False: the pure-Python path), one
    after the other per case; a label of the Python path ends in ``/py``."""
    data = inputs(lines)
    rates = {}
    for label, gen_name, fmt in CASES:
        if only and label not in only:
            continue
        if gen_name == "x12" and "x12" not in PARSERS.names():
            print("x12: parser not present, skipped")
            continue
        text, expected = data[gen_name]
        for fast in paths:
            name = label if fast else f"{label}/py"
            if profile:
                from pyinstrument import Profiler

                with Profiler() as profiler:
                    run(fmt, text, fast)
                profiler.print(show_all=False)
            cpu, wall, stats, dead = run(fmt, text, fast)
            rate = rates[name] = stats.events / cpu
            target = TARGETS[gen_name]
            verdict = "ok" if rate >= target else "BELOW TARGET"
            if stats.events != expected or dead:
                verdict = "WRONG OUTPUT"
            print(f"{name:15s} {stats.events:>8,} events ({expected:,} expected, {dead} dead "
                  f"letters) cpu {cpu:5.2f}s wall {wall:5.2f}s = {rate:>7,.0f} events/s per core "
                  f"(target {target:,}: {verdict})", flush=True)
        if len(paths) == 2:
            print(f"{label:15s} native/python: {rates[label] / rates[f'{label}/py']:.2f}x "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return rates


def _extract(root: Path, rev: str, into: str) -> str:
    archive = subprocess.run(["git", "-C", str(root), "archive", rev],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def against(rev: str, lines: int, repeat: int, only: list[str] | None,
            this: str | None = None) -> None:
    """Revision ``rev`` and this tree (or revision ``this``: a tree that does not change
    while the bench runs) alternately, each run a fresh process."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as tmp:
        trees = {rev: _extract(root, rev, f"{tmp}/old")}
        trees[this or "this tree"] = _extract(root, this, f"{tmp}/new") if this else str(root)
        rates: dict[str, dict[str, list[float]]] = {name: {} for name in trees}
        for i in range(repeat):
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": tree}
                cmd = [sys.executable, __file__, "--lines", str(lines), "--json"]
                cmd += [a for label in only or () for a in ("--case", label)]
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True,
                                     cwd=tree).stdout
                for label, rate in json.loads(out.splitlines()[-1]).items():
                    rates[name].setdefault(label, []).append(rate)
            print(f"repetition {i + 1}/{repeat} done (load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
    print(f"median of {repeat} interleaved runs, events/s per CPU second:")
    name = this or "this tree"
    print(f"{'case':12s} {rev:>12s} {name:>12s}  ratio")
    for label in rates[name]:
        old = statistics.median(rates[rev].get(label, [0.0]))
        new = statistics.median(rates[name][label])
        print(f"{label:12s} {old:>12,.0f} {new:>12,.0f}  {new / old if old else 0:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--lines", type=int, default=200_000, help="events per format")
    ap.add_argument("--profile", action="store_true", help="pyinstrument profile of each run")
    ap.add_argument("--case", action="append", help="only this case (e.g. apigw/auto); repeatable")
    ap.add_argument("--against", metavar="REV", help="compare with git revision REV, interleaved")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions with --against")
    ap.add_argument("--this", metavar="REV", help="with --against: revision REV in place of "
                    "the working tree")
    ap.add_argument("--native", action=argparse.BooleanOptionalAction, default=None,
                    help="only with (--native) or only without (--no-native) the native fast "
                    "path; default: both, one after the other per case, and their ratio")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # for --against
    args = ap.parse_args()
    if args.against:
        against(args.against, args.lines, args.repeat, args.case, args.this)
        return
    paths = (True, False) if args.native is None else (args.native,)
    if True in paths and not native.available():
        print("native fast path: not built (make venv builds native/); Python path only")
        paths = (False,)
    rates = measure(args.lines, args.case, args.profile, paths)
    if args.json:
        print(json.dumps(rates))


if __name__ == "__main__":
    main()
