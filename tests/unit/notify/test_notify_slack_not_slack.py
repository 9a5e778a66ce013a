"""Contract tests (a fake HTTP peer answering as Slack, or as something in Slack's place):
a 2xx that is not Slack's answer is not a delivered page.

Slack's incoming webhooks answer 200 with the text ``ok`` and the Web API / workflow URLs
with JSON ``{"ok": true, ...}`` (api.slack.com, "Improving error conditions for Incoming
Webhooks"; Grafana's Slack notifier checks the same). A captive proxy's login page or a
wrong URL's web server also answers 200: that page was counted as a delivered Slack message.
Sends go through the real outbox (SQLite) and delivery worker.
"""

from __future__ import annotations

import pytest
from notify_support import Scripted, delivery, note

from collector.yamlconf import Secret
from rules.delivery import Delivery
from rules.notify import slack

TOKEN = "XoXoTokenPart1234567890"
PORTAL = (b"<!DOCTYPE html>\n<html><head><title>Guest Wi-Fi login</title></head><body>"
          b"<form action='/login?next=https://hooks.example.com/services/T0/B0/" + TOKEN.encode()
          + b"'>Accept the terms</form></body></html>")


def _slack(p: Scripted) -> slack.Slack:
    return slack.Slack("chat", slack.Options(Secret(f"{p.url}/services/T0/B0/{TOKEN}", "env:S")))


def _first_attempt(p: Scripted, tmp_path, history: list[dict]) -> tuple[Delivery, dict]:
    """One page through the outbox and one delivery pass: the worker and its record after."""
    d = delivery(tmp_path, [_slack(p)], history)
    d.submit(["chat"], note())
    d.flush()
    assert d.deliver("chat") == 1
    (rec,) = d.box.of_rule("o2c-failures", 5)
    return d, rec


@pytest.mark.parametrize(("body", "shown"), [
    (PORTAL, "<!DOCTYPE html> <html><head><title>Guest Wi-Fi login</title></head><body><form …"),
    (b"", "(empty body)"),
    (b"{}", "{}"),
    (b'{"status": "accepted"}', '{"status": "accepted"}'),
    (b"OK, queued", "OK, queued"),
])
def test_contract_a_2xx_not_from_slack_is_retried_and_says_what_came_back(peer, tmp_path,
                                                                          body, shown):
    p = peer([(200, {"Content-Type": "text/html"}, body), (200, {}, b"ok")])
    history: list[dict] = []
    d, rec = _first_attempt(p, tmp_path, history)
    assert rec["state"] == "pending" and rec["attempts"] == 1  # retried, not delivered
    assert not rec["maybe_delivered"]  # whatever answered was not Slack: nothing posted
    error = rec["last_error"]
    assert error.startswith("Slack (chat) answered 2xx but not as Slack does")
    assert error.endswith(f"Body: {shown!r}")
    assert TOKEN not in error and "B0/" not in error  # the URL is the credential
    assert history == []  # a first retry is not yet reported (from the third attempt on)
    # The retry, once the way to Slack is fixed, delivers it.
    d.box.put([{**rec, "next_ms": 0}])
    assert d.deliver("chat") == 1
    (rec,) = d.box.of_rule("o2c-failures", 5)
    assert (rec["state"], rec["attempts"]) == ("delivered", 2)
    assert [h["state"] for h in history] == ["notified"]
    assert len(p.seen) == 2


def test_contract_a_portal_that_keeps_answering_is_reported_for_the_self_alert(peer, tmp_path):
    """Each attempt is a failure like a 5xx: from the third on it lands in the alert history
    as ``notify_retry`` (what ``midwatch-notifier-failing`` counts)."""
    p = peer([(200, {}, PORTAL)])
    history: list[dict] = []
    d, rec = _first_attempt(p, tmp_path, history)
    for attempt in range(2):
        d.box.put([{**rec, "next_ms": 0}])
        assert d.deliver("chat") == 1, attempt
        (rec,) = d.box.of_rule("o2c-failures", 5)
    assert [(h["state"], h["attempts"]) for h in history] == [("notify_retry", 3)]
    assert "Guest Wi-Fi login" in history[0]["error"] and TOKEN not in history[0]["error"]


@pytest.mark.parametrize("body", [b"ok", b"ok\n", b'{"ok": true, "channel": "C1", "ts": "1.2"}',
                                  b'{"ok":true}'])
def test_contract_slack_answers_still_deliver(peer, tmp_path, body):
    history: list[dict] = []
    _, rec = _first_attempt(peer([(200, {}, body)]), tmp_path, history)
    assert rec["state"] == "delivered" and [h["state"] for h in history] == ["notified"]
