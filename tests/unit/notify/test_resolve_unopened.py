"""Contract test (a fake Slack incoming webhook, scripted answers) through the real SQLite
outbox: a resolve is sent only when some firing of its alert since the last resolve reached
the receiver, or may have. A lone "RESOLVED" in a channel that never saw the page was sent
before (the firing had failed or expired; the alert history already said so)."""

from __future__ import annotations

from dataclasses import replace

from notify_support import delivery, note

from collector.yamlconf import Secret
from rules.notify import slack
from rules.notify.base import Http
from rules.outbox import Policy


def _run(tmp_path, p, steps: list[str], policy: Policy | None = None,
         http: Http | None = None) -> tuple[list[dict], list[str]]:
    """Submit the alert's firing / resolved in turn, one delivery pass after each."""
    hook = slack.Slack("slack", slack.Options(Secret(f"{p.url}/services/T0/B0/x", "env:S")),
                       http=http)
    history: list[dict] = []
    d = delivery(tmp_path, [hook], history)
    if policy is not None:
        d.policy = policy
    for i, action in enumerate(steps):
        d.clock = lambda i=i: 1_000_000 + i * 10_000
        d.submit(["slack"], replace(note(action), at_ms=1_000 + i))
        d.flush()
        d.deliver("slack")
    return history, [h["state"] for h in history]


def test_a_resolve_of_a_firing_slack_refused_is_not_sent(peer, tmp_path):
    p = peer([(400, {}, b"invalid_blocks"), (200, {}, b"ok")])
    history, states = _run(tmp_path, p, ["firing", "resolved"])
    assert states == ["notify_failed", "notify_superseded"]
    assert history[1]["action"] == "resolved"
    assert history[1]["error"] == "its firing never reached the receiver"
    assert len(p.seen) == 1


def test_a_resolve_of_an_expired_firing_is_not_sent(peer, tmp_path):
    """Slack down past the firing's expiry (its retry would fall after it), back for the
    resolve: the channel never saw the page, so it gets no lone RESOLVED."""
    p = peer([(503, {}, b""), (200, {}, b"ok")])
    short = Policy(first_backoff_ms=100_000, max_backoff_ms=100_000, expire_ms=15_000)
    _, states = _run(tmp_path, p, ["firing", "resolved"], short)
    assert states == ["notify_expired", "notify_superseded"]
    assert len(p.seen) == 1


def test_a_resolve_is_sent_when_an_earlier_firing_was_delivered(peer, tmp_path):
    """Delivered once, the re-notification failed: the channel holds the page, so it gets
    the resolve."""
    p = peer([(200, {}, b"ok"), (400, {}, b"invalid_blocks"), (200, {}, b"ok")])
    _, states = _run(tmp_path, p, ["firing", "firing", "resolved"])
    assert states == ["notified", "notify_failed", "notified"]
    assert len(p.seen) == 3


def test_a_resolve_is_sent_when_the_firing_may_have_arrived(peer, tmp_path):
    """A timeout after Slack read the post, then 400s: it may have posted, so the resolve
    goes out."""
    p = peer([(200, {}, b"ok"), (400, {}, b"invalid_blocks"), (200, {}, b"ok")], delay_s=0.5)
    history, states = _run(tmp_path, p, ["firing"], http=Http(read_timeout_s=0.2))
    assert states == []  # retry pending
    p.delay_s = 0.0
    hook = slack.Slack("slack", slack.Options(Secret(f"{p.url}/services/T0/B0/x", "env:S")))
    d = delivery(tmp_path, [hook], history)  # the same outbox file, carried on
    d.clock = lambda: 10_000_000
    d.deliver("slack")  # the retry: 400, failed for good (but maybe delivered)
    d.submit(["slack"], replace(note("resolved"), at_ms=5_000))
    d.flush()
    d.deliver("slack")
    assert [h["state"] for h in history] == ["notify_failed", "notified"]
    assert history[-1]["action"] == "resolved"
