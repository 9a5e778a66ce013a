"""The writer's trace writes: once per flush interval, not once per batch (issue 25), and a
batch acknowledged only once its traces are stored, in queue order."""

from __future__ import annotations

import threading
from contextlib import closing

import pytest
from test_spool_pipeline import SwitchableStore, wait_for  # its store away and back

from collector.config import Batch
from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue
from collector.metrics import Registry
from collector.service.pipeline import TRACE_BATCHES, Pipeline
from collector.service.spool import Spool
from collector.store.base import StoreUnavailable
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
    pipeline = Pipeline(store, q, [Recorder()], Batch(max_events=1, flush_interval_ms=60_000),
                        Registry(), Correlator(empty_catalog(), store), backoff_start_s=0.01,
                        spool=spool, shutdown_grace_s=0.2)
    thread = threading.Thread(target=lambda: pipeline.run(stop, done.is_set), daemon=True)
    thread.start()
    try:
        def put(n: int) -> None:
            assert q.offer(Chunk("rec", [hop("c-1", n)], 1, 10, ack=lambda: acked.append(n)), 1)

        put(0)
        put(1)
        wait_for(lambda: store.written == ["id-0", "id-1"])
        assert acked == [] and store.get_traces_by_ids(["correlation:c-1"]) == [], \
            "events stored, trace not yet: no ack"
        store.down = True
        put(2)
        put(3)
        wait_for(lambda: acked == [0, 1, 2, 3])  # spooled oldest first, store still away
        assert store.get_traces_by_ids(["correlation:c-1"]) == [] and len(spool) == 4
        store.down = False
        put(4)
        wait_for(lambda: acked == [0, 1, 2, 3, 4])
        done.set()
        put(5)  # wakes the writer out of its wait for a batch: it then sees ``done``
        thread.join(10)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
    assert acked == [0, 1, 2, 3, 4, 5]
    assert store.written == ["id-0", "id-1", "id-0", "id-1", "id-2", "id-3", "id-4", "id-5"], \
        "the spool replayed the batches that awaited their traces, in queue order"
    assert len(spool) == 0
    (trace,) = store.get_traces_by_ids(["correlation:c-1"])
    assert trace.hop_count == 6
    store.close()
