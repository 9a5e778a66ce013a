"""Trace arithmetic without a store: ordering, latency, dedupe, caps with exact counts,
merges and the status machine."""

from __future__ import annotations

import copy
import random

import pytest

from collector.correlation import tracebuild
from collector.correlation.catalog import Flow, Stage
from collector.correlation.tracebuild import (
    add_hop,
    add_hops,
    mark_stuck,
    merge,
    new_trace,
    overdue,
    retries,
    settle,
)
from collector.trace import Hop

T0 = 1_700_000_000_000
O2C = Flow("o2c", 60_000, (Stage("api"), Stage("mule"), Stage("boomi.failed", "failure"),
                           Stage("erp", "success")))
EDI = Flow("edi", 3_600_000, (Stage("850.sent"), Stage("997", "ack")))


def hop(n: int, stage: str | None, *, t: int | None = None, outcome: str = "success",
        action: str | None = None, eid: str | None = None) -> Hop:
    return Hop(stage=stage, service="svc", platform="generic",
               timestamp_ms=T0 + (n * 1000 if t is None else t), outcome=outcome,
               event_id=eid or f"e{n}", action=action,
               error_class="mapping" if outcome == "failure" else None,
               error_message="bad map" if outcome == "failure" else None)


@pytest.fixture
def insert_calls(monkeypatch) -> list[Hop]:
    """The hops ``add_hop`` handed to the real ``_insert``: a test of the insert path must fail
    when that path is no longer taken (the results alone are the same through ``_set_hops``)."""
    calls: list[Hop] = []
    real = tracebuild._insert

    def spy(trace, hops, hop):
        calls.append(hop)
        real(trace, hops, hop)

    monkeypatch.setattr(tracebuild, "_insert", spy)
    return calls


def trace_of(*hops: Hop, key: str = "correlation:a", flow: str = "o2c"):
    t = new_trace(key, hops[0], flow, None)
    t.ids.append(key)
    add_hops(t, hops)
    return t


def test_out_of_order_hops_are_ordered_and_latency_recomputed():
    t = trace_of(hop(0, "api"), hop(5, "erp"))
    add_hops(t, [hop(2, "mule")])
    assert [h.stage for h in t.hops] == ["api", "mule", "erp"]
    assert [h.latency_ms for h in t.hops] == [None, 2000, 3000]
    assert t.stages == ("api", "mule", "erp")
    assert (t.started_ms, t.last_seen_ms, t.hop_count) == (T0, T0 + 5000, 3)


def test_late_event_earlier_than_the_first_moves_the_start():
    t = trace_of(hop(5, "mule"))
    add_hops(t, [hop(1, "api")])
    assert t.started_ms == T0 + 1000 and t.hops[0].stage == "api"


def test_replayed_hops_change_nothing():
    t = trace_of(hop(0, "api"), hop(1, "mule", outcome="failure"))
    before = t.to_doc()
    assert add_hops(t, [hop(0, "api"), hop(1, "mule", outcome="failure")]) == []
    assert t.to_doc() == before


def test_retries_counted_once_whether_marked_repeated_or_both():
    assert retries([hop(0, "mule"), hop(1, "mule")]) == 1
    assert retries([hop(0, "mule"), hop(1, "mule", action="retried")]) == 1
    assert retries([hop(0, "mule", action="sent"), hop(1, "mule", action="retried"),
                    hop(2, "mule", action="sent")]) == 1
    # different steps of one stage are not retries
    assert retries([hop(0, "mule", action="received"), hop(1, "mule", action="sent")]) == 0
    assert retries([hop(0, None), hop(1, None)]) == 0


def test_failure_then_retry_then_terminal_success_completes_with_retry_count():
    t = trace_of(hop(0, "api"), hop(1, "boomi.failed", outcome="failure"))
    settle(t, O2C)
    assert t.status == "failed" and t.last_error == {"class": "mapping", "message": "bad map",
                                                     "stage": "boomi.failed"}
    add_hops(t, [hop(2, "mule", action="retried")])
    settle(t, O2C)
    assert t.status == "in_flight"  # a retry reopens a failed message
    add_hops(t, [hop(3, "erp")])
    settle(t, O2C)
    assert (t.status, t.retry_count, t.error_count, t.ended_ms) == ("completed", 1, 1, T0 + 3000)
    assert t.sla_breached is False and t.duration_ms == 3000


def test_sla_breach_on_a_slow_completion():
    t = trace_of(hop(0, "api"), hop(61, "erp"))
    settle(t, O2C)
    assert t.status == "completed" and t.sla_breached


def test_dead_letter_fails_the_message():
    t = trace_of(hop(0, "api"), hop(1, "mule", action="dead_lettered", outcome="failure"))
    settle(t, O2C)
    assert t.dead_lettered and t.status == "failed" and t.ended_ms == T0 + 1000


