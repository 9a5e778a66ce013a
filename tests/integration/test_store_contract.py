"""One contract, two stores: every test here runs against SQLite and the real Elasticsearch.

The read-side tests share one data set written once per store (module scope); tests of write
semantics get a fresh, empty store each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collector.event import DeadLetter, Event, event_id
from collector.store.base import (
    Agg,
    ConflictError,
    Filter,
    MetricQuery,
    MetricRow,
    Store,
    TraceQuery,
)
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
WINDOW = (T0, T0 + HOUR)
PLATFORMS = ("apigw", "mulesoft", "kafka", "boomi")
FAILED = Filter("event.outcome", "eq", "failure")
O2C = Filter("midwatch.flow", "eq", "o2c")


def _o2c(i: int) -> Event:
    failed = i in (3, 7)
    platform = PLATFORMS[i % 4]
    ev = Event(
        timestamp_ms=T0 + i * 5 * MIN,
        dataset=f"{platform}.log",
        platform=platform,
        message="Connection refused by sap-host" if failed else f"order {i} processed",
        outcome="failure" if failed else "success",
        level="error" if failed else "info",
        id=event_id("o2c.log", str(i)),
        duration_ns=(i + 1) * 1_000_000,
        service=("order-API", "order-mule", "order-topic", "order-boomi")[i % 4],
        flow="o2c",
        stage=f"{platform}.received",
        message_id=f"m{i % 6}",
        error_message="Connection refused" if failed else None,
        labels={"env": "prod" if i % 2 else "dev"},
        original=f'{{"level":"INFO","msg":"order {i}","note":"<kept as written> é"}}',
    )
    ev.add_id("order", 4711 + i // 4)
    return ev


def _edi(i: int) -> Event:
    ev = Event(
        timestamp_ms=T0 + i * 10 * MIN + MIN,
        dataset="edi.x12",
        platform="edi",
        message=f"850 set {i}",
        outcome="failure" if i == 0 else "success",
        id=event_id("edi.x12", str(i)),
        flow="edi",
        partner="ACME",
        error_message="AK5 R: rejected" if i == 0 else None,
    )
    ev.add_id("x12.isa", "000000123")
    return ev


def dataset() -> list[Event]:
    events = [_o2c(i) for i in range(12)] + [_edi(i) for i in range(4)]
    events.append(Event(T0 + 2 * MIN, "generic.json", "generic", "no flow", id=event_id("g", "0")))
    events.append(Event(T0 + DAY, "generic.json", "generic", "next day", flow="o2c",
                        id=event_id("g", "1")))
    return events[::-1]  # stores must order by time, not by arrival


def _trace(key: str, ids: list[str], *, flow: str, status: str, started: int, last: int,
           partner: str | None = None, stages: tuple[str, ...] = ()) -> Trace:
    hops = [Hop(stage=s, service="svc", platform="mulesoft", timestamp_ms=started + n * MIN,
                outcome="success", event_id=f"e{n}") for n, s in enumerate(stages)]
    ended = last if status in ("completed", "failed") else None
    return Trace(key, ids, started, last, flow=flow, partner=partner, status=status,
                 ended_ms=ended, hops=hops, stages=list(stages), hop_count=len(hops))


def traces() -> list[Trace]:
    return [
        _trace("correlation:c1", ["correlation:c1", "order:4711"], flow="o2c",
               status="completed", started=T0, last=T0 + 15 * MIN,  # its events 0..3
               stages=("api.received", "mule.received")),
        _trace("correlation:c2", ["correlation:c2", "order:4712"], flow="o2c",
               status="failed", started=T0 + 5 * MIN, last=T0 + 20 * MIN,
               stages=("api.received", "mule.received", "sap.failed")),
        _trace("x12.isa:000000123", ["x12.isa:000000123", "x12.st:0001", "invoice:4711"],
               flow="edi", partner="ACME", status="in_flight", started=T0 + MIN,
               last=T0 + 30 * MIN),
        _trace("correlation:c4", ["correlation:c4"], flow="o2c", status="in_flight",
               started=T0 + 40 * MIN, last=T0 + 50 * MIN),
    ]


# ------------------------------------------------------------------ fixtures


# SQLite and each search engine (conftest ENGINE_FIXTURES: Elasticsearch 9, 8, OpenSearch 2, 3).
STORES = ["sqlite", "elasticsearch", "es8", "opensearch", "opensearch3"]


def _sqlite_store(path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)
    store.setup()
    yield store
    store.close()


@pytest.fixture(params=STORES)
def store(request, tmp_path) -> Iterator[Store]:
    """A fresh, empty store."""
    if request.param == "sqlite":
        yield from _sqlite_store(tmp_path / "store.sqlite")
    else:
        with request.getfixturevalue("engine_store")(request.param,
                                                     f"mwtest-{uuid.uuid4().hex[:12]}-") as s:
            yield s


@pytest.fixture(scope="module", params=STORES)
def loaded(request, tmp_path_factory) -> Iterator[Store]:
    """A store holding ``dataset()`` and ``traces()``, shared by the read-only tests."""
    if request.param == "sqlite":
        opened = contextmanager(_sqlite_store)(tmp_path_factory.mktemp("contract") / "store.sqlite")
    else:
        opened = request.getfixturevalue("engine_store")(request.param,
                                                         f"mwtest-{uuid.uuid4().hex[:12]}")
    with opened as store:
        result = store.write_events(dataset())
        assert result.written == len(dataset()) and not result.rejected
        store.upsert_traces(traces())
        store.refresh()
        yield store


def count(store: Store, *filters: Filter, window=WINDOW) -> int:
    (row,) = store.metric(MetricQuery("events", *window, filters=tuple(filters)))
    return row.count


# ------------------------------------------------------------------ write semantics


def test_writing_the_same_events_twice_stores_them_once(store: Store):
    events = dataset()
    assert store.write_events(events).written == len(events)
    events[0].message = "replayed"
    assert store.write_events(events).written == len(events)
    store.refresh()
    assert count(store, window=(T0, T0 + 2 * DAY)) == len(events)
    (latest,) = store.search_events([], T0 + DAY, T0 + 2 * DAY)
    assert latest.message == "replayed"


def test_an_event_without_id_is_rejected_not_lost(store: Store):
    ev = Event(T0, "generic.json", "generic", "no id")
    result = store.write_events([ev, _o2c(0)])
    assert result.written == 1
    assert result.rejected == [(ev, "event has no id (set it with collector.event.event_id)")]


def test_trace_upsert_detects_concurrent_writers(store: Store):
    t = traces()[0]
    store.upsert_traces([t])
    assert t.version is not None
    store.refresh()
    (mine,) = store.get_traces_by_ids(["order:4711"])
    (theirs,) = store.get_traces_by_ids(["correlation:c1"])
    assert mine.version == theirs.version == t.version

    theirs.status = "failed"
    store.upsert_traces([theirs])
    mine.status = "completed"
    with pytest.raises(ConflictError) as err:
        store.upsert_traces([mine])
    assert err.value.trace_keys == ("correlation:c1",)
    store.refresh()
    assert store.get_trace("correlation:c1").status == "failed"

    # creating a trace that another writer created meanwhile is a conflict too
    with pytest.raises(ConflictError):
        store.upsert_traces([traces()[0]])


def test_trace_writes_keep_their_version_and_merges_delete(store: Store):
    a, b = traces()[0], traces()[1]
    store.upsert_traces([a, b])
    a.ids += b.ids
    a.last_seen_ms = b.last_seen_ms
    store.upsert_traces([a], deleted=[b])  # a's version was updated in place by the write
    store.refresh()
    assert store.get_trace("correlation:c2").trace_key == "correlation:c1"
    assert [t.trace_key for t in store.get_traces_by_ids(["order:4712"])] == ["correlation:c1"]
    stale = Trace("correlation:c1", ["correlation:c1"], T0, T0, version=b.version)
    with pytest.raises(ConflictError):
        store.upsert_traces([], deleted=[stale])


def test_trace_round_trips_with_its_hops(store: Store):
    t = traces()[1]
    t.last_error = {"class": "connectivity", "message": "refused", "stage": "sap.failed"}
    t.sla_ms, t.sla_breached, t.error_count = 600_000, True, 1
    store.upsert_traces([t])
    store.refresh()
    got = store.get_trace("order:4712")
    assert got.to_doc() == t.to_doc()
    assert [h.stage for h in got.hops] == ["api.received", "mule.received", "sap.failed"]


def test_deadletters_keep_reason_and_are_not_duplicated(store: Store):
    items = [
        DeadLetter("no parser understood the record", "/var/log/a.log", 17, "garbage", "parse",
                   ingested_ms=T0),
        DeadLetter("mapper_parsing_exception: payload_bytes", "kafka:orders:0", 0, "{}", "store",
                   field="midwatch.payload_bytes", ingested_ms=T0 + MIN),
    ]
    store.write_deadletters(items)
    store.write_deadletters(items)
    store.refresh()
    q = MetricQuery("deadletter", T0, T0 + HOUR, group_by=("stage",))
    assert store.metric(q) == [MetricRow({"stage": "parse"}, 1.0, 1), MetricRow({"stage": "store"}, 1.0, 1)]
    by_reason = MetricQuery("deadletter", T0, T0 + HOUR,
                            filters=(Filter("reason", "contains", "parser"),
                                     Filter("source", "eq", "/var/log/a.log:17")))
    assert store.metric(by_reason)[0].count == 1


def test_alert_history_and_state_round_trip(store: Store):
    store.append_alert_history([
        {"@timestamp": T0, "rule": "o2c-errors", "state": "firing", "labels": {"flow": "o2c"}},
        {"@timestamp": T0 + MIN, "rule": "o2c-errors", "state": "resolved",
         "labels": {"flow": "o2c"}},
        {"@timestamp": T0 + MIN, "rule": "edi-997", "state": "firing", "labels": {"flow": "edi"}},
    ])
    store.put_state("alerts", "o2c-errors|flow=o2c", {"state": "firing", "since": T0})
    store.put_state("alerts", "edi-997|flow=edi", {"state": "pending"})
    store.put_state("silences", "s1", {"match": {"rule": "x"}})
    store.put_state("alerts", "edi-997|flow=edi", None)
    store.put_state("alerts", "never-written", None)
    store.refresh()
    q = MetricQuery("alerts", T0, T0 + HOUR, group_by=("rule",),
                    filters=(Filter("labels.flow", "eq", "o2c"),))
    assert store.metric(q) == [MetricRow({"rule": "o2c-errors"}, 2.0, 2)]
    assert store.get_state("alerts") == {"o2c-errors|flow=o2c": {"state": "firing", "since": T0}}
    assert store.get_state("silences") == {"s1": {"match": {"rule": "x"}}}
    assert store.get_state("nothing") == {}


# ------------------------------------------------------------------ trace queries


@pytest.mark.parametrize(
    ("any_id", "key"),
    [
        ("correlation:c1", "correlation:c1"),      # the trace key
        ("order:4711", "correlation:c1"),          # a typed ID
        ("000000123", "x12.isa:000000123"),        # a bare ID
        ("4711", "x12.isa:000000123"),             # bare, two traces: the latest seen
        (" order:4712 ", "correlation:c2"),
        ("c4", "correlation:c4"),
    ],
)
def test_get_trace_by_key_typed_or_bare_id(loaded: Store, any_id: str, key: str):
    assert loaded.get_trace(any_id).trace_key == key


def test_get_trace_unknown_id_is_none(loaded: Store):
    assert loaded.get_trace("order:9999") is None


def test_get_traces_by_ids_carries_versions(loaded: Store):
    found = loaded.get_traces_by_ids(["order:4711", "x12.st:0001", "unknown:1"])
    assert sorted(t.trace_key for t in found) == ["correlation:c1", "x12.isa:000000123"]
    assert all(t.version is not None for t in found)


@pytest.mark.parametrize(
    ("kwargs", "keys"),
    [
        ({"flow": "o2c"}, ["correlation:c4", "correlation:c2", "correlation:c1"]),
        ({"flow": "o2c", "limit": 2}, ["correlation:c4", "correlation:c2"]),
        ({"status": "in_flight"}, ["correlation:c4", "x12.isa:000000123"]),
        ({"partner": "ACME"}, ["x12.isa:000000123"]),
        ({"stage": "sap.failed"}, ["correlation:c2"]),
        ({"since_ms": T0 + 16 * MIN}, ["correlation:c4", "x12.isa:000000123", "correlation:c2"]),
        ({"until_ms": T0 + 20 * MIN}, ["correlation:c1"]),
        ({"flow": "nope"}, []),
    ],
)
def test_search_traces(loaded: Store, kwargs: dict, keys: list[str]):
    assert [t.trace_key for t in loaded.search_traces(TraceQuery(**kwargs))] == keys


def test_open_traces_oldest_first(loaded: Store):
    assert [t.trace_key for t in loaded.open_traces(T0 + 45 * MIN)] == ["x12.isa:000000123"]
    assert [t.trace_key for t in loaded.open_traces(T0 + HOUR)] == [
        "x12.isa:000000123", "correlation:c4"]
    assert [t.trace_key for t in loaded.open_traces(T0 + HOUR, limit=1)] == ["x12.isa:000000123"]


def test_trace_events_in_time_order(loaded: Store):
    c1 = loaded.get_trace("correlation:c1")
    events = loaded.trace_events(c1)
    assert [e.id for e in events] == [_o2c(i).id for i in range(4)]
    assert events[0] == _o2c(0)
    assert len(loaded.trace_events(c1, limit=2)) == 2


def test_search_events_newest_first_with_filters(loaded: Store):
    found = loaded.search_events([O2C, FAILED], *WINDOW)
    assert [e.id for e in found] == [_o2c(7).id, _o2c(3).id]
    assert len(loaded.search_events([], *WINDOW, limit=5)) == 5


# ------------------------------------------------------------------ metric queries


def test_count_grouped_by_flow_largest_first(loaded: Store):
    rows = loaded.metric(MetricQuery("events", *WINDOW, group_by=("midwatch.flow",)))
    assert rows == [MetricRow({"midwatch.flow": "o2c"}, 12.0, 12),
                    MetricRow({"midwatch.flow": "edi"}, 4.0, 4)]
    capped = MetricQuery("events", *WINDOW, group_by=("midwatch.flow",), max_groups=1)
    assert [r.group for r in loaded.metric(capped)] == [{"midwatch.flow": "o2c"}]


def test_count_without_groups_and_empty_window(loaded: Store):
    assert loaded.metric(MetricQuery("events", *WINDOW)) == [MetricRow({}, 17.0, 17)]
    assert loaded.metric(MetricQuery("events", T0 - HOUR, T0)) == [MetricRow({}, 0.0, 0)]
    empty = MetricQuery("events", T0 - HOUR, T0, group_by=("midwatch.flow",))
    assert loaded.metric(empty) == []


def test_failure_ratio_per_flow(loaded: Store):
    q = MetricQuery("events", *WINDOW, Agg("ratio", where=(FAILED,)), group_by=("midwatch.flow",))
    assert loaded.metric(q) == [MetricRow({"midwatch.flow": "o2c"}, 2 / 12, 12),
                                MetricRow({"midwatch.flow": "edi"}, 1 / 4, 4)]


def test_grouped_by_two_fields(loaded: Store):
    q = MetricQuery("events", *WINDOW, group_by=("midwatch.flow", "event.outcome"))
    assert [(r.group["midwatch.flow"], r.group["event.outcome"], r.count)
            for r in loaded.metric(q)] == [
        ("o2c", "success", 10), ("edi", "success", 3), ("o2c", "failure", 2), ("edi", "failure", 1)]


def test_p95_of_event_duration(loaded: Store):
    q = MetricQuery("events", *WINDOW, Agg("percentile", "event.duration", q=95), filters=(O2C,))
    (row,) = loaded.metric(q)
    assert row.count == 12
    # 1..12 ms, linear between ranks; on OpenSearch too (its t-digest alone says 11.9 ms)
    assert row.value == pytest.approx(11_450_000)


def test_p95_of_trace_duration(loaded: Store):
    q = MetricQuery("traces", *WINDOW, Agg("percentile", "duration_ms", q=95),
                    time_field="started_at")
    (row,) = loaded.metric(q)
    # durations 600000, 600000, 900000, 1740000 (an in-flight trace counts until last_seen)
    assert (row.count, row.value) == (4, pytest.approx(1_614_000))


def test_distinct_message_ids(loaded: Store):
    q = MetricQuery("events", *WINDOW, Agg("distinct", "midwatch.message_id"), filters=(O2C,))
    assert loaded.metric(q) == [MetricRow({}, 6.0, 12)]


@pytest.mark.parametrize(
    ("kind", "value"), [("avg", 6_500_000), ("min", 1_000_000), ("max", 12_000_000), ("sum", 78_000_000)]
)
def test_simple_field_aggregations(loaded: Store, kind: str, value: float):
    (row,) = loaded.metric(MetricQuery("events", *WINDOW, Agg(kind, "event.duration"), filters=(O2C,)))
    assert row.value == pytest.approx(value)


def test_bucketed_series_includes_empty_buckets(loaded: Store):
    q = MetricQuery("events", T0, T0 + 2 * HOUR, filters=(O2C,), bucket_ms=15 * MIN)
    rows = loaded.metric(q)
    assert [r.bucket_ms for r in rows] == [T0 + n * 15 * MIN for n in range(8)]
    assert [r.count for r in rows] == [3, 3, 3, 3, 0, 0, 0, 0]
    assert [r.value for r in rows] == [3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0]


def test_bucketed_groups_each_get_every_bucket(loaded: Store):
    q = MetricQuery("events", T0, T0 + HOUR, Agg("ratio", where=(FAILED,)),
                    group_by=("midwatch.flow",), bucket_ms=30 * MIN)
    assert loaded.metric(q) == [
        MetricRow({"midwatch.flow": "o2c"}, 1 / 6, 6, T0),
        MetricRow({"midwatch.flow": "o2c"}, 1 / 6, 6, T0 + 30 * MIN),
        MetricRow({"midwatch.flow": "edi"}, 1 / 3, 3, T0),
        MetricRow({"midwatch.flow": "edi"}, 0.0, 1, T0 + 30 * MIN),
    ]


def test_buckets_align_to_the_epoch_not_the_window(loaded: Store):
    q = MetricQuery("events", T0 + 7 * MIN, T0 + 37 * MIN, filters=(O2C,), bucket_ms=15 * MIN)
    rows = loaded.metric(q)
    # events at 10, 15, 20, 25, 30, 35 min -> buckets starting 0, 15, 30
    assert [(r.bucket_ms, r.count) for r in rows] == [
        (T0, 1), (T0 + 15 * MIN, 3), (T0 + 30 * MIN, 2)]


def test_uneven_buckets_by_their_edges(loaded: Store):
    edges = tuple(T0 + m * MIN for m in (7, 12, 31, 37, 60, 70))
    q = MetricQuery("events", edges[0], edges[-1], filters=(O2C,), edges_ms=edges)
    # events every 5 minutes of the first hour; the last bucket is empty and still there
    assert [(r.bucket_ms, r.count) for r in loaded.metric(q)] == [
        (edges[0], 1), (edges[1], 4), (edges[2], 1), (edges[3], 4), (edges[4], 0)]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter("midwatch.platform", "eq", "kafka"), 3),
        (Filter("midwatch.platform", "in", ("kafka", "boomi")), 6),
        (Filter("event.dataset", "prefix", "mule"), 3),
        (Filter("event.duration", "range", (3_000_000, 6_000_000)), 3),
        (Filter("event.duration", "range", (None, 3_000_000)), 2),
        (Filter("@timestamp", "range", (T0 + 50 * MIN, None)), 2),
        (Filter("error.message", "exists"), 3),
        (Filter("message", "contains", "refused"), 2),
        (Filter("service.name", "contains", "api"), 3),
        (Filter("midwatch.ids", "eq", "order:4712"), 4),
        (Filter("midwatch.ids", "prefix", "x12."), 4),
        (Filter("labels.env", "eq", "prod"), 6),
        (Filter("event.outcome", "eq", "failure", negate=True), 14),
        (Filter("error.message", "exists", negate=True), 14),
        (Filter("midwatch.flow", "in", ("o2c", "edi"), negate=True), 1),
        (Filter("midwatch.partner", "eq", "ACME", negate=True), 13),
    ],
)
def test_filters(loaded: Store, flt: Filter, expected: int):
    assert count(loaded, flt) == expected


def test_unknown_field_is_an_actionable_error(loaded: Store):
    q = MetricQuery("events", *WINDOW, group_by=("midwatch.flw",))
    with pytest.raises(ValueError, match="did you mean 'midwatch.flow'"):
        loaded.metric(q)
    with pytest.raises(ValueError, match="time_field '@timestamp' is not a date of index 'traces'"):
        loaded.metric(MetricQuery("traces", *WINDOW))


def test_metrics_batch_equals_single_queries(loaded: Store):
    qs = [
        MetricQuery("events", *WINDOW, group_by=("midwatch.flow",)),
        MetricQuery("events", *WINDOW, Agg("ratio", where=(FAILED,)), group_by=("midwatch.platform",)),
        MetricQuery("events", T0, T0 + 2 * HOUR, bucket_ms=20 * MIN, filters=(O2C,)),
        MetricQuery("traces", *WINDOW, Agg("percentile", "duration_ms", q=50), time_field="started_at",
                    group_by=("flow",)),
        MetricQuery("events", T0 - HOUR, T0, Agg("avg", "event.duration")),
    ]
    batch = loaded.metrics(qs)
    assert batch == [loaded.metric(q) for q in qs]
    assert batch[0][0].group == {"midwatch.flow": "o2c"} and batch[4] == [MetricRow({}, None, 0)]
    assert loaded.metrics([]) == []
