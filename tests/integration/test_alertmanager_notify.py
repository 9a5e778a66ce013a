"""The Alertmanager notifier against the real Alertmanager (services.sh), read back through
``GET /api/v2/alerts``."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import replace

from rules.notify import alertmanager
from rules.notify.base import Notification, SendError


def _alerts(url: str, rule: str, active: bool) -> list[dict]:
    query = urllib.parse.urlencode({"filter": f'alertname="{rule}"', "active": str(active).lower(),
                                    "silenced": "true", "inhibited": "true",
                                    "unprocessed": "true"})
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{query}", timeout=10) as resp:
        return json.load(resp)


def _note(rule: str, action: str, now_ms: int) -> Notification:
    return Notification(
        action=action, rule=rule, key="k", severity="critical",
        labels={"flow": "o2c", "labels.env": "prod"},
        annotations={"summary": "o2c: 12.0% failed", "runbook_url": "https://runbooks.example.com/o2c"},
        value=0.12, starts_ms=now_ms - 60_000, at_ms=now_ms, expires_ms=now_ms + 3_600_000,
        message_ids=("order-4711", "order-4712"),
        trace_url="https://mw.example.com/api/traces?flow=o2c",
        generator_url=f"https://mw.example.com/rules/{rule}")


def test_fire_and_resolve_in_real_alertmanager(alertmanager_url, unique_name):
    notifier = alertmanager.Alertmanager("am", alertmanager.Options(alertmanager_url))
    now = time.time_ns() // 1_000_000
    notifier.send(_note(unique_name, "firing", now))
    (alert,) = _alerts(alertmanager_url, unique_name, active=True)
    assert alert["labels"] == {"alertname": unique_name, "severity": "critical", "flow": "o2c",
                               "labels_env": "prod"}
    assert alert["annotations"]["summary"] == "o2c: 12.0% failed"
    assert alert["annotations"]["message_ids"] == "order-4711, order-4712"
    assert alert["generatorURL"] == f"https://mw.example.com/rules/{unique_name}"
    assert alert["status"]["state"] in ("active", "unprocessed")

    notifier.send(_note(unique_name, "resolved", time.time_ns() // 1_000_000))
    # A resolved alert leaves the API's list (it stays only in notification logs).
    assert _alerts(alertmanager_url, unique_name, active=True) == []
    assert _alerts(alertmanager_url, unique_name, active=False) == []


def test_alertmanager_rejection_names_the_reason(alertmanager_url):
    notifier = alertmanager.Alertmanager("am", alertmanager.Options(alertmanager_url))
    now = time.time_ns() // 1_000_000
    # Resolved before it started: Alertmanager refuses an endsAt before startsAt.
    bad = replace(_note("bad-times", "resolved", now - 3_600_000), starts_ms=now)
    try:
        notifier.send(bad)
    except SendError as exc:
        assert "Alertmanager (am) answered HTTP 400" in str(exc) and not exc.retryable
    else:
        raise AssertionError("Alertmanager accepted endsAt before startsAt")


def test_names_alertmanager_refuses_are_made_valid_not_the_page_lost(alertmanager_url,
                                                                    unique_name):
    """Alertmanager takes label and annotation names of ``[A-Za-z_][A-Za-z0-9_]*`` only and
    answers any other with 400, for good: a group label from a field ``labels.2fa`` or an
    annotation ``runbook-url`` (rule annotation names are free text) lost the page. Each is
    made valid, and two that become one name are both kept."""
    notifier = alertmanager.Alertmanager("am", alertmanager.Options(alertmanager_url))
    now = time.time_ns() // 1_000_000
    fired = replace(_note(unique_name, "firing", now),
                    labels={"flow": "o2c", "2fa": "on", "a-b": "1", "a_b": "2"},
                    annotations={"summary": "s", "runbook-url": "https://runbooks.example.com/o2c",
                                 "9": "nine"})
    notifier.send(fired)
    (alert,) = _alerts(alertmanager_url, unique_name, active=True)
    assert alert["labels"] == {"alertname": unique_name, "severity": "critical", "flow": "o2c",
                               "_2fa": "on", "a_b": "2", "a_b_": "1"}
    assert alert["annotations"] == {
        "summary": "s", "runbook_url": "https://runbooks.example.com/o2c", "_9": "nine",
        "message_ids": "order-4711, order-4712", "trace_url": fired.trace_url}
    notifier.send(replace(fired, action="resolved", at_ms=time.time_ns() // 1_000_000))
    assert _alerts(alertmanager_url, unique_name, active=True) == []