def test_edi_ack_and_reject():
    ok = trace_of(hop(0, "850.sent"), hop(1, "997", action="acknowledged"), flow="edi")
    settle(ok, EDI)
    assert ok.status == "acknowledged"
    bad = trace_of(hop(0, "850.sent"), hop(1, "997", action="rejected", outcome="failure"),
                   flow="edi")
    settle(bad, EDI)
    assert bad.status == "rejected" and bad.error_count == 1


def test_stuck_is_decided_by_time_and_holds_until_a_terminal_stage():
    t = trace_of(hop(0, "api"))
    settle(t, O2C)
    assert not overdue(t, O2C, T0 + 60_000)
    assert overdue(t, O2C, T0 + 60_001)
    mark_stuck(t)
    add_hops(t, [hop(70, "mule")])
    settle(t, O2C)
    assert t.status == "stuck" and t.sla_breached
    assert not overdue(t, O2C, T0 + 10**9)  # already stuck: reported once
    add_hops(t, [hop(80, "erp")])
    settle(t, O2C)
    assert t.status == "completed" and t.sla_breached


def test_unknown_flow_fails_on_a_failed_last_hop():
    unknown = Flow("unknown", 3_600_000)
    t = trace_of(hop(0, None), hop(1, None, outcome="failure"), flow="unknown")
    settle(t, unknown)
    assert t.status == "failed"


def test_cap_keeps_first_and_last_hops_and_exact_counts():
    t = trace_of(hop(0, "api"))
    storm = [hop(i, "mule", action="retried", outcome="failure") for i in range(1, 500)]
    add_hops(t, storm, max_hops=20)
    add_hops(t, [hop(600, "erp")], max_hops=20)
    settle(t, O2C)
    assert len(t.hops) == 20
    assert (t.hop_count, t.error_count, t.retry_count) == (501, 499, 499)
    assert t.hops[0].stage == "api" and t.hops[-1].stage == "erp"
    assert t.status == "completed"
    assert len(t.to_doc()["hops"]) == 20


def test_merge_keeps_the_earlier_key_and_counts_exact_after_caps():
    a = new_trace("order:9", hop(5, "mule"), "o2c", None)
    a.ids.append("order:9")
    add_hops(a, [hop(5, "mule"), *[hop(i, "mule", action="retried") for i in range(6, 40)]],
             max_hops=10)
    assert (len(a.hops), a.hop_count, a.retry_count) == (10, 35, 34)
    b = trace_of(hop(0, "api"), hop(6, "mule", action="retried"), key="correlation:z")
    b.version = 7
    kept, gone = merge(a, b, max_hops=10)
    assert kept is b and gone is a  # b started earlier
    assert kept.trace_key == "correlation:z" and set(kept.ids) == {"correlation:z", "order:9"}
    assert (kept.hop_count, kept.retry_count) == (36, 34)  # e6 is in both
    assert kept.version == 7 and len(kept.hops) == 10
    assert kept.hops[0].stage == "api"
    assert [h.timestamp_ms for h in kept.hops] == sorted(h.timestamp_ms for h in kept.hops)


def test_merge_of_two_copies_of_one_document_keeps_the_stored_version():
    stored = trace_of(hop(0, "api"))
    stored.version = (3, 1)
    memory = trace_of(hop(0, "api"), hop(1, "mule"))
    kept, _ = merge(stored, memory)
    assert kept.version == (3, 1) and kept.hop_count == 2


