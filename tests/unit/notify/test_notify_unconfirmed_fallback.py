"""Contract test (fake Opsgenie and fallback webhook HTTP peers; the SQLite store, outbox,
delivery workers, rule scheduler and the midwatch pack are real): an Opsgenie page accepted
(202) whose outcome could not be confirmed pages the ``fallback`` notifier, as a failed one
does, and one confirmed late (inside the looks) does not.

Why it must: the page may be lost and nobody else is told. Alertmanager and PagerDuty have
no per-notification fallback either; the answer there is a second channel watching the
sender (Alertmanager's failed-notification metrics alerting elsewhere; PagerDuty's
escalation when nobody acknowledges). Here that second channel is the pack rule
``midwatch-notifier-failing``, routed to ``fallback``: a possible double page on it is
cheaper than a lost one.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from notify_support import FakeOpsgenie, Scripted, note, opsgenie_processed

from collector.store.paging import outbox_for
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.notify import opsgenie
from rules.scheduler import RuleScheduler

SELF_ALERT = "midwatch-notifier-failing"


def _scheduler(tmp_path, genie: FakeOpsgenie, fallback: Scripted) -> RuleScheduler:
    config = load_rules_config(loads(
        "rules: {paths: ['pack:midwatch'], notify: [oncall], interval: 1s}\n"
        "notifiers:\n"
        f"  oncall: {{type: opsgenie, api_key: '${{OG_KEY}}', url: '{genie.url}'}}\n"
        f"  fallback: {{type: webhook, url: '{fallback.url}/fallback'}}\n"), sending=True)
    assert not config.errors, config.errors
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    return RuleScheduler(config, store)


def _wait(what: str, done, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.05)


def _self_alerts(fallback: Scripted) -> list[dict]:
    with fallback.lock:
        bodies = [json.loads(b) for method, _, _, b in fallback.seen if method == "POST"]
    return [b for b in bodies if b["rule"] == SELF_ALERT]


@pytest.fixture
def fast_looks(monkeypatch):
    monkeypatch.setenv("OG_KEY", "og-key")
    monkeypatch.setattr(opsgenie, "CONFIRM_WAITS_S", (0.05, 0.1, 0.2))


@pytest.mark.usefixtures("fast_looks")
def test_contract_an_unconfirmed_page_pages_the_fallback(peer, tmp_path):
    genie = peer([(503, {"message": "unavailable"})], not_yet=0, kind=FakeOpsgenie)
    fallback = peer([(200, {}, b"")])
    s = _scheduler(tmp_path, genie, fallback)
    s.start()
    try:
        s.delivery.submit(["oncall"], note())
        s.delivery.flush()
        _wait("the fallback paged", lambda: _self_alerts(fallback))
    finally:
        s.stop()
    page = _self_alerts(fallback)[0]
    assert page["action"] == "firing" and page["labels"]["notifier"] == "oncall"
    assert "Notifier oncall failing" in page["annotations"]["summary"]
    (rec,) = outbox_for(s.engine.store).of_rule("o2c-failures", 5)
    assert rec["state"] == "delivered" and rec["unconfirmed"].startswith(
        "Opsgenie (oncall) accepted request req-1; its outcome is unknown")


@pytest.mark.usefixtures("fast_looks")
def test_contract_a_page_confirmed_late_does_not_page_the_fallback(peer, tmp_path):
    """Processed at the third look (404 twice): delivered, nothing for the fallback, over
    evaluations that ran after the outcome was in the alert history."""
    genie = peer([(200, opsgenie_processed("Create", True, "Created alert"))], not_yet=2,
                 kind=FakeOpsgenie)
    fallback = peer([(200, {}, b"")])
    s = _scheduler(tmp_path, genie, fallback)
    box = outbox_for(s.engine.store)
    s.start()
    try:
        s.delivery.submit(["oncall"], replace(note(), at_ms=int(time.time() * 1000)))
        s.delivery.flush()
        _wait("the page delivered", lambda: [r["state"] for r in box.of_rule("o2c-failures", 5)]
              == ["delivered"])
        after = s.ticks
        _wait("three evaluations after the outcome", lambda: s.ticks >= after + 3)
    finally:
        s.stop()
    (rec,) = box.of_rule("o2c-failures", 5)
    assert "unconfirmed" not in rec and genie.looks["req-1"] == 3
    assert _self_alerts(fallback) == []
