"""IDs reused over time: a partner that hard-codes its X12 group and set control numbers, a
client that sends the same request ID again. An ID joins a trace only where that trace saw an
event within the ID's join window (``ids.join_window``) of the new one, on both stores, with
the traces in memory, packed, or only in the store (a restart), and for a backfill of older
files arriving after newer ones.

Before the window, every test here merged two messages a week apart into one trace.
"""

from __future__ import annotations

import time

import pytest
import test_correlation

from collector.correlation import trace_repair
from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.correlation.trace_repair import TraceRepair
from collector.event import Event, event_id
from collector.store.base import Store, TraceQuery
from collector.trace import Trace
from collector.yamlconf import loads

store = test_correlation.store  # SQLite and Elasticsearch
packing = test_correlation.packing  # traces held as objects, then packed

HOUR, DAY = 3_600_000, 86_400_000
MONDAY = (int(time.time() * 1000) // HOUR) * HOUR - 9 * DAY
NEXT_WEEK = MONDAY + 7 * DAY
PAIR = "ME:ACME"
ST = f"x12.st:{PAIR}:1:0001"  # GS06 1, ST02 0001 on every interchange: hard-coded
CATALOG = build_catalog(loads("""
flows:
  - name: x12-850-out
    sla: 4h
    stages:
      - {name: x12.ack, terminal: ack, match: {platform: edi, action: [acknowledged, rejected]}}
      - {name: x12.850.sent, match: {platform: edi, action: sent}}
""", "reuse.yaml"))


def ev(name: str, at: int, ids: list[str], **kw) -> Event:
    e = Event(timestamp_ms=at, dataset="test.reuse", platform=kw.pop("platform", "generic"),
              id=event_id("reuse", name), **kw)
    for i in ids:
        e.add_id(*i.split(":", 1))
    e.message_id = ids[0]
    return e


def order(n: int, at: int, request: str) -> list[Event]:
    """A gateway call with a request ID, then the Mule flow that names the order."""
    return [ev(f"gw-{n}", at, [f"http.request:{request}", f"correlation:c-{n}"]),
            ev(f"mule-{n}", at + 2_000, [f"correlation:c-{n}", f"order:{n}"]),
            ev(f"erp-{n}", at + 60_000, [f"order:{n}"], outcome="success")]


def edi(day: int, at: int) -> list[Event]:
    """An 850 sent and its 997 three hours later, same control numbers every time."""
    return [ev(f"850-{day}", at, [ST, f"order:po-{day}"], platform="edi", action="sent"),
            ev(f"997-{day}", at + 3 * HOUR, [ST], platform="edi", action="acknowledged",
               outcome="success")]


def restart(s: Store) -> Correlator:
    """A new process: memory empty, the store's searches caught up (Elasticsearch refreshes
    within a second; a split in that second is the repair's to mend)."""
    s.refresh()
    return Correlator(CATALOG, s)


def run(correlator: Correlator, s: Store, events: list[Event]) -> None:
    correlator.process(events)
    s.write_events(events)
    correlator.flush()


def traces(s: Store) -> list[Trace]:
    s.refresh()
    return sorted(s.search_traces(TraceQuery(limit=100)), key=lambda t: t.started_ms)


def holding(found: list[Trace], typed_id: str) -> list[Trace]:
    return [t for t in found if typed_id in t.ids]


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "restarted"])
def test_a_request_id_reused_a_week_later_starts_a_new_trace(store, restarted):
    c = Correlator(CATALOG, store)
    run(c, store, order(100, MONDAY, "r-1"))
    if restarted:
        c = restart(store)  # the first trace is only in the store now
    run(c, store, order(200, NEXT_WEEK, "r-1"))
    found = traces(store)
    assert [sorted(i for i in t.ids if i.startswith("order:")) for t in found] == \
        [["order:100"], ["order:200"]]
    assert [t.hop_count for t in found] == [3, 3]
    assert len({t.trace_key for t in found}) == 2
    # A lookup by the reused ID lists both messages, the latest first.
    assert [t.started_ms for t in store.find_traces("http.request:r-1")] == \
        [NEXT_WEEK, MONDAY]
    assert store.get_trace("http.request:r-1").started_ms == NEXT_WEEK
    # Its page shows its own events, not last week's that carried the same request ID.
    assert [e.id for e in store.trace_events(found[1])] == \
        [h.event_id for h in found[1].hops]

    # The same request retried within minutes is the same message.
    run(c, store, [ev("gw-200-retry", NEXT_WEEK + 5 * 60_000, ["http.request:r-1"])])
    found = traces(store)
    assert [t.hop_count for t in found] == [3, 4]


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "restarted"])
def test_hard_coded_edi_control_numbers_keep_each_interchange_apart(store, restarted):
    c = Correlator(CATALOG, store)
    run(c, store, edi(1, MONDAY))
    if restarted:
        c = restart(store)
    run(c, store, edi(2, MONDAY + DAY))
    found = traces(store)
    assert len(found) == 2
    for t, day in zip(found, (1, 2), strict=True):
        assert f"order:po-{day}" in t.ids and ST in t.ids
        assert (t.hop_count, t.status) == (2, "acknowledged")


