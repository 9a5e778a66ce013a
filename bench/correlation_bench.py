"""Correlation speed and memory.

Run: ``.venv/bin/python bench/correlation_bench.py [--only classify,memory,spill]
[--messages 1000000] [--cap 100000] [--spill-messages 200000]`` (``--only`` also takes
``memory-unwritten``)

1. classify: ``Catalog.classify`` over a realistic mix from the example catalog (events/s;
   target > 100k/s).
2. memory: ``--messages`` in-flight messages (two linked IDs, one hop each, none complete)
   held in memory at once (``max_in_flight`` = all of them) in the pipeline's order, as
   ``midwatch run`` holds them: ``process`` and ``flush`` per batch, the traces written to
   SQLite (the events are not: they are not correlation state). Peak RSS of the process and
   bytes per message, and events/s through ``process`` + ``flush``. Target (issue 25): 1M
   messages under 500 MB. ``memory-unwritten``: the same through ``process`` alone, never
   flushed, so every trace stays dirty and held as objects (the measure before traces were
   packed; a state the pipeline never holds for more than one batch).
3. spill: the same kind of load through the pipeline's order (process, write events, flush)
   into SQLite with ``max_in_flight=--cap``: RSS must stay flat once the cap is reached;
   events/s including the store writes.

Each part runs in a fresh process so one part's peak RSS does not hide another's.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event, event_id
from collector.gcsettings import collect_less
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import load

CATALOG_FILE = Path(__file__).resolve().parents[1] / "deploy" / "flows.example.yaml"
T0 = 1_709_546_400_000
BATCH = 5_000


def rss_mb() -> float:
    """Peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mixed_events(n: int) -> list[Event]:
    kinds = [
        ("apigw", {"url_path": "/api/orders"}, None, "success"),
        ("mulesoft", {"processor": "order-sync/processors/0"}, "order-sync-v2", "success"),
        ("kafka", {"kafka_topic": "orders.v1"}, None, "success"),
        ("boomi", {}, "Orders to ERP", "failure"),
        ("generic", {}, "sap-bridge", "success"),
        ("edi", {"x12_transaction_set": "850"}, None, "success"),
        ("rabbitmq", {}, "billing", "success"),
    ]
    out = []
    for i in range(n):
        platform, labels, service, outcome = kinds[i % len(kinds)]
        out.append(Event(T0 + i, f"{platform}.log", platform, message=f"message {i}",
                         labels=labels, service=service, outcome=outcome,
                         action="sent" if platform == "edi" else "delivered",
                         error_class="mapping" if outcome == "failure" else None))
    return out


def in_flight_events(n: int, start: int = 0) -> Iterator[list[Event]]:
    """Batches of one Mule event per message carrying its correlation and order IDs."""
    for base in range(start, start + n, BATCH):
        batch = []
        for i in range(base, min(base + BATCH, start + n)):
            ev = Event(T0 + i, "mulesoft.runtime", "mulesoft", message="order received",
                       service="order-sync-v2", outcome="success", action="received",
                       id=event_id("bench", str(i)))
            ev.add_id("correlation", f"{i:032x}")
            ev.add_id("order", 1_000_000 + i)
            batch.append(ev)
        yield batch


def part_classify(args: argparse.Namespace) -> None:
    catalog = build_catalog(load(CATALOG_FILE))
    events = mixed_events(70_000)
    started = time.perf_counter()
    rounds = 5
    for _ in range(rounds):
        for ev in events:
            catalog.classify(ev)
    rate = rounds * len(events) / (time.perf_counter() - started)
    print(f"classify: {rate:,.0f} events/s over {len(events):,} mixed events x {rounds}")


def part_memory(args: argparse.Namespace, *, written: bool = True) -> None:
    catalog = build_catalog(load(CATALOG_FILE))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "memory.sqlite")
        store.setup()
        base = rss_mb()
        correlator = Correlator(catalog, store, max_in_flight=args.messages)
        busy = 0.0
        for batch in in_flight_events(args.messages):
            started = time.perf_counter()
            correlator.process(batch)
            if written:
                correlator.flush()
            busy += time.perf_counter() - started
        peak = rss_mb()
        stats = correlator.stats()
        held = stats["in_flight"]
        assert stats["evicted"] == stats["expired"] == stats["merges"] == 0, stats
        name, steps = ("memory", "process + flush") if written else (
            "memory-unwritten", "process")
        print(f"{name}: {held:,} in-flight messages held, peak RSS {peak:,.0f} MB "
              f"({peak - base:,.0f} MB above start, {(peak - base) * 2**20 / held:,.0f} B per "
              f"message); {steps} {args.messages / busy:,.0f} events/s")


def part_spill(args: argparse.Namespace) -> None:
    catalog = build_catalog(load(CATALOG_FILE))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "spill.sqlite")
        store.setup()
        correlator = Correlator(catalog, store, max_in_flight=args.cap)
        started = time.perf_counter()
        marks = []
        done = 0
        for batch in in_flight_events(args.spill_messages):
            correlator.process(batch)
            store.write_events(batch)
            correlator.flush()
            done += len(batch)
            if done % (args.spill_messages // 4) == 0:
                marks.append(f"{done:,}: {rss_mb():,.0f} MB")
        elapsed = time.perf_counter() - started
        # messages come back after being spilled: found in the store by ID
        back = next(in_flight_events(BATCH, start=0))
        for ev in back:
            ev.id = event_id("bench-late", ev.id)
        correlator.process(back)
        correlator.flush()
        stats = correlator.stats()
        store.refresh()
        rejoined = store.get_trace("correlation:" + f"{0:032x}")
        print(f"spill: {args.spill_messages:,} messages with max_in_flight={args.cap:,} into "
              f"SQLite: {args.spill_messages / elapsed:,.0f} events/s (process + write events "
              f"+ flush); peak RSS by messages done: {'; '.join(marks)}; in memory "
              f"{stats['in_flight']:,}, evicted {stats['evicted']:,}; a spilled message "
              f"rejoined its trace: {rejoined is not None and rejoined.hop_count == 2}")


PARTS = {"classify": part_classify, "memory": part_memory,
         "memory-unwritten": lambda args: part_memory(args, written=False),
         "spill": part_spill}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="classify,memory,spill")
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--cap", type=int, default=100_000)
    p.add_argument("--spill-messages", type=int, default=200_000)
    p.add_argument("--part", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.part:
        collect_less()  # as in ``midwatch run`` (collector.service.service)
        PARTS[args.part](args)
        return
    sizes = ["--messages", str(args.messages), "--cap", str(args.cap),
             "--spill-messages", str(args.spill_messages)]
    for name in args.only.split(","):
        subprocess.run([sys.executable, __file__, "--part", name, *sizes], check=True)


if __name__ == "__main__":
    main()
