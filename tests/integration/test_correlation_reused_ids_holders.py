"""Reused IDs and the join window, found in review: the answer must not depend on what is in
memory, an orphan acknowledgement must not swallow the next document, and an acknowledgement
of a group must reach a stored document whose set control number was reused since. Each test
runs on SQLite and Elasticsearch, with traces held as objects and packed; each failed before
its fix (see the test's doc)."""

from __future__ import annotations

import pytest
import test_correlation_reused_ids as reused
from test_correlation_reused_ids import CATALOG, DAY, HOUR, MONDAY, ST, ev, restart, run, traces

from collector.correlation import trace_repair
from collector.correlation.correlator import Correlator
from collector.correlation.trace_repair import TraceRepair
from collector.store.sqlite import SQLiteStore

MINUTE = 60_000
store = reused.store  # SQLite and Elasticsearch
packing = reused.packing  # traces held as objects, then packed
GS1, GS2 = "x12.gs:ME:ACME:1", "x12.gs:ME:ACME:2"


def edi_850(name: str, at: int, ids: list[str]):
    return ev(name, at, ids, platform="edi", action="sent")


def edi_997(name: str, at: int, ids: list[str], **kw):
    return ev(name, at, ids, platform="edi", action="acknowledged", outcome="success", **kw)


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "restarted"])
def test_a_late_event_of_the_earlier_message_finds_it_after_its_id_moved(store, restarted):
    """A request ID reused 20 minutes later moved to the newer call's trace; the earlier
    call's late backend event carrying only that ID joins the earlier call (before: compared
    with the newer trace only, it made a third trace in memory)."""
    c = Correlator(CATALOG, store)
    run(c, store, [ev("gw-1", MONDAY, ["http.request:r-1", "correlation:c-1"])])
    run(c, store, [ev("gw-2", MONDAY + 20 * MINUTE, ["http.request:r-1", "correlation:c-2"])])
    if restarted:
        c = restart(store)
    run(c, store, [ev("be-1", MONDAY + MINUTE, ["http.request:r-1"])])
    found = traces(store)
    assert [(t.hop_count, sorted(i for i in t.ids if i.startswith("correlation:")))
            for t in found] == [(2, ["correlation:c-1"]), (1, ["correlation:c-2"])]


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "restarted"])
def test_a_late_ack_answers_its_own_document_in_memory_as_after_a_restart(store, restarted):
    """Monday's 850 and Wednesday's with the same ST02; Monday's 997 comes three hours after
    Monday's 850. Before: in memory it joined Wednesday's (the one ``_index`` named, the ack
    window held both ways), after a restart Monday's."""
    c = Correlator(CATALOG, store)
    run(c, store, [edi_850("850-1", MONDAY, [ST, "order:po-1"])])
    run(c, store, [edi_850("850-2", MONDAY + 2 * DAY, [ST, "order:po-2"])])
    if restarted:
        c = restart(store)
    run(c, store, [edi_997("997-1", MONDAY + 3 * HOUR, [ST])])
    found = traces(store)
    assert [(t.hop_count, t.status) for t in found] == [(2, "acknowledged"), (1, "in_flight")]
    assert "order:po-1" in found[0].ids


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "restarted"])
def test_an_orphan_ack_does_not_swallow_the_next_document(store, restarted):
    """A 997 with no document, then two days later the partner's next 850 with the same
    hard-coded ST02: two traces, the 850 still waiting for its ack (before: one trace,
    acknowledged at once, and the missing-ack alert never fired)."""
    c = Correlator(CATALOG, store)
    run(c, store, [edi_997("997-0", MONDAY, [ST])])
    if restarted:
        c = restart(store)
    run(c, store, [edi_850("850-1", MONDAY + 2 * DAY, [ST, "order:po-1"])])
    found = traces(store)
    assert [(t.hop_count, t.status) for t in found] == [(1, "acknowledged"), (1, "in_flight")]
    assert "order:po-1" in found[1].ids


def test_a_group_ack_reaches_a_stored_document_whose_st_was_reused(store):
    """Monday's 850 only in the store, Tuesday's in memory with the same ST02; a 997 of
    Monday's whole group (GS) answers Monday's 850 (before: the stored trace was neither
    merged nor taken in, so the acknowledgement was lost)."""
    c = Correlator(CATALOG, store)
    run(c, store, [edi_850("850-1", MONDAY, [ST, "order:po-1", GS1])])
    c = restart(store)
    run(c, store, [edi_850("850-2", MONDAY + DAY, [ST, "order:po-2", GS2])])
    run(c, store, [edi_997("997-g1", MONDAY + 3 * HOUR, [GS1], labels={"ack_scope": "group"})])
    found = traces(store)
    assert [(t.hop_count, t.status) for t in found] == [(2, "acknowledged"), (1, "in_flight")]
    assert GS1 in found[0].ids


