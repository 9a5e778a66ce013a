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


def test_a_resolve_is_sent_when_the_delivered_firing_is_beyond_the_lookback(
        peer, tmp_path, monkeypatch):
    """The page went out, then re-notifications were refused, and another alert of the rule
    fired: the delivered firing is older than the records read, so what was read (refused
    firings only) is not the whole episode and the resolve goes out. The old code read the
    rule's newest records and dropped it: the incident stayed open."""
    monkeypatch.setattr("rules.delivery.UNOPENED_LOOKBACK", 3)
    p = peer([(200, {}, b"ok"), (400, {}, b"invalid_blocks"), (400, {}, b"invalid_blocks"),
              (200, {}, b"ok")])
    hook = slack.Slack("slack", slack.Options(Secret(f"{p.url}/services/T0/B0/x", "env:S")))
    history: list[dict] = []
    d = delivery(tmp_path, [hook], history)
    steps = [("k", "firing"), ("k", "firing"), ("k", "firing"), ("other", "firing"),
             ("k", "resolved")]
    for i, (key, action) in enumerate(steps):
        d.clock = lambda i=i: 1_000_000 + i * 10_000
        d.submit(["slack"], replace(note(action), key=key, at_ms=1_000 + i,
                                    starts_ms=1_000_000))
        d.flush()
        d.deliver("slack")
    assert [(h["dedup_key"], h["state"]) for h in history] == [
        ("k", "notified"), ("k", "notify_failed"), ("k", "notify_failed"),
        ("other", "notified"), ("k", "notified")]
    assert history[-1]["action"] == "resolved"
    assert len(p.seen) == 5


def test_a_resolve_of_a_refused_firing_is_still_dropped_when_its_episode_is_read_whole(
        peer, tmp_path, monkeypatch):
    """A lookback as short as the episode still decides when the previous resolve is among
    the records read: the re-opened alert's page was refused, so no lone RESOLVED."""
    monkeypatch.setattr("rules.delivery.UNOPENED_LOOKBACK", 3)
    p = peer([(200, {}, b"ok"), (200, {}, b"ok"), (400, {}, b"invalid_blocks"), (200, {}, b"ok")])
    history, states = _run(tmp_path, p, ["firing", "resolved", "firing", "resolved"])
    assert states == ["notified", "notified", "notify_failed", "notify_superseded"]
    assert len(p.seen) == 3


def test_a_resolve_goes_out_although_a_repeat_firing_still_waits(peer, tmp_path):
    """Delivered, then the repeat_interval re-notification got 503 and waits for its retry
    when the alert resolves: the channel holds the page, so the resolve is sent and only the
    repeat is dropped. The old code cancelled the resolve against the waiting repeat."""
    p = peer([(200, {}, b"ok"), (503, {}, b""), (200, {}, b"ok")])
    history, states = _run(tmp_path, p, ["firing", "firing", "resolved"])
    assert [(h["action"], h["state"]) for h in history] == [
        ("firing", "notified"), ("firing", "notify_superseded"), ("resolved", "notified")]
    assert len(p.seen) == 3
