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
