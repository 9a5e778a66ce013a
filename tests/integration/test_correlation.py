"""Correlation end to end against the real stores (SQLite and Elasticsearch, same tests).

Events from five platforms (API gateway, Mule, Kafka, Boomi, EDI X12) and the ERP bridge,
delivered out of order and in several batches, must come out as exactly the expected traces;
replays, restarts, a tiny in-memory cap and two competing collectors must not change that.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.correlation import correlator as correlator_module
from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event, event_id
from collector.store.base import Store, TraceQuery
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from collector.trace import Trace
from collector.yamlconf import load

CATALOG = build_catalog(load(Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"))
NOW = (int(time.time()) // 60) * 60_000
T0 = NOW - 5 * 3_600_000
S = 1000
ACK = "ME:ACME"  # X12 parties as the parser writes them: sender:receiver of the original


def _ev(n: int, at: int, platform: str, ids: list[str], **kw) -> Event:
    ev = Event(timestamp_ms=at, dataset=f"{platform}.test", platform=platform,
               id=event_id("scenario", str(n)), **kw)
    for i in ids:
        ev.add_id(*i.split(":", 1))
    return ev


def scenario() -> list[Event]:
    """Six messages: completed, failed at mapping, completed after a retry, stuck in Mule,
    an 850 acknowledged by its 997, and an 850 of the same group whose 997 never came."""
    api = {"url_path": "/api/orders"}
    evs: list[Event] = []
    for k, (order, t) in enumerate([("4711", T0), ("4712", T0 + 60 * S), ("4713", T0 + 120 * S),
                                    ("4714", T0 + 180 * S)]):
        n = 10 * k
        corr, exec_id = f"correlation:c-{order}", f"boomi.exec:e-{order}"
        evs += [
            _ev(n, t, "apigw", [corr, f"http.request:r-{order}"], labels=api, action="received",
                service="kong", outcome="success"),
            _ev(n + 1, t + 1 * S, "mulesoft", [corr, f"order:{order}"], service="order-sync-v2",
                action="transformed", outcome="success"),
        ]
        if order == "4714":
            continue  # stuck in Mule
        evs.append(_ev(n + 2, t + 2 * S, "kafka", [f"kafka.key:{order}", f"order:{order}"],
                       labels={"kafka_topic": "orders.v1"}, action="published",
                       outcome="success"))
        if order == "4712":
            evs.append(_ev(n + 3, t + 3 * S, "boomi", [exec_id, f"order:{order}"],
                           service="Orders to ERP", outcome="failure", error_class="mapping",
                           error_message="Map 'Order->IDoc': field PO_NUMBER is required",
                           level="error", action="failed"))
            continue
        if order == "4713":
            evs += [
                _ev(n + 3, t + 3 * S, "boomi", [exec_id, f"order:{order}"],
                    service="Orders to ERP", outcome="failure", error_class="connectivity",
                    error_message="Connection refused: sap-host:3300", action="failed"),
                _ev(n + 4, t + 30 * S, "boomi", [f"boomi.exec:e-{order}-retry", exec_id],
                    service="Orders to ERP", outcome="success", action="retried"),
            ]
            exec_id = f"boomi.exec:e-{order}-retry"
        else:
            evs.append(_ev(n + 3, t + 3 * S, "boomi", [exec_id, f"order:{order}"],
                           service="Orders to ERP", outcome="success", action="sent"))
        evs.append(_ev(n + 5, t + 40 * S, "generic", [exec_id], service="sap-bridge",
                       action="delivered", outcome="success", message="IDoc posted"))
    for st, po in (("0001", "PO-1"), ("0002", "PO-2")):
        evs.append(_ev(100 + int(st), T0 + 300 * S, "edi",
                       [f"x12.st:{ACK}:17:{st}", f"x12.gs:{ACK}:17", f"x12.isa:{ACK}:000000905",
                        f"order:{po}"], partner="ACME", action="sent", outcome="success",
                       labels={"x12_transaction_set": "850"}))
    evs.append(_ev(200, T0 + 900 * S, "edi", [f"x12.st:{ACK}:17:0001", f"x12.gs:{ACK}:17"],
                   partner="ACME", action="acknowledged", outcome="success",
                   labels={"x12_transaction_set": "850", "x12_ack_type": "997"}))
    return evs


EXPECTED = {  # trace key -> (flow, status before the sweep, stages in time order)
    "correlation:c-4711": ("order-to-cash", "completed",
                           ["api.received", "mule.transformed", "kafka.published",
                            "boomi.processed", "erp.posted"]),
    "correlation:c-4712": ("order-to-cash", "failed",
                           ["api.received", "mule.transformed", "kafka.published",
                            "boomi.mapping_failed"]),
    "correlation:c-4713": ("order-to-cash", "completed",
                           ["api.received", "mule.transformed", "kafka.published",
                            "boomi.processed", "erp.posted"]),
    "correlation:c-4714": ("order-to-cash", "in_flight", ["api.received", "mule.transformed"]),
    f"x12.st:{ACK}:17:0001": ("edi-850-outbound", "acknowledged",
                              ["edi.850.sent", "edi.997.received"]),
    f"x12.st:{ACK}:17:0002": ("edi-850-outbound", "in_flight", ["edi.850.sent"]),
}


# ------------------------------------------------------------------ fixtures


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path / "midwatch.sqlite")
        s.setup()
        yield s
        s.close()
        return
    es, prefix = request.getfixturevalue("es"), request.getfixturevalue("es_index_prefix")
    s = ElasticsearchStore(client=es, index_prefix=prefix)
    s.setup()
    yield s


@pytest.fixture(autouse=True, params=["hot", "packed"])
def packing(request, monkeypatch) -> None:
    """Every test twice: with traces kept as objects, and with every written trace packed
    into bytes at once (``hot_traces=0``), so that each later event unpacks it."""
    if request.param == "packed":
        monkeypatch.setattr(correlator_module, "HOT_TRACES", 0)


def run(correlator: Correlator, store: Store, events: list[Event], batch: int = 7) -> None:
    """What the pipeline does per batch, in its order."""
    for start in range(0, len(events), batch):
        chunk = events[start:start + batch]
        correlator.process(chunk)
        store.write_events(chunk)
        correlator.flush()


def traces(store: Store) -> dict[str, Trace]:
    store.refresh()
    found = store.search_traces(TraceQuery(limit=100))
    return {t.trace_key: t for t in found}


def shuffled(seed: int) -> list[Event]:
    evs = scenario()
    random.Random(seed).shuffle(evs)
    return evs


def assert_expected(store: Store, *, swept: bool = False) -> dict[str, Trace]:
    got = traces(store)
    assert sorted(got) == sorted(EXPECTED)
    for key, (flow, status, stages) in EXPECTED.items():
        t = got[key]
        if swept and status == "in_flight":
            status = "stuck"
        assert (t.flow, t.status, list(t.stages)) == (flow, status, stages), key
        times = [h.timestamp_ms for h in t.hops]
        assert times == sorted(times)
        assert t.hop_count == len(t.hops)
    return got


# ------------------------------------------------------------------ tests


def test_events_correlate_into_the_expected_traces(store):
    run(Correlator(CATALOG, store), store, shuffled(1))
    got = assert_expected(store)
    a = got["correlation:c-4711"]
    assert set(a.ids) == {"correlation:c-4711", "http.request:r-4711", "order:4711",
                          "kafka.key:4711", "boomi.exec:e-4711"}
    assert [h.latency_ms for h in a.hops] == [None, 1000, 1000, 1000, 37000]
    assert (a.duration_ms, a.sla_breached, a.retry_count) == (40_000, False, 0)
    b = got["correlation:c-4712"]
    assert b.last_error == {"class": "mapping", "stage": "boomi.mapping_failed",
                            "message": "Map 'Order->IDoc': field PO_NUMBER is required"}
    c = got["correlation:c-4713"]
    assert (c.retry_count, c.error_count, c.hop_count) == (1, 1, 6)
    ack = got[f"x12.st:{ACK}:17:0001"]
    assert ack.partner == "ACME" and f"x12.gs:{ACK}:17" in ack.ids  # kept, but not a link
    assert store.get_trace("4711").trace_key == "correlation:c-4711"
    assert store.get_trace("PO-2").trace_key == f"x12.st:{ACK}:17:0002"
    # the events were stored with the flow and stage the correlator gave them
    stored = store.trace_events(a)
    assert [e.stage for e in stored] == list(a.stages)


def test_the_sweep_marks_overdue_traces_stuck_in_memory_and_in_the_store(store):
    first = Correlator(CATALOG, store)
    run(first, store, scenario())
    newly = first.sweep(NOW)
    assert sorted(t.trace_key for t in newly) == ["correlation:c-4714", f"x12.st:{ACK}:17:0002"]
    got = assert_expected(store, swept=True)
    assert got["correlation:c-4714"].sla_breached
    assert first.sweep(NOW + 60_000) == []  # reported once
    # a collector that never saw those messages finds overdue ones in the store
    late = _ev(999, NOW - 10 * 60 * S, "mulesoft", ["correlation:c-late", "order:late"],
               service="order-sync-v2", outcome="success")
    run(Correlator(CATALOG, store), store, [late])
    store.refresh()
    fresh = Correlator(CATALOG, store)
    assert fresh.sweep(NOW) == []  # 10 minutes old: within the 15 minute SLA
    store.refresh()
    assert [t.trace_key for t in fresh.sweep(NOW + 6 * 60_000)] == ["correlation:c-late"]
    assert traces(store)["correlation:c-late"].status == "stuck"


def test_replays_and_restarts_change_nothing(store):
    evs = shuffled(2)
    run(Correlator(CATALOG, store), store, evs[:15])
    store.refresh()
    restarted = Correlator(CATALOG, store)  # resumes from the store, not from scratch
    run(restarted, store, evs[15:])
    before = {k: t.to_doc() for k, t in assert_expected(store).items()}
    run(restarted, store, evs)  # replay into warm memory
    store.refresh()
    run(Correlator(CATALOG, store), store, shuffled(3))  # replay after another restart
    after = {k: t.to_doc() for k, t in assert_expected(store).items()}
    assert after == before
    assert store.search_events([], T0 - 1, NOW, limit=1000).__len__() == len(evs)


def test_a_tiny_memory_spills_to_the_store_and_comes_back_right(store):
    small = Correlator(CATALOG, store, max_in_flight=1)
    run(small, store, shuffled(4), batch=3)
    stats = small.stats()
    assert stats["in_flight"] <= 1 and stats["evicted"] > 0 and stats["store_lookups"] > 0
    assert_expected(store)


def test_two_collectors_writing_one_message_merge_their_work(store):
    evs = [e for e in scenario() if "order:4713" in e.ids or "correlation:c-4713" in e.ids
           or any(i.startswith("boomi.exec:e-4713") for i in e.ids)]
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    run(one, store, evs[:3])
    store.refresh()  # another collector sees a write once the store's search does
    run(two, store, evs[3:4])  # finds one's trace by ID and writes on top of it
    # one's copy is stale now; an event with no new ID makes it write without reading first:
    # it loses the race, re-reads and re-applies its hop
    logged = _ev(500, T0 + 125 * S, "mulesoft", ["correlation:c-4713"], service="order-sync-v2",
                 action="logged", outcome="success")
    run(one, store, [logged])
    assert one.stats()["conflicts"] == 1
    run(one, store, evs[4:])  # carries IDs two added: found by ID, folded into the stale copy
    got = traces(store)
    assert list(got) == ["correlation:c-4713"]
    t = got["correlation:c-4713"]
    assert (t.status, t.hop_count, t.retry_count, t.error_count) == ("completed", 7, 1, 1)
    assert [h.stage for h in t.hops] == [
        "api.received", "mule.transformed", "kafka.published", "boomi.processed",
        "mule.transformed", "boomi.processed", "erp.posted"]


def test_traces_packed_in_memory_take_their_next_events(store, monkeypatch):
    monkeypatch.setattr(correlator_module, "HOT_TRACES", 2)
    correlator = Correlator(CATALOG, store)
    evs = shuffled(1)  # out of order: traces split, and merged once an event links them
    run(correlator, store, evs[:12], batch=4)
    held = correlator._live
    assert sum(type(v) is bytes for v in held.values()) >= len(held) - 2 > 0
    run(correlator, store, evs[12:], batch=4)  # joins packed traces, and merges them
    assert correlator.stats()["merges"] > 0
    assert_expected(store)
    assert [t.trace_key for t in correlator.sweep(NOW)] == [
        "correlation:c-4714", f"x12.st:{ACK}:17:0002"]