def test_adding_one_hop_gives_what_adding_it_as_a_list_gives(insert_calls):
    """``add_hop`` appends (or inserts) in place of re-deriving when it can; on random histories (out of
    order, equal times, replays, retries, dead letters, caps, merges, unnamed stages) it must
    leave every trace exactly as ``add_hops`` does."""
    rng = random.Random(7)
    stages = ["api", "mule", "boomi.failed", "erp", None]
    actions = [None, None, None, "retried", "dead_lettered", "sent"]
    fast_paths = inserts = stageless = 0
    for _ in range(300):
        max_hops = rng.choice([4, 8, 200])
        fast, slow = trace_of(hop(0, "api")), trace_of(hop(0, "api"))
        for n in range(1, rng.randint(2, 14)):
            if rng.random() < 0.1:  # a merge with another trace
                other = trace_of(hop(n, rng.choice(stages), t=rng.randint(0, 20_000)),
                                 key=f"correlation:m{n}")
                fast = merge(fast, copy.deepcopy(other), max_hops=max_hops)[0]
                slow = merge(slow, copy.deepcopy(other), max_hops=max_hops)[0]
                continue
            h = hop(rng.randint(0, 40) if rng.random() < 0.2 else n, rng.choice(stages),
                    t=rng.choice([None, None, rng.randint(0, 20_000)]),
                    outcome=rng.choice(["success", "success", "failure"]),
                    action=rng.choice(actions))
            own_path = (slow.hop_count == len(slow.hops) < max_hops
                        and all(x.event_id != h.event_id for x in slow.hops))
            appends = own_path and h.timestamp_ms >= slow.hops[-1].timestamp_ms
            fast_paths += appends
            inserts += own_path and not appends
            stageless += own_path and not appends and h.stage is None
            added = add_hop(fast, copy.deepcopy(h), max_hops=max_hops)
            assert added == bool(add_hops(slow, [copy.deepcopy(h)], max_hops=max_hops))
            assert fast.to_doc() == slow.to_doc()
            assert (fast.hop_count, fast.error_count, fast.retry_count, fast.stages) == \
                (slow.hop_count, slow.error_count, slow.retry_count, slow.stages)
    assert fast_paths > 500  # the append path was taken, not only the fallback
    assert inserts > 200  # and the path of a hop earlier than the last
    assert len(insert_calls) == stageless > 50  # at no stage: put in place by _insert


def test_an_earlier_hop_at_no_stage_goes_after_hops_of_its_millisecond(insert_calls):
    """An NGINX line stamps whole seconds: its hop comes earlier than the last and often at the
    very millisecond of another hop. It goes after that one (arrival order, as ordering all
    hops does), with its own latency and the next hop's changed, a failure's error kept
    as the last when no later hop failed."""
    base = [hop(1, "api"), hop(2, "mule"), hop(4, "erp")]
    for late in (hop(9, None, t=2000, outcome="failure"), hop(9, None, t=0),
                 hop(9, None, t=-5000), hop(9, None, t=3500, outcome="failure")):
        fast, slow = trace_of(*copy.deepcopy(base)), trace_of(*copy.deepcopy(base))
        assert add_hop(fast, copy.deepcopy(late)) and add_hops(slow, [copy.deepcopy(late)])
        assert fast.to_doc() == slow.to_doc()
    assert [h.timestamp_ms - T0 for h in insert_calls] == [2000, 0, -5000, 3500]
    t = trace_of(*copy.deepcopy(base))
    add_hop(t, hop(9, None, t=2000, outcome="failure"))
    assert [h.event_id for h in t.hops] == ["e1", "e2", "e9", "e4"]
    assert [h.latency_ms for h in t.hops] == [None, 1000, 0, 2000]
    assert t.last_error == {"class": "mapping", "message": "bad map", "stage": None}


def test_add_hop_after_a_store_or_packed_round_trip_still_gives_what_add_hops_gives(
        insert_calls):
    """The correlator's traces come back from the store document or from the packed form
    between events: ``add_hop``'s in-place paths must start from those as from objects.
    Histories of mostly stageless hops at few distinct times (review E's fuzz_insert)."""
    from collector.correlation import packed
    from collector.trace import Trace

    rng = random.Random(3)
    stages = [None, None, None, "api", "mule", "erp"]
    actions = [None, None, "retried", "logged", "sent", "dead_lettered"]
    round_trips = 0
    for _ in range(400):
        max_hops = rng.choice([3, 6, 200])
        fast = trace_of(hop(0, rng.choice(stages), t=rng.choice([0, 1000, 2000])))
        slow = copy.deepcopy(fast)
        for n in range(1, rng.randint(2, 12)):
            r = rng.random()
            if r < 0.1:
                fast = Trace.from_doc(fast.to_doc(), fast.version)
                slow = Trace.from_doc(slow.to_doc(), slow.version)
                round_trips += 1
                continue
            if r < 0.15:
                fast.version = slow.version = (1, 1)
                blobs = packed.pack(fast, 0.0), packed.pack(slow, 0.0)
                if None not in blobs:
                    fast = packed.unpack(fast.trace_key, blobs[0])[0]
                    slow = packed.unpack(slow.trace_key, blobs[1])[0]
                    round_trips += 1
                continue
            h = hop(n if rng.random() > 0.1 else rng.randint(0, n), rng.choice(stages),
                    t=rng.choice([0, 1000, 1000, 2000, 2000, 3000, -1000]),
                    outcome=rng.choice(["success", "failure", "failure"]),
                    action=rng.choice(actions))
            added = add_hop(fast, copy.deepcopy(h), max_hops=max_hops)
            assert added == bool(add_hops(slow, [copy.deepcopy(h)], max_hops=max_hops))
            assert fast.to_doc() == slow.to_doc() and fast.stages == slow.stages
    assert round_trips > 250 and len(insert_calls) > 250