def test_an_ack_answers_the_nearest_document_not_last_weeks(store):
    """A 997 may come days later (its window is 7 days), but it joins one trace: the latest
    document with its control number, not that one and last week's together."""
    c = Correlator(CATALOG, store)
    first = edi(1, MONDAY)
    run(c, store, first[:1])  # last week's 850, never acknowledged
    c = restart(store)
    run(c, store, [ev("850-2", MONDAY + 2 * DAY, [ST, "order:po-2"], platform="edi",
                      action="sent")])
    c = restart(store)  # the ack meets both only in the store
    run(c, store, [ev("997-2", MONDAY + 3 * DAY, [ST], platform="edi", action="acknowledged",
                      outcome="success")])
    found = traces(store)
    assert [(t.hop_count, t.status) for t in found] == [(1, "in_flight"), (2, "acknowledged")]
    assert "order:po-2" in found[1].ids


def test_a_backfill_of_older_files_joins_within_its_own_time(store):
    """Next week's message first, then last week's files: the old events join each other
    (even an event carrying only the reused ID), not the newer trace."""
    c = Correlator(CATALOG, store)
    run(c, store, order(200, NEXT_WEEK, "r-1"))
    old = order(100, MONDAY, "r-1")
    run(c, store, old[:2])
    c = restart(store)
    run(c, store, [old[2], ev("gw-100-late", MONDAY + 30_000, ["http.request:r-1"])])
    found = traces(store)
    assert [(t.started_ms, t.hop_count) for t in found] == [(MONDAY, 4), (NEXT_WEEK, 3)]
    assert "order:100" in found[0].ids and "order:200" not in found[0].ids


def test_repair_merges_a_split_message_but_not_two_that_reused_an_id(store):
    """The scale-out repair sees IDs held by several traces: a message split by two
    collectors (minutes apart) is merged; two messages a day apart are left apart."""
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    now = NEXT_WEEK
    one.process([ev("a1", now - 2 * DAY, ["http.request:r-9", "correlation:x"])])
    one.flush()
    one.process([ev("a2", now - 60_000, ["http.request:r-9", "correlation:y"])])
    two.process([ev("a3", now - 30_000, ["correlation:y", "order:9"])])
    two._resolve()  # nothing stored yet for it: the race that splits a message
    one.flush()
    two.flush()
    store.refresh()
    repair = TraceRepair(CATALOG, store, window_ms=3 * DAY)
    assert repair.run(now) == 1
    found = traces(store)
    assert [sorted(t.ids) for t in found] == [
        ["correlation:x", "http.request:r-9"],
        ["correlation:y", "http.request:r-9", "order:9"]]
    store.refresh()
    assert repair.run(now) == 0


def test_the_repair_counts_only_ids_that_join(store, monkeypatch):
    """Envelope IDs are shared by every order of an interchange: counted among the shared
    IDs, they filled the round (``MAX_SHARED_IDS``, here 1) and a real split waited forever."""
    monkeypatch.setattr(trace_repair, "MAX_SHARED_IDS", 1)
    isa = f"x12.isa:{PAIR}:000000905"
    c = Correlator(CATALOG, store)
    run(c, store, [ev(f"po-{k}", NEXT_WEEK + k, [f"order:po-{k}", isa]) for k in range(3)])
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    one.process([ev("s1", NEXT_WEEK + 10, ["correlation:s", "order:split"])])
    two.process([ev("s2", NEXT_WEEK + 20, ["order:split"])])
    two._resolve()
    one.flush()
    two.flush()
    store.refresh()
    assert store.shared_trace_ids(0, 10) == [isa, "order:split"]  # most shared first
    assert store.shared_trace_ids(0, 10, skip_kinds={"x12.isa", "x12.gs"}) == ["order:split"]
    assert store.shared_trace_ids(0, 10, only_kinds={"x12.isa"}) == [isa]
    assert TraceRepair(CATALOG, store, window_ms=DAY).run(NEXT_WEEK) == 1
    found = traces(store)
    assert len(found) == 4 and len(holding(found, "order:split")) == 1


def test_an_ack_stamped_before_its_document_still_joins(store):
    """A partner's ISA/GS times are its local time: five hours west of the reader, its 997
    reads as five hours older than the 850 it answers. The acknowledgement window holds
    whichever comes first."""
    c = Correlator(CATALOG, store)
    run(c, store, [ev("850-w", MONDAY, [ST, "order:po-w"], platform="edi", action="sent")])
    c = restart(store)
    run(c, store, [ev("997-w", MONDAY - 5 * HOUR + 20 * 60_000, [ST], platform="edi",
                      action="acknowledged", outcome="success")])
    (t,) = traces(store)
    assert (t.hop_count, t.status) == (2, "acknowledged")
