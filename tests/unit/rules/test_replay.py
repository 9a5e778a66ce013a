"""Restored alerts brought up to the outbox (``rules.replay``): the decisions a leader killed
between its outbox write and its alert-state write left out of the state."""

from __future__ import annotations

from dataclasses import replace

from rules.notify.base import Notification
from rules.outbox import FAILED, new_record
from rules.replay import missed, replay
from rules.state import FIRING, RESOLVED, Alert, dedup_key

LABELS = {"flow": "orders"}
KEY = dedup_key("r", LABELS)


def _record(action: str, at_ms: int, notifier: str = "pd", severity: str = "critical",
            **extra) -> dict:
    n = Notification(action=action, rule="r", key=KEY, severity=severity, labels=LABELS,
                     annotations={"summary": "orders failing"}, value=3.0, starts_ms=1_000,
                     at_ms=at_ms, expires_ms=at_ms + 60_000)
    return {**new_record(notifier, n, at_ms + 5), **extra}


def _firing(at_ms: int = 1_000) -> Alert:
    return Alert("r", LABELS, KEY, FIRING, "critical", active_since_ms=1_000, last_eval_ms=at_ms,
                 value=3.0, fired_ms=1_000, last_notified_ms=1_000, notified_to=("pd",),
                 notified_as="critical")


def test_a_page_the_state_missed_makes_the_alert_firing_as_paged_to_its_notifiers():
    decisions = missed([_record("firing", 1_000), _record("firing", 1_000, "chat")], 500)
    (alert,) = replay({}, decisions).values()
    assert (alert.state, alert.fired_ms, alert.last_notified_ms, alert.notified_to,
            alert.notified_as) == (FIRING, 1_000, 1_000, ("pd", "chat"), "critical")


def test_a_resolve_the_state_missed_ends_the_firing_alert():
    decisions = missed([_record("resolved", 9_000), _record("firing", 1_000)], 5_000)
    assert replay({KEY: _firing()}, decisions) == {}


def test_a_resolve_of_a_flapping_alert_keeps_it_resolved_with_its_changes():
    alert = replace(_firing(), flips=(1_000,))
    (out,) = replay({KEY: alert}, missed([_record("resolved", 9_000)], 5_000)).values()
    assert (out.state, out.resolved_ms, out.flips) == (RESOLVED, 9_000, (1_000,))


def test_decisions_the_state_holds_are_not_replayed():
    # before the rule's saved run, or not newer than what the alert's state holds
    assert missed([_record("resolved", 4_000)], 5_000) == {}
    held = _firing(at_ms=9_000)
    assert replay({KEY: held}, missed([_record("resolved", 9_000)], 5_000)) == {KEY: held}


def test_the_newest_decision_wins():
    decisions = missed([_record("firing", 6_000), _record("resolved", 7_000),
                        _record("firing", 8_000, severity="warning")], 5_000)
    (alert,) = replay({KEY: _firing()}, decisions).values()
    assert (alert.state, alert.severity, alert.last_notified_ms, alert.notified_as) == (
        FIRING, "warning", 8_000, "warning")


def test_a_page_no_receiver_got_is_not_claimed_notified():
    failed = _record("firing", 6_000, state=FAILED)
    assert replay({}, missed([failed], 5_000)) == {}
    maybe = _record("firing", 6_000, state=FAILED, maybe_delivered=True)
    assert [a.last_notified_ms for a in replay({}, missed([maybe], 5_000)).values()] == [6_000]
