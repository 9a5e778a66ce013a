"""The outbox decisions (pure): backoff with jitter, retry/fail/expire, supersede, order."""

from __future__ import annotations

from rules import outbox
from rules.notify.base import Notification

P = outbox.Policy(first_backoff_ms=1_000, max_backoff_ms=60_000, expire_ms=3_600_000)


def _n(action: str, key: str = "k1", at_ms: int = 0) -> Notification:
    return Notification(action=action, rule="r", key=key, severity="critical", labels={"a": "1"},
                        annotations={}, value=1.0, starts_ms=0, at_ms=at_ms, expires_ms=0,
                        message_ids=("m1",))


def _rec(action: str, created: int, key: str = "k1", **kw) -> dict:
    return {**outbox.new_record("hook", _n(action, key, created), created), **kw}


def test_backoff_doubles_to_the_cap_with_jitter_between_half_and_all():
    assert [outbox.backoff_ms(a, P, 1.0) for a in (1, 2, 3, 7, 20)] == \
        [1_000, 2_000, 4_000, 60_000, 60_000]
    assert [outbox.backoff_ms(a, P, 0.0) for a in (1, 2, 20)] == [500, 1_000, 30_000]


def test_record_round_trips_its_notification():
    n = _n("firing")
    r = outbox.new_record("hook", n, 5)
    assert outbox.notification_of(r) == n and r["state"] == "pending" and r["next_ms"] == 5
    assert outbox.record_id("hook", n) == r["id"] != outbox.record_id("pd", n)


def test_attempt_outcomes():
    r = _rec("firing", 0)
    ok = outbox.after_attempt(r, now_ms=10, error=None, retryable=False, policy=P)
    assert (ok["state"], ok["delivered_ms"], ok["attempts"]) == ("delivered", 10, 1)
    again = outbox.after_attempt(r, now_ms=10, error="HTTP 503", retryable=True, policy=P,
                                 rand=1.0)
    assert (again["state"], again["next_ms"], again["log"][-1]["answer"]) == \
        ("pending", 1_010, "HTTP 503")
    bad = outbox.after_attempt(r, now_ms=10, error="HTTP 400", retryable=False, policy=P)
    assert bad["state"] == "failed"
    late = outbox.after_attempt(r, now_ms=3_599_500, error="HTTP 503", retryable=True, policy=P)
    assert late["state"] == "expired"
    # A Retry-After past the expiry: one last try just before it (it expired at once before).
    told = outbox.after_attempt(r, now_ms=3_000_000, error="HTTP 429", retryable=True, policy=P,
                                rand=1.0, retry_after_ms=3_600_000)
    assert (told["state"], told["next_ms"]) == ("pending", 3_599_999)
    many = r
    for i in range(15):
        many = outbox.after_attempt(many, now_ms=i, error="x", retryable=True, policy=P)
    assert len(many["log"]) == outbox.LOG_KEEP and many["attempts"] == 15


def test_resolve_cancels_pending_firings_before_it_only():
    f1, r1, f2 = _rec("firing", 1), _rec("resolved", 2), _rec("firing", 3)
    other = _rec("firing", 4, key="k2")
    step = outbox.plan([f1, r1, f2, other], 10, P)
    assert [r["id"] for r in step.superseded] == [f1["id"], r1["id"]]
    assert [r["id"] for r in step.send] == [f2["id"], other["id"]]


def test_a_lone_resolve_goes_and_waiting_records_wait():
    r = _rec("resolved", 1)
    later = {**_rec("firing", 2, key="k2"), "next_ms": 50}
    step = outbox.plan([r, later], 10, P)
    assert step.send == [r] and not step.superseded and not step.expired


def test_records_past_expiry_expire():
    old = _rec("firing", 0)
    step = outbox.plan([old], P.expire_ms, P)
    assert [r["state"] for r in step.expired] == ["expired"] and step.send == []


def test_same_alert_and_action_pending_twice_is_sent_once():
    r0, r1 = _rec("resolved", 1), _rec("resolved", 2)  # e.g. decided again after a takeover
    f1, f2 = _rec("firing", 3, key="k2"), _rec("firing", 4, key="k2")  # a repeat, undelivered
    step = outbox.plan([r0, r1, f1, f2], 10, P)
    assert [r["id"] for r in step.send] == [r1["id"], f2["id"]]
    assert [r["id"] for r in step.superseded] == [r0["id"], f1["id"]]


def test_resolve_goes_out_when_its_firing_may_have_reached_the_receiver():
    # The sender died waiting for the answer (marked sending, no outcome): the receiver may
    # hold the incident open, so the resolve must go; the firing is not sent again.
    f1 = outbox.sending(_rec("firing", 1))
    r1 = _rec("resolved", 2)
    step = outbox.plan([f1, r1], 10, P)
    assert [r["id"] for r in step.send] == [r1["id"]]
    assert [r["id"] for r in step.superseded] == [f1["id"]]


def test_only_a_firing_before_the_resolve_keeps_it():
    f0, r1, f2 = _rec("firing", 1), _rec("resolved", 2), outbox.sending(_rec("firing", 3))
    step = outbox.plan([f0, r1, f2], 10, P)
    assert [r["id"] for r in step.superseded] == [f0["id"], r1["id"]]
    assert [r["id"] for r in step.send] == [f2["id"]]


def test_an_attempt_may_have_delivered_unless_the_receiver_refused():
    marked = outbox.sending(_rec("firing", 0))
    assert marked["maybe_delivered"] and not _rec("firing", 0)["maybe_delivered"]
    before = _rec("firing", 0)  # the record as it was before the mark
    refused = outbox.after_attempt(before, now_ms=5, error="HTTP 503", retryable=True, policy=P,
                                   refused=True)
    timeout = outbox.after_attempt(before, now_ms=5, error="cannot connect (ReadTimeoutError)",
                                   retryable=True, policy=P)
    assert (refused["maybe_delivered"], timeout["maybe_delivered"]) == (False, True)
    # once unsure, a later refusal does not make it sure again
    again = outbox.after_attempt(timeout, now_ms=6, error="HTTP 503", retryable=True, policy=P,
                                 refused=True)
    assert again["maybe_delivered"]
    step = outbox.plan([refused, _rec("resolved", 1)], 10, P)
    assert step.send == [] and len(step.superseded) == 2  # nothing ever reached it
