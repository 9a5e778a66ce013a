"""Two collectors that could not see each other's trace split one message; the repair merges
them (on real SQLite; the two-process version runs in tests/integration/test_faults_scaleout.py)."""

from __future__ import annotations

import time

from collector.correlation.catalog import empty_catalog, load_catalog
from collector.correlation.correlator import Correlator
from collector.correlation.trace_repair import TraceRepair, _connected, repair_lease
from collector.event import Event
from collector.store.base import TraceQuery
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace

NOW = int(time.time() * 1000)


def ev(n: int, *ids: str) -> Event:
    e = Event(timestamp_ms=NOW - 60_000 + n, dataset="generic.json", platform="generic",
              id=f"e{n}")
    for typed in ids:
        e.add_id(*typed.split(":", 1))
    return e


def test_split_message_is_merged_once_and_stays_merged(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    try:
        one, two = Correlator(empty_catalog(), store), Correlator(empty_catalog(), store)
        # Both write before either reads the other's trace: the race that splits a message.
        batch_one, batch_two = [ev(1, "correlation:c-1"), ev(2, "correlation:c-1", "order:1")], \
            [ev(3, "order:1")]
        one.process(batch_one)
        two.process(batch_two)
        two._resolve()  # two looks the IDs up now: nothing stored yet
        one.flush()
        two.flush()
        assert sorted(store.shared_trace_ids(0)) == ["order:1"]

        repair = TraceRepair(empty_catalog(), store, window_ms=3_600_000)
        assert repair.run(NOW) == 1
        assert store.shared_trace_ids(0) == []
        (trace,) = store.search_traces(TraceQuery(limit=10))
        assert trace.trace_key == "correlation:c-1" and trace.hop_count == 3
        assert sorted(trace.ids) == ["correlation:c-1", "order:1"]
        assert repair.run(NOW) == 0

        # The collector that held the merged-away copy writes again: it loses the race,
        # re-reads and folds into the merged trace instead of resurrecting its own.
        two.process([ev(4, "order:1")])
        two.flush()
        (trace,) = store.search_traces(TraceQuery(limit=10))
        assert trace.hop_count == 4 and trace.trace_key == "correlation:c-1"
    finally:
        store.close()


def test_label_ids_shared_by_many_messages_are_not_merged(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    try:
        c = Correlator(empty_catalog(), store)
        # Two purchase orders of one X12 interchange: the ISA ID is a label, not a link.
        c.process([ev(1, "order:1", "x12.isa:ME:ACME:1"), ev(2, "order:2", "x12.isa:ME:ACME:1")])
        c.flush()
        assert store.shared_trace_ids(0) == ["x12.isa:ME:ACME:1"]
        assert TraceRepair(empty_catalog(), store, window_ms=3_600_000).run(NOW) == 0
        assert len(store.search_traces(TraceQuery(limit=10))) == 2
    finally:
        store.close()


def split(store: SQLiteStore, n: int) -> None:
    """Message ``n`` stored as two traces, as two collectors that missed each other leave it."""
    one, two = Correlator(empty_catalog(), store), Correlator(empty_catalog(), store)
    one.process([ev(10 * n, f"correlation:c-{n}"), ev(10 * n + 1, f"correlation:c-{n}",
                                                      f"order:{n}")])
    two.process([ev(10 * n + 2, f"order:{n}")])
    two._resolve()
    one.flush()
    two.flush()


def test_one_collector_repairs_at_a_time_and_another_takes_over(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    try:
        first, second = (TraceRepair(empty_catalog(), store, window_ms=3_600_000,
                                     lease=repair_lease(store, 1000)) for _ in range(2))
        split(store, 1)
        assert first.run(NOW) == 1
        split(store, 2)
        assert second.run(NOW + 1000) == 0  # the first holds the lease (six rounds)
        assert store.shared_trace_ids(0) == ["order:2"]
        assert first.run(NOW + 2000) == 1
        split(store, 3)
        # The first stopped renewing: after its TTL the second repairs, the first no more.
        assert second.run(NOW + 6001) == 1
        split(store, 4)
        assert first.run(NOW + 7000) == 0
        assert second.run(NOW + 7000) == 1
        assert store.shared_trace_ids(0) == []
        assert sorted(t.hop_count for t in store.search_traces(TraceQuery(limit=10))) == [3] * 4
    finally:
        store.close()


def test_a_split_is_repaired_among_many_envelope_and_placeholder_ids(tmp_sqlite_path):
    """Envelope IDs (an X12 interchange of many orders) and placeholders (``N/A``) are held by
    many traces on purpose and were the most shared: the round's 500 shared IDs were all
    theirs, and a message split by two collectors was never merged."""
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    try:
        c = Correlator(empty_catalog(), store)
        batch = []
        for n in range(600):  # 600 interchanges of three orders each, orders without an ID
            isa = f"x12.isa:ME:ACME:{n}"
            batch += [ev(10 * n + k, f"order:{n}{k}", isa) for k in range(3)]
            batch.append(ev(10 * n + 3, f"order:{n}x", "correlation:N/A"))
        c.process(batch)
        c.flush()
        one, two = Correlator(empty_catalog(), store), Correlator(empty_catalog(), store)
        one.process([ev(9_000_001, "correlation:c-1", "order:split")])
        two.process([ev(9_000_002, "order:split")])
        two._resolve()  # the race that splits a message
        one.flush()
        two.flush()
        repair = TraceRepair(empty_catalog(), store, window_ms=3_600_000)
        assert repair.run(NOW) == 1
        (merged,) = [t for t in store.search_traces(TraceQuery(limit=10_000))
                     if "order:split" in t.ids]
        assert merged.hop_count == 2
    finally:
        store.close()


def test_an_id_is_settled_only_when_its_holders_were_seen_apart(tmp_sqlite_path):
    """Settled IDs are skipped for SETTLED_ROUNDS. One whose other holder the look-up left
    out (a cut page on Elasticsearch: 5,000 IDs of two holders each overflowed it every round)
    was settled from one trace alone, and its real split went unrepaired for 20 rounds."""
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    try:
        repair = TraceRepair(empty_catalog(), store, window_ms=3_600_000)

        def trace(key: str, at: int) -> Trace:
            return Trace(trace_key=key, ids=["order:7"], started_ms=at, last_seen_ms=at)

        one = trace("a", NOW)
        repair._settle(["order:7"], [one], [[one]])
        assert repair._settled == {}  # its other holder was not seen: look again
        far = trace("b", NOW - 30 * 86_400_000)
        repair._settle(["order:7"], [one, far], [[one], [far]])
        assert list(repair._settled) == ["order:7"]  # two holders, found apart
    finally:
        store.close()


def test_a_third_trace_sharing_the_id_does_not_merge_two_orders(tmp_sqlite_path):
    """Review G item 1: with three holders of one hard-coded correlation ID (order PO-1, a
    gateway hop with only that ID, order PO-2), the repair merged both orders into one
    trace, because the run of joined traces forgot its IDs after the first join."""
    catalog = load_catalog({"ids": {"one_per_message": ["order"]}, "flows": []})
    a, x, b = (Trace(trace_key=k, ids=ids, started_ms=NOW - 60_000 + n,
                     last_seen_ms=NOW - 60_000 + n,
                     hops=[Hop(stage=None, service=None, platform="generic",
                               timestamp_ms=NOW - 60_000 + n, outcome="success",
                               event_id=f"e-{k}")])
               for k, ids, n in (("A", ["order:PO-1", "correlation:12345"], 0),
                                 ("X", ["correlation:12345"], 1000),
                                 ("B", ["order:PO-2", "correlation:12345"], 2000)))
    groups = [sorted(t.trace_key for t in g) for g in _connected([a, x, b], catalog)]
    assert sorted(groups) == [["A", "X"], ["B"]]

    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    try:
        store.upsert_traces([a, x, b])
        store.refresh()
        TraceRepair(catalog, store, window_ms=3_600_000).run(NOW)
        store.refresh()
        held = sorted(sorted(t.ids) for t in store.find_traces("correlation:12345"))
        assert held == [["correlation:12345", "order:PO-1"], ["correlation:12345", "order:PO-2"]]
    finally:
        store.close()
