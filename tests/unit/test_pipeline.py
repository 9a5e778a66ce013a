"""The writer: acks only after the store took a batch; retries without acking; metrics."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from collector.config import Batch
from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.event import DeadLetter, Event
from collector.inputs.base import Chunk, ChunkQueue
from collector.metrics import Registry
from collector.service.pipeline import Pipeline
from collector.store.base import StoreError
from collector.store.sqlite import SQLiteStore


class FlakyStore(SQLiteStore):
    """A real SQLite store whose first ``failures`` event writes fail like an outage."""

    def __init__(self, path, failures: int):
        super().__init__(path)
        self.failures = failures

    def write_events(self, events):
        if self.failures:
            self.failures -= 1
            raise StoreError("connection refused (simulated outage)")
        return super().write_events(events)


class Recorder:
    """An input that only records commits."""

    name = "rec"

    def __init__(self):
        self.commits = 0

    def commit(self) -> None:
        self.commits += 1


def event(n: int) -> Event:
    return Event(timestamp_ms=1_700_000_000_000 + n, dataset="generic.json", platform="generic",
                 message=f"m{n}", id=f"id-{n}", ingested_ms=1_700_000_000_000)


@pytest.fixture
def store(tmp_sqlite_path):
    s = FlakyStore(tmp_sqlite_path, failures=0)
    s.setup()
    yield s
    s.close()


QUICK = Batch(flush_interval_ms=20)


def run_once(store, chunks: list[Chunk], batch: Batch = QUICK):
    q = ChunkQueue(8)
    for c in chunks:
        assert q.offer(c, 0)
    rec = Recorder()
    metrics = Registry()
    pipeline = Pipeline(store, q, [rec], batch, metrics, shutdown_grace_s=0.2,
                        backoff_start_s=0.01)
    ok = pipeline.run(threading.Event(), lambda: True)
    return ok, rec, metrics, pipeline


def test_events_and_deadletters_are_stored_then_acked_in_order(store):
    order: list[str] = []

    def ack(name):
        def fn():
            store.refresh()
            order.append(f"{name}:{len(store.search_events([], 0, 2**62, limit=100))}")
        return fn

    chunks = [Chunk("rec", [event(1), event(2)], 2, 100, ack=ack("a")),
              Chunk("rec", [DeadLetter("parse_error: x", "f.log", 3, "raw"), event(3)], 2, 50,
                    ack=ack("b"))]
    ok, rec, metrics, p = run_once(store, chunks)
    assert ok and order == ["a:3", "b:3"], "acks run after the whole batch is stored"
    assert rec.commits == 1
    assert p.indexed.total() == 3 and p.dead.value("parse_error") == 1
    assert p.read.value("rec") == 4 and p.parsed.value("rec") == 3
    text = metrics.expose()
    assert 'midwatch_deadletters_total{reason="parse_error"} 1' in text
    assert "midwatch_bulk_seconds_count 1" in text


def test_store_outage_is_retried_and_nothing_acked_until_it_works(store):
    store.failures = 2
    acked = []
    ok, _, _, p = run_once(store, [Chunk("rec", [event(1)], 1, 10, ack=lambda: acked.append(1))])
    assert ok and acked == [1]
    assert p.store_errors.value("events") == 2 and p.indexed.total() == 1


def test_stop_during_outage_gives_up_without_acking(store):
    store.failures = 10_000
    acked = []
    q = ChunkQueue(2)
    q.offer(Chunk("rec", [event(1)], 1, 10, ack=lambda: acked.append(1)), 0)
    stop = threading.Event()
    stop.set()
    pipeline = Pipeline(store, q, [Recorder()], Batch(flush_interval_ms=20), Registry(),
                        shutdown_grace_s=0.2, backoff_start_s=0.01)
    assert pipeline.run(stop, lambda: True) is False
    assert acked == []


def test_batches_are_cut_at_max_events(store):
    chunks = [Chunk("rec", [event(i)], 1, 10) for i in range(5)]
    _, rec, _, p = run_once(store, chunks, Batch(max_events=2, flush_interval_ms=20))
    assert rec.commits == 3 and p.bulk.count() == 3 and p.indexed.total() == 5


def test_an_undersized_batch_goes_once_the_queue_stays_empty_for_the_linger(store):
    """Chunks arriving in quick succession share a batch; a gap longer than the linger sends
    what is there without waiting out the flush interval (the inputs have caught up)."""
    q = ChunkQueue(8)
    pipeline = Pipeline(store, q, [Recorder()],
                        Batch(max_events=100, flush_interval_ms=30_000, linger_ms=300),
                        Registry())

    def later():
        q.offer(Chunk("rec", [event(2)], 1, 10), 0)
        threading.Event().wait(1.0)
        q.offer(Chunk("rec", [event(3)], 1, 10), 0)

    q.offer(Chunk("rec", [event(1)], 1, 10), 0)
    feeder = threading.Thread(target=later)
    feeder.start()
    started = time.monotonic()
    first = pipeline._collect(False)
    took = time.monotonic() - started
    second = pipeline._collect(False)
    feeder.join()
    assert first is not None and [e.id for e in first.events] == ["id-1", "id-2"]
    assert took < 1.0, "sent after the linger, not at the 30 s flush interval"
    assert second is not None and [e.id for e in second.events] == ["id-3"]


def test_rejected_events_become_store_deadletters(store, monkeypatch):
    from collector.store.base import WriteResult

    def reject_all(events):
        return WriteResult(0, [(e, "mapper_parsing_exception: bad field") for e in events])

    monkeypatch.setattr(store, "write_events", reject_all)
    ok, _, _, p = run_once(store, [Chunk("rec", [event(1)], 1, 10)])
    assert ok and p.dead.value("store_rejected") == 1
    (doc,) = [row[0] for row in sqlite3.connect(store.path).execute("SELECT doc FROM deadletter")]
    assert "store_rejected: mapper_parsing_exception" in doc and '"stage":"store"' in doc


class OverlapStore(SQLiteStore):
    """A real SQLite store whose first event write waits (a while at most) for a trace write
    holding ``awaited`` to begin, and notes whether one did."""

    def __init__(self, path, awaited: str):
        super().__init__(path)
        self.awaited, self.overlapped = awaited, threading.Event()
        self.waits: list[bool] = []
        self._first = threading.Lock()  # two batches' event writes may come at once

    def write_events(self, events):
        if self._first.acquire(blocking=False):  # never released: the first write only
            self.waits.append(self.overlapped.wait(2.0))
        return super().write_events(events)

    def upsert_traces(self, traces, deleted=()):
        if any(t.trace_key == self.awaited for t in traces):
            self.overlapped.set()
        return super().upsert_traces(traces, deleted)


def linked(message: str, first: int) -> list[Event]:
    return [Event(timestamp_ms=1_700_000_000_000 + n, dataset="generic.json",
                  platform="generic", message=f"m{n}", id=f"id-{n}",
                  ids=[f"correlation:{message}"], ingested_ms=1_700_000_000_000)
            for n in range(first, first + 3)]


def test_events_are_written_while_the_next_batch_correlates_and_acks_wait_in_order(
        tmp_sqlite_path):
    store = OverlapStore(tmp_sqlite_path, awaited="correlation:c-2")
    store.setup()
    try:
        acked: list[tuple[str, int, int]] = []

        def ack(name: str):
            def fn():
                store.refresh()
                events = len(store.search_events([], 0, 2**62, limit=100))
                acked.append((name, events, len(store.get_traces_by_ids(
                    ["correlation:c-1", "correlation:c-2"]))))
            return fn

        q = ChunkQueue(8)
        assert q.offer(Chunk("rec", linked("c-1", 0), 3, 100, ack=ack("a")), 0)
        assert q.offer(Chunk("rec", linked("c-2", 3), 3, 100, ack=ack("b")), 0)
        pipeline = Pipeline(store, q, [Recorder()], Batch(max_events=3, flush_interval_ms=20),
                            Registry(), Correlator(empty_catalog(), store))
        assert pipeline.run(threading.Event(), lambda: True)
        assert store.waits == [True], \
            "the second batch's trace was written while the first batch's events were"
        # Each ack came after its own events and trace were stored, first batch first.
        assert acked[0][0] == "a" and acked[0][1] >= 3 and acked[0][2] >= 1
        assert acked[1] == ("b", 6, 2)
        assert pipeline.indexed.total() == 6
    finally:
        store.close()


def test_dead_letters_are_stored_with_the_input_that_read_them(store):
    """`midwatch deadletters --input` filters on it: a parser does not know its input."""
    run_once(store, [Chunk("orders-kafka", [DeadLetter("parse_error: x", "t:0:7", 0, "raw")],
                           1, 10)])
    store.refresh()
    (doc,) = store.search_deadletters([], 0, 2**62)
    assert doc["input"] == "orders-kafka" and doc["kind"] == "parse_error"
