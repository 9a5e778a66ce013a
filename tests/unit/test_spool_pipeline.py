"""The writer with a spool: outage -> spool + ack, recovery -> drain in order; full spool ->
backpressure; a poison event -> dead letter after max_attempts. Real SQLite underneath; the
outage is switched on the store's own entry points (the real-Elasticsearch outage lives in
tests/integration/test_faults_outage.py)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from collector.config import Batch
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue
from collector.metrics import Registry
from collector.service.pipeline import Pipeline
from collector.service.spool import Spool
from collector.store.base import StoreUnavailable, WritesRefused
from collector.store.sqlite import SQLiteStore


class SwitchableStore(SQLiteStore):
    """Real SQLite that can be 'away' (every call fails as unavailable) and that refuses
    chosen event IDs as the cluster refuses a poison item."""

    def __init__(self, path):
        super().__init__(path)
        self.down = False
        self.poison: set[str] = set()
        self.written: list[str] = []

    def setup(self):
        if getattr(self, "down", False):
            raise StoreUnavailable("connection refused")
        return super().setup()

    def write_events(self, events):
        if self.down:
            raise StoreUnavailable("connection refused")
        if any(e.id in self.poison for e in events):
            raise WritesRefused("429 index read-only (1 of n writes not stored)")
        self.written.extend(e.id for e in events)
        return super().write_events(events)


class Recorder:
    name = "rec"

    def commit(self) -> None:
        pass


def event(n: int) -> Event:
    return Event(timestamp_ms=1_700_000_000_000 + n, dataset="generic.json", platform="generic",
                 message=f"m{n}", id=f"id-{n}", ingested_ms=1_700_000_000_000)


@pytest.fixture
def store(tmp_sqlite_path):
    s = SwitchableStore(tmp_sqlite_path)
    s.setup()
    yield s
    s.close()


class Writer:
    """A pipeline running in a thread until ``finish``."""

    def __init__(self, store, spool: Spool, queue: ChunkQueue, max_attempts: int = 3,
                 store_ready: bool = True):
        self.done = threading.Event()
        self.stop = threading.Event()
        self.pipeline = Pipeline(store, queue, [Recorder()], Batch(max_events=2, flush_interval_ms=20),
                                 Registry(), backoff_start_s=0.01, spool=spool,
                                 max_attempts=max_attempts, shutdown_grace_s=0.2,
                                 store_ready=store_ready)
        self.thread = threading.Thread(
            target=lambda: self.pipeline.run(self.stop, self.done.is_set), daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.done.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def chunk(n: int, acked: list[int]) -> Chunk:
    return Chunk("rec", [event(n)], 1, 10, ack=lambda: acked.append(n))


def test_outage_spools_and_acks_then_recovery_drains_in_order(store, tmp_path):
    spool = Spool(tmp_path / "spool")
    q = ChunkQueue(4)
    acked: list[int] = []
    writer = Writer(store, spool, q)
    q.put(chunk(0, acked), threading.Event())
    wait_for(lambda: acked == [0])

    store.down = True
    for n in range(1, 7):
        q.put(chunk(n, acked), threading.Event())
    wait_for(lambda: acked == list(range(7)))  # acked once on disk, store still away
    assert len(spool) >= 3 and store.written == ["id-0"]
    assert writer.pipeline.available.value() == 0

    store.down = False
    q.put(chunk(7, acked), threading.Event())
    wait_for(lambda: len(store.written) == 8)
    writer.finish()
    assert store.written == [f"id-{n}" for n in range(8)], "drained oldest first, then new"
    assert len(spool) == 0 and not list((tmp_path / "spool").glob("*.seg"))
    assert writer.pipeline.spooled.value("write") == writer.pipeline.spooled.value("drain")
    store.refresh()
    assert len(store.search_events([], 0, 2**62, limit=100)) == 8


def test_full_spool_stops_taking_batches_nothing_dropped(store, tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=1)  # full after one segment
    q = ChunkQueue(2)
    acked: list[int] = []
    store.down = True
    writer = Writer(store, spool, q)
    q.put(chunk(0, acked), threading.Event())
    wait_for(lambda: len(spool) == 1)
    for n in (1, 2):
        q.put(chunk(n, acked), threading.Event())
    time.sleep(0.3)
    assert len(spool) == 1 and acked == [0], "a full spool takes nothing more"
    assert q.depth() == 2 and not q.offer(chunk(3, acked), 0.05), "the queue bound holds"
    store.down = False
    wait_for(lambda: acked == [0, 1, 2])
    writer.finish()
    assert store.written == ["id-0", "id-1", "id-2"]


def test_spool_left_by_a_crash_is_drained_first_on_the_next_start(store, tmp_path):
    crashed = Spool(tmp_path / "spool")
    crashed.append([event(1), event(2)], [])
    crashed.close()  # the process is gone
    q = ChunkQueue(2)
    acked: list[int] = []
    q.put(chunk(3, acked), threading.Event())
    writer = Writer(store, Spool(tmp_path / "spool"), q)
    wait_for(lambda: acked == [3])
    writer.finish()
    assert store.written == ["id-1", "id-2", "id-3"]


def test_poison_event_is_dead_lettered_after_max_attempts_and_the_rest_stored(store, tmp_path):
    store.poison = {"id-2"}
    q = ChunkQueue(4)
    acked: list[int] = []
    writer = Writer(store, Spool(tmp_path / "spool"), q, max_attempts=3)
    q.put(Chunk("rec", [event(1), event(2)], 2, 20, ack=lambda: acked.append(1)), threading.Event())
    q.put(chunk(3, acked), threading.Event())
    wait_for(lambda: acked == [1, 3])
    writer.finish()
    p = writer.pipeline
    assert p.store_errors.value("events") == 3
    assert p.dead.value("store_failed") == 1 and p.indexed.total() == 2
    # The next batch's events may be written while this one is retried (two batches in
    # flight); the acks above kept queue order.
    assert sorted(store.written) == ["id-1", "id-3"]
    (doc,) = [row[0] for row in sqlite3.connect(store.path).execute("SELECT doc FROM deadletter")]
    assert "store_failed: 429" in doc and "id-2" in doc and '"stage":"store"' in doc


def test_store_away_at_start_spools_from_the_first_batch(store, tmp_path):
    store.down = True
    spool = Spool(tmp_path / "spool")
    q = ChunkQueue(2)
    acked: list[int] = []
    writer = Writer(store, spool, q, store_ready=False)
    q.put(chunk(1, acked), threading.Event())
    wait_for(lambda: acked == [1])
    assert len(spool) == 1 and store.written == []
    store.down = False
    wait_for(lambda: store.written == ["id-1"])
    writer.finish()
    assert len(spool) == 0 and writer.pipeline.available.value() == 1


class HeldStore(SwitchableStore):
    """Holds the write of chosen event IDs until released, as a slow bulk request does."""

    def __init__(self, path):
        super().__init__(path)
        self.held: set[str] = set()
        self.release = threading.Event()

    def write_events(self, events):
        if any(e.id in self.held for e in events):
            assert self.release.wait(10), "never released"
        return super().write_events(events)


def test_next_batch_is_written_while_one_is_in_flight_and_acks_keep_queue_order(
        tmp_sqlite_path, tmp_path):
    """Two batches have their events in flight at once (the store is not idle between
    them), yet a batch is acked only after every batch before it: batch 2 is stored while
    batch 1 is held, and neither is acked until batch 1 is stored too."""
    store = HeldStore(tmp_sqlite_path)
    store.setup()
    store.held = {"id-1"}
    q = ChunkQueue(4)
    acked: list[int] = []
    writer = Writer(store, Spool(tmp_path / "spool"), q)
    try:
        q.put(Chunk("rec", [event(1), event(2)], 2, 20, ack=lambda: acked.append(1)),
              threading.Event())
        q.put(Chunk("rec", [event(3), event(4)], 2, 20, ack=lambda: acked.append(3)),
              threading.Event())
        wait_for(lambda: store.written == ["id-3", "id-4"])
        assert acked == []  # batch 2 is stored, but batch 1 before it is not
        store.release.set()
        wait_for(lambda: acked == [1, 3])
        writer.finish()
        assert store.written == ["id-3", "id-4", "id-1", "id-2"]
        assert writer.pipeline.indexed.total() == 4
    finally:
        store.release.set()
        store.close()
