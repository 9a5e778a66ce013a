"""Contract tests (a fake HTTP peer answering as each vendor documents): what a notifier makes
of an answer that is not a plain "2xx, done". A 200 whose body says it did not post, a
redirect, a 429 with Retry-After, a repeat after a timeout: none may count as a delivered page
when it was not, or page twice where the receiver gives a way not to. Sends go through the
real outbox (SQLite) and delivery worker.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from email.utils import formatdate

import pytest
from notify_support import PD_KEY, Scripted, delivery, note

from collector.yamlconf import Secret
from rules.notify import pagerduty, slack, webhook
from rules.notify.base import Http, SendError, host_port, retry_after_ms


def _slack(p: Scripted) -> slack.Slack:
    return slack.Slack("slack", slack.Options(Secret(f"{p.url}/services/T0/B0/xyz", "env:S")))


def _one_pass(tmp_path, notifier, history: list[dict]) -> dict:
    d = delivery(tmp_path, [notifier], history)
    d.submit([notifier.name], note())
    d.flush()
    assert d.deliver(notifier.name) == 1
    (rec,) = d.box.of_rule("o2c-failures", 5)
    return rec


@pytest.mark.parametrize(("status", "body", "state"), [
    (200, b"ok", "delivered"),
    (400, b"invalid_payload", "failed"),
    (404, b"no_service", "failed"),
    (410, b"channel_is_archived", "failed"),
    (403, b"action_prohibited", "failed"),
    (429, b"too_many_requests", "pending"),
    (200, b'{"ok": false, "error": "channel_not_found"}', "failed"),  # Web API / workflow URL
    (200, b'{"ok": false, "error": "ratelimited"}', "pending"),
    (200, b'{"ok": true, "channel": "C1", "ts": "1.2"}', "delivered"),
])
def test_contract_slack_answers(peer, tmp_path, status, body, state):
    """A 200 whose body is ``{"ok": false}`` was counted as a delivered page."""
    p = peer([(status, {}, body)])
    history: list[dict] = []
    rec = _one_pass(tmp_path, _slack(p), history)
    assert rec["state"] == state
    if state == "failed":
        assert [h["state"] for h in history] == ["notify_failed"]
        assert body.decode().split('"error": "')[-1].rstrip('"}') in history[0]["error"]
    assert len(p.seen) == 1


@pytest.mark.parametrize(("status", "body", "state"), [
    (202, b'{"status": "success", "message": "Event processed", "dedup_key": "k"}', "delivered"),
    (202, b'{"status": "invalid event", "message": "Event object is invalid"}', "pending"),
    (400, b'{"status": "invalid event", "message": "Event object is invalid", "errors": '
          b'["Length of \'routing_key\' is incorrect (should be 32 characters)"]}', "failed"),
    (429, b'{"status": "throttle event", "message": "Requests for this service are arriving '
          b'too quickly."}', "pending"),
])
def test_contract_pagerduty_answers(peer, tmp_path, status, body, state):
    p = peer([(status, {}, body)])
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(PD_KEY, "env:PD"), f"{p.url}/v2/enqueue"))
    history: list[dict] = []
    rec = _one_pass(tmp_path, pd, history)
    assert rec["state"] == state
    assert [h["state"] for h in history] == {"delivered": ["notified"], "pending": [],
                                             "failed": ["notify_failed"]}[state]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_contract_a_redirect_fails_the_page_at_once_and_says_where(peer, tmp_path, status):
    """Not followed (a 301/302 followed turns the POST into a GET the receiver answers 200
    to, the page lost): failed at once, naming where it points, for the self-alert."""
    target = peer([(200, {}, b"ok")])
    p = peer([(status, {"Location": f"{target.url}/services/T0/B0/new"}, b"")])
    history: list[dict] = []
    rec = _one_pass(tmp_path, _slack(p), history)
    assert rec["state"] == "failed"
    (h,) = history
    assert h["state"] == "notify_failed"
    assert f"HTTP {status}, a redirect to {target.url}/..." in h["error"]
    assert "B0/new" not in h["error"]  # a Slack path is a credential
    assert [m for m, *_ in p.seen] == ["POST"] and target.seen == []


def test_contract_a_redirect_error_names_no_credentials_of_the_url(peer, tmp_path):
    """A 302 without Location points back at the notifier's own URL: the error names its
    host and port, not the ``user:password@`` in it (printed before)."""
    p = peer([(302, {}, b"")])
    port = p.url.rsplit(":", 1)[1]
    url = f"http://alice:s3cr3t-pw@127.0.0.1:{port}/hook"
    hook = webhook.Webhook("wh", webhook.Options(Secret(url, "env:WH")))
    history: list[dict] = []
    rec = _one_pass(tmp_path, hook, history)
    assert rec["state"] == "failed"
    assert f"HTTP 302, a redirect to http://127.0.0.1:{port}/..." in rec["last_error"]
    assert "alice" not in rec["last_error"] and "s3cr3t" not in rec["last_error"]
    assert host_port(urllib.parse.urlsplit("https://u:p@[::1]:8443/x")) == "[::1]:8443"


def test_contract_429_retry_after_is_honoured(peer, tmp_path):
    """Retry-After: 3 on a 429: the next try waits at least that (the backoff alone would
    try again after 200-400 ms here, inside the receiver's limit)."""
    p = peer([(429, {"Retry-After": "3"}, b"too_many_requests"), (200, {}, b"ok")])
    history: list[dict] = []
    started = int(time.time() * 1000)
    rec = _one_pass(tmp_path, _slack(p), history)
    assert rec["state"] == "pending"
    assert rec["next_ms"] - started >= 3000
    assert rec["next_ms"] - int(time.time() * 1000) <= 3000


def test_retry_after_as_seconds_or_a_date_capped():
    now = 1_700_000_000.0
    assert retry_after_ms("120") == 120_000
    assert retry_after_ms(formatdate(now + 30, usegmt=True), now_s=now) == 30_000
    assert retry_after_ms(formatdate(now - 30, usegmt=True), now_s=now) == 0
    assert retry_after_ms("999999999") == 3_600_000
    assert retry_after_ms("soon") is None and retry_after_ms(None) is None
    # Garbage is ignored, never an exception in the send (OverflowError, ValueError before).
    assert retry_after_ms("9" * 400) == 3_600_000 and retry_after_ms("9" * 5000) == 3_600_000
    assert retry_after_ms("²") is None and retry_after_ms("١٢") is None
    assert retry_after_ms("Fri, 31 Dec 99999 23:59:59 GMT") is None


def test_contract_a_huge_retry_after_is_capped_not_a_notifier_bug(peer, tmp_path):
    """A 503 with a Retry-After of 400 digits: refused (so its resolve may be cancelled) and
    retried after the cap; the old code raised OverflowError out of the send."""
    p = peer([(503, {"Retry-After": "9" * 400}, b"busy"), (200, {}, b"ok")])
    history: list[dict] = []
    started = int(time.time() * 1000)
    rec = _one_pass(tmp_path, _slack(p), history)
    assert rec["state"] == "pending" and not rec["maybe_delivered"]
    assert "HTTP 503: busy" in rec["last_error"]
    assert 3_600_000 <= rec["next_ms"] - started <= 3_600_000 + 60_000


def test_contract_webhook_repeat_after_a_timeout_carries_the_same_idempotency_key(peer):
    """The receiver got the post but answered after our timeout: the retry is the same
    notification, and says so."""
    slow = peer([(200, {}, b"")], delay_s=0.6)
    hook = webhook.Webhook("hook", webhook.Options(f"{slow.url}/alerts"),
                           http=Http(read_timeout_s=0.2))
    with pytest.raises(SendError) as err:
        hook.send(note())
    assert err.value.retryable and not err.value.refused
    slow.delay_s = 0.0
    hook.send(note())
    hook.send(note("resolved"))
    keys = [h["Idempotency-Key"] for _, _, h, _ in slow.seen]
    assert keys[0] == keys[1] != keys[2] and len(keys[0]) == 32
    assert json.loads(slow.seen[0][3]) == json.loads(slow.seen[1][3])
