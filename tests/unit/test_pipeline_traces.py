"""The writer's trace writes: once per flush interval, not once per batch (issue 25), and a
batch acknowledged only once its traces are stored, in queue order."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import pytest
from test_spool_pipeline import SwitchableStore, wait_for  # its store away and back

from collector.config import Batch
from collector.correlation.catalog import empty_catalog, load_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.metrics import Registry
from collector.service.pipeline import TRACE_BATCHES, Pipeline
from collector.service.spool import Spool
from collector.store.base import StoreUnavailable, WritesRefused
from collector.store.sqlite import SQLiteStore


class CountingStore(SQLiteStore):
    """A real SQLite store that notes the trace keys of each trace write."""

    def __init__(self, path):
        super().__init__(path)
        self.writes: list[list[str]] = []

    def upsert_traces(self, traces, deleted=()):
        super().upsert_traces(traces, deleted)
        self.writes.append(sorted(t.trace_key for t in traces))


class Recorder:
    name = "rec"

    def commit(self) -> None:
        pass


def hop(message: str, n: int) -> Event:
    return Event(timestamp_ms=1_700_000_000_000 + n, dataset="generic.json", platform="generic",
                 message=f"m{n}", id=f"id-{n}", ids=[f"correlation:{message}"],
                 ingested_ms=1_700_000_000_000)


def run(store: CountingStore, chunks: list[tuple[str, Event]], interval_ms: int):
    """One chunk (and batch) per event; what each ack saw: (chunk, trace writes so far,
    hops of its message's stored trace)."""
    acked: list[tuple[str, int, int]] = []

    def ack(name: str, message: str):
        def fn():
            (trace,) = store.get_traces_by_ids([f"correlation:{message}"])
            acked.append((name, len(store.writes), trace.hop_count))
        return fn

    q = ChunkQueue(16)
    for name, ev in chunks:
        assert q.offer(Chunk("rec", [ev], 1, 100, ack=ack(name, ev.ids[0].split(":")[1])), 0)
    pipeline = Pipeline(store, q, [Recorder()], Batch(max_events=1, flush_interval_ms=interval_ms),
                        Registry(), Correlator(empty_catalog(), store))
    assert pipeline.run(threading.Event(), lambda: True)
    return acked, pipeline


@pytest.fixture
def store(tmp_sqlite_path):
    with closing(CountingStore(tmp_sqlite_path)) as s:
        s.setup()
        yield s


def test_a_message_over_three_batches_is_written_once_and_each_batch_acked_after_it(store):
    acked, pipeline = run(store, [("a", hop("c-1", 0)), ("b", hop("c-1", 1)),
                                  ("c", hop("c-1", 2))], interval_ms=60_000)
    assert store.writes == [["correlation:c-1"]], "one trace write for the three batches"
    assert acked == [("a", 1, 3), ("b", 1, 3), ("c", 1, 3)], \
        "every batch acked after its trace was stored, in queue order"
    assert pipeline.indexed.total() == 3


def test_at_most_trace_batches_wait_for_one_trace_write(store):
    chunks = [(f"b{n}", hop(f"c-{n}", n)) for n in range(TRACE_BATCHES + 2)]
    acked, _ = run(store, chunks, interval_ms=60_000)
    assert [len(keys) for keys in store.writes] == [TRACE_BATCHES, 2]
    assert [name for name, _, _ in acked] == [name for name, _ in chunks]
    # The first TRACE_BATCHES batches were acked after the first write, the rest after the
    # second (written when the queue ran dry).
    assert [writes for _, writes, _ in acked] == [1] * TRACE_BATCHES + [2, 2]


class AwayStore(SwitchableStore):
    """The spool tests' store, away for trace writes too."""

    def upsert_traces(self, traces, deleted=()):
        if self.down:
            raise StoreUnavailable("connection refused")
        return super().upsert_traces(traces, deleted)


def test_batches_awaiting_their_traces_are_spooled_first_in_an_outage(tmp_sqlite_path,
                                                                       tmp_path):
    store = AwayStore(tmp_sqlite_path)
    store.setup()
    spool = Spool(tmp_path / "spool")
    acked: list[int] = []
    q = ChunkQueue(8)
    done, stop = threading.Event(), threading.Event()
    # A long linger: the writer writes the waiting traces only once no chunk came for it.
    pipeline = Pipeline(store, q, [Recorder()],
                        Batch(max_events=1, flush_interval_ms=60_000, linger_ms=3_000),
                        Registry(), Correlator(empty_catalog(), store), backoff_start_s=0.01,
                        spool=spool, shutdown_grace_s=0.2)

    def put(n: int) -> None:
        assert q.offer(Chunk("rec", [hop("c-1", n)], 1, 10, ack=lambda: acked.append(n)), 1)

    for n in range(3):  # the third batch's delivery settles the first
        put(n)
    thread = threading.Thread(target=lambda: pipeline.run(stop, done.is_set), daemon=True)
    thread.start()
    try:
        wait_for(lambda: store.written == ["id-0", "id-1", "id-2"])
        assert acked == [] and store.get_traces_by_ids(["correlation:c-1"]) == [], \
            "events stored, trace not yet: no ack"
        store.down = True
        put(3)  # four batches wait: the trace write is due, and finds the store away
        wait_for(lambda: acked == [0, 1, 2, 3])  # spooled oldest first, store still away
        assert store.get_traces_by_ids(["correlation:c-1"]) == [] and len(spool) == 4
        store.down = False
        wait_for(lambda: pipeline.available.value() == 1)  # the probe found it back
        put(4)  # wakes the writer (spooled behind the others, or written): then it drains
        wait_for(lambda: acked == [0, 1, 2, 3, 4])
        done.set()
        put(5)  # wakes the writer out of its wait for a batch: it then sees ``done``
        thread.join(10)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert acked == [0, 1, 2, 3, 4, 5]
    assert store.written == ["id-0", "id-1", "id-2", "id-0", "id-1", "id-2", "id-3", "id-4",
                             "id-5"], \
        "the spool replayed the batches that awaited their traces, in queue order"
    assert len(spool) == 0
    (trace,) = store.get_traces_by_ids(["correlation:c-1"])
    assert trace.hop_count == 6
    store.close()


class TracesAwayStore(SQLiteStore):
    """Real SQLite that takes events but is away for trace writes."""

    def upsert_traces(self, traces, deleted=()):
        raise StoreUnavailable("connection refused")


def test_a_finishing_input_whose_trace_write_finds_the_store_away_spools_the_waiting(
        tmp_sqlite_path, tmp_path):
    spool = Spool(tmp_path / "spool")
    acked: list[int] = []
    q = ChunkQueue(8)
    for n in range(2):
        assert q.offer(Chunk("rec", [hop("c-1", n)], 1, 10, ack=lambda n=n: acked.append(n)), 0)
    stop = threading.Event()
    with closing(TracesAwayStore(tmp_sqlite_path)) as store:
        store.setup()
        pipeline = Pipeline(store, q, [Recorder()], Batch(max_events=1, flush_interval_ms=60_000),
                            Registry(), Correlator(empty_catalog(), store),
                            backoff_start_s=0.01, spool=spool)
        try:
            # The input is finishing: the idle trace write is the writer's last step.
            assert pipeline.run(stop, lambda: True)
        finally:
            stop.set()  # ends the store probe
        assert acked == [0, 1], "both batches spooled, then acked, in queue order"
        assert len(spool) == 2


class RefusedTracesStore(CountingStore):
    """Refuses the first three trace writes (an overloaded cluster), and notes the size of
    every events write."""

    def __init__(self, path):
        super().__init__(path)
        self.refusals = 3
        self.event_writes: list[int] = []

    def upsert_traces(self, traces, deleted=()):
        if self.refusals:
            self.refusals -= 1
            raise WritesRefused("429 too many requests (1 of 1 writes not stored)")
        super().upsert_traces(traces, deleted)

    def write_events(self, events):
        self.event_writes.append(len(events))
        return super().write_events(events)


def test_refused_trace_writes_do_not_send_a_batch_s_events_one_by_one(tmp_sqlite_path):
    with closing(RefusedTracesStore(tmp_sqlite_path)) as store:
        store.setup()
        q = ChunkQueue(4)
        events = [hop("c-1", n) for n in range(3)]
        assert q.offer(Chunk("rec", events, 3, 100), 0)
        pipeline = Pipeline(store, q, [Recorder()], Batch(max_events=3, flush_interval_ms=0),
                            Registry(), Correlator(empty_catalog(), store),
                            backoff_start_s=0.01, max_attempts=3)
        assert pipeline.run(threading.Event(), lambda: True)
        assert store.refusals == 0 and store.writes == [["correlation:c-1"]]
        assert store.event_writes == [3], "the events were never refused: one bulk write"
        assert pipeline.dead.total() == 0


FLOW = load_catalog({"flows": [{"name": "orders", "sla": "1m", "stages": [
    {"name": "delivered", "terminal": "success",
     "match": {"platform": "generic", "outcome": "success"}},
    {"name": "received", "match": {"platform": "generic"}},
]}]})


def test_the_sweep_does_not_mark_stuck_a_stored_trace_whose_completing_event_waits(store):
    now = now_ms()
    first = Event(timestamp_ms=now - 600_000, dataset="generic.json", platform="generic",
                  message="received", id="id-0", ids=["correlation:c-1"], ingested_ms=now)
    earlier = Correlator(FLOW, store)  # a writer before a restart: the trace is stored
    earlier.process([first])
    earlier.flush()
    (stored,) = store.get_traces_by_ids(["correlation:c-1"])
    assert stored.status == "in_flight"
    last = Event(timestamp_ms=now, dataset="generic.json", platform="generic",
                 message="delivered", outcome="success", id="id-1",
                 ids=["business:po-9", "correlation:c-1"], ingested_ms=now)
    q = ChunkQueue(4)
    assert q.offer(Chunk("rec", [last], 1, 100), 0)
    # In memory it starts a trace of its own key (its first ID), joined to the stored one
    # only by the trace write, which looks its other IDs up in the store.
    correlator = Correlator(FLOW, store)
    # The trace is overdue (started 10 min ago, SLA 1 min), the sweep due at once, the
    # trace write not before a minute: the sweep comes while the completing event waits.
    pipeline = Pipeline(store, q, [Recorder()], Batch(flush_interval_ms=60_000), Registry(),
                        correlator, sweep_interval_ms=0)
    assert pipeline.run(threading.Event(), lambda: True)
    assert correlator.stats()["stuck_marked"] == 0
    (trace,) = store.get_traces_by_ids(["correlation:c-1"])
    assert (trace.status, trace.hop_count) == ("completed", 2)


def test_a_sender_waiting_for_each_answer_is_answered_within_the_linger_not_the_interval(
        store):
    """A shipper on one connection sends its next request only once the last is answered:
    each answer within well under the 5 s flush interval (about linger + store time)."""
    q = ChunkQueue(4)
    done, stop = threading.Event(), threading.Event()
    pipeline = Pipeline(store, q, [Recorder()], Batch(flush_interval_ms=5_000, linger_ms=50),
                        Registry(), Correlator(empty_catalog(), store))
    thread = threading.Thread(target=lambda: pipeline.run(stop, done.is_set), daemon=True)
    thread.start()
    took: list[float] = []
    try:
        for n in range(3):
            answered = threading.Event()
            sent = time.monotonic()
            assert q.offer(Chunk("rec", [hop("c-1", n)], 1, 10, ack=answered.set), 1)
            answered.wait(10)
            took.append(time.monotonic() - sent)
        done.set()
        assert q.offer(Chunk("rec", [hop("c-1", 3)], 1, 10), 1)  # wakes it to see ``done``
        thread.join(10)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert max(took) < 2.0, f"answers took {took} s"
    (trace,) = store.get_traces_by_ids(["correlation:c-1"])
    assert trace.hop_count == 4