def test_a_documents_look_up_reaches_its_ids_own_window_not_the_ack_week(store):
    """A partner that hard-codes ST02 sends an 850 a day: each new 850's look-up by that ST
    reached 7 days back (the acknowledgement window, for every ID type) and read a week of
    the partner's traces every flush. A document reaches back by the clock skew only; an
    acknowledgement still reaches the week back to its document."""
    c = Correlator(CATALOG, store)
    for day in range(4):
        run(c, store, [edi_850(f"850-{day}", MONDAY + day * DAY, [ST, f"order:po-{day}"])])
    c = restart(store)
    read: list[str] = []
    fetch = store.get_traces_by_ids

    def counted(ids, **kw):  # the real store's answer, noted
        found = fetch(ids, **kw)
        read.extend(t.trace_key for t in found)
        return found

    store.get_traces_by_ids = counted
    run(c, store, [edi_850("850-5", MONDAY + 5 * DAY, [ST, "order:po-5"])])
    # Only the trace under the ST's own key (a key is found whatever its time, see Store).
    assert read == [ST]
    read.clear()
    run(c, store, [edi_997("997-3", MONDAY + 3 * DAY + 4 * HOUR, [ST])])
    # An ack looks a week back (the four earlier 850s), not at the 850 44 h after it.
    assert sorted(read) == sorted(t.trace_key for t in traces(store)[:4])
    found = traces(store)
    assert [(t.hop_count, t.status) for t in found] == [
        (1, "in_flight"), (1, "in_flight"), (1, "in_flight"), (2, "acknowledged"),
        (1, "in_flight")]


def test_the_repair_does_not_reread_a_reused_id_every_round(store, monkeypatch):
    """A request ID reused by three calls a day apart is shared for good and sorts first; the
    repair read it every round, so past ``MAX_SHARED_IDS`` (here 1) of such IDs a real split
    was never looked at. Found apart once, it waits ``SETTLED_ROUNDS`` rounds."""
    monkeypatch.setattr(trace_repair, "MAX_SHARED_IDS", 1)
    now = MONDAY + 3 * DAY
    c = Correlator(CATALOG, store)
    for day in range(3):
        run(c, store, [ev(f"gw-{day}", MONDAY + day * DAY, ["http.request:r-7", f"correlation:c-{day}"])])
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    one.process([ev("s1", now - 20_000, ["correlation:s", "order:split"])])
    two.process([ev("s2", now - 10_000, ["order:split"])])
    two._resolve()  # nothing stored yet for it: the race that splits a message
    one.flush()
    two.flush()
    store.refresh()
    assert store.shared_trace_ids(0, 10)[0] == "http.request:r-7"  # most shared first
    repair = TraceRepair(CATALOG, store, window_ms=4 * DAY)
    assert [repair.run(now), repair.run(now)] == [0, 1]
    found = traces(store)
    assert len(found) == 4 and [t.hop_count for t in found if "order:split" in t.ids] == [2]


def test_the_repair_measures_a_run_of_holders_as_their_union(store):
    """An 850 and its 997 split by two collectors, and the partner's next 850 with the same
    ST02 four hours after the 997, written by a third: the repair joins the first two only.
    Measured against the 997 alone (the run's latest trace), the next 850 read as within an
    early ack's clock skew, and all three became one trace."""
    now = MONDAY + 2 * DAY
    docs_then_ack = [edi_850("850-1", now - 8 * HOUR, ["order:po-1", ST]),
                     edi_997("997-1", now - 5 * HOUR, [ST]),
                     edi_850("850-2", now - HOUR, ["order:po-2", ST])]
    collectors = [Correlator(CATALOG, store) for _ in docs_then_ack]
    for c, e in zip(collectors, docs_then_ack, strict=True):
        c.process([e])
        c._resolve()  # nothing stored yet: each writes a trace of its own
    for c in collectors:
        c.flush()
    store.refresh()
    assert len(traces(store)) == 3
    assert TraceRepair(CATALOG, store, window_ms=DAY).run(now) == 1
    found = traces(store)
    assert [(t.hop_count, t.status) for t in found] == [(2, "acknowledged"), (1, "in_flight")]
    assert "order:po-2" in found[1].ids


def test_a_stored_ack_near_two_documents_that_reused_its_st_joins_one(store, tmp_path):
    """Found in review of the earlier holders: a 997 stored by another collector, within the
    ack window of Monday's and Wednesday's 850 (one hard-coded ST02), was folded with both:
    one trace holding po-1, po-2 and the ack. It joins the one ``_join`` would pick."""
    other = SQLiteStore(str(tmp_path / "other.sqlite"))
    other.setup()
    try:
        ack = edi_997("997-2", MONDAY + 2 * DAY + HOUR, [ST])
        run(Correlator(CATALOG, other), other, [ack])  # the collector that saw only the 997
        (stored,) = traces(other)
    finally:
        other.close()
    stored.version, stored.trace_key = None, f"{ST}@late-ack"
    c = Correlator(CATALOG, store)
    run(c, store, [edi_850("850-1", MONDAY, [ST, "order:po-1"])])
    store.upsert_traces([stored])
    store.write_events([ack])
    store.refresh()
    run(c, store, [edi_850("850-2", MONDAY + 2 * DAY, [ST, "order:po-2"])])
    found = traces(store)
    assert sorted(sorted(i for i in t.ids if i.startswith("order:")) for t in found) == \
        [["order:po-1"], ["order:po-2"]]
    (wednesday,) = [t for t in found if "order:po-2" in t.ids]
    assert wednesday.hop_count == 2 and wednesday.status == "acknowledged"
