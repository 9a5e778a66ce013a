"""Resolves of episodes that paged nobody, through the engine, the real outbox (SQLite file
and Elasticsearch) and a real local SMTP server (aiosmtpd).

Alertmanager sends nothing for a silenced alert, and a receiver's ``send_resolved`` covers
alerts it was notified about; midwatch's rule is the same, per receiver: a resolve is mailed
only if a firing of its episode was (maybe) mailed. A firing recorded as ``would_page`` (no
notifier routed) that resolved after a reload routed the rule to e-mail was mailed a lone
"[RESOLVED]" before.
"""

from __future__ import annotations

import time

import pytest
from paging_support import paging_stores  # noqa: F401 (the fixture "store")
from test_paging_email_owed import relay  # noqa: F401 (the fixture "relay")

from collector.event import Event, event_id
from collector.store.paging import outbox_for
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.delivery import Delivery
from rules.engine import Engine
from rules.silences import Silences, new_silence

pytestmark = pytest.mark.integration
MIN = 60_000


def _config(tmp_path, port: int, notify: str, more: str = ""):
    """The rule ``errors`` (and the rules in ``more``), routed to ``notify``."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: errors, type: threshold, filter: {log.level: error}, "
                     "above: 0, window: 10m}\n" + more)
    inhibit = ", inhibit: [{source_matchers: [rule=platform], target_matchers: [rule=errors]}]"
    cfg = load_rules_config(loads(
        f"rules: {{paths: [{rules}], notify: {notify}{inhibit if more else ''}}}\n"
        f"notifiers:\n  mail: {{type: email, host: 127.0.0.1, port: {port}, tls: none, "
        "from: midwatch@example.com, to: [ann@example.com]}\n"))
    assert not cfg.errors, cfg.errors
    return cfg


def _engine(store, cfg, history: list[dict]) -> tuple[Engine, Delivery]:
    d = Delivery(list(cfg.notifiers.values()), outbox_for(store), history.extend, poll_s=0.05)
    return Engine(cfg, store, dispatcher=d), d


def _error_at(store, ms: int) -> None:
    store.write_events([Event(ms, "app.log", "generic", "boom", id=event_id("sup", str(ms)),
                              flow="o2c", level="error")])
    store.refresh()


def _mailed_page(store, relay, tmp_path):  # noqa: F811
    """An error alert fired now and mailed: (mailbox, port, now, history, engine, delivery)."""
    mailbox, port = relay({})
    now = time.time_ns() // 1_000_000
    _error_at(store, now - 1_000)
    history: list[dict] = []
    engine, d = _engine(store, _config(tmp_path, port, "[mail]"), history)
    engine.evaluate(now)
    d.deliver("mail")
    assert mailbox.copies == {"ann@example.com": 1}
    return mailbox, port, now, history, engine, d


def test_an_alert_that_fired_while_silenced_mails_no_resolve(store, relay, tmp_path):  # noqa: F811
    mailbox, port = relay({})
    now = time.time_ns() // 1_000_000
    Silences(store).add(new_silence("rule=errors", 60 * MIN, "SAP maintenance", "basis",
                                    now - MIN))
    _error_at(store, now - 1_000)
    history: list[dict] = []
    engine, d = _engine(store, _config(tmp_path, port, "[mail]"), history)
    fired = engine.evaluate(now)
    assert [a.state for a in fired.alerts] == ["firing"] and not fired.notified
    resolved = engine.evaluate(now + 11 * MIN)
    assert [a.state for a in resolved.alerts] == ["resolved"]
    d.deliver("mail")
    assert sum(mailbox.copies.values()) == 0
    assert [r["action"] for r in outbox_for(store).of_rule("errors", 10)
            if r["state"] != "superseded"] == []


def test_a_mailed_alert_resolving_while_silenced_gets_its_resolve(store, relay, tmp_path):  # noqa: F811
    """The mailbox got the page, so the resolve closes it even under a silence made later:
    no incident is left open by a silence."""
    mailbox, port, now, history, engine, d = _mailed_page(store, relay, tmp_path)
    Silences(store).add(new_silence("rule=errors", 60 * MIN, "noisy", "ops", now + MIN))
    engine.evaluate(now + 11 * MIN)
    d.deliver("mail")
    assert mailbox.copies == {"ann@example.com": 2}
    assert [(h["action"], h["state"]) for h in history] == [
        ("firing", "notified"), ("resolved", "notified")]


def test_a_would_page_firing_routed_to_mail_by_a_reload_mails_no_resolve(
        store, relay, tmp_path):  # noqa: F811
    mailbox, port = relay({})
    now = time.time_ns() // 1_000_000
    _error_at(store, now - 1_000)
    history: list[dict] = []
    engine, d = _engine(store, _config(tmp_path, port, "[]"), history)
    fired = engine.evaluate(now)
    assert [a.state for a in fired.alerts] == ["firing"] and not fired.notified  # would_page
    engine.reconfigure(_config(tmp_path, port, "[mail]"), now + MIN)  # routed by a reload
    engine.evaluate(now + 11 * MIN)
    d.deliver("mail")
    assert sum(mailbox.copies.values()) == 0
    assert [(h["action"], h["state"]) for h in history] == [("resolved", "notify_superseded")]


def test_a_mailed_alert_routed_away_by_a_reload_still_gets_its_resolve(
        store, relay, tmp_path):  # noqa: F811
    """The other half of the rule: the mailbox got the page, then a reload routed the rule
    elsewhere; the resolve still goes to the mailbox that holds the page (it went to the
    current route alone before, and the page stayed open)."""
    mailbox, port, now, history, engine, d = _mailed_page(store, relay, tmp_path)
    engine.reconfigure(_config(tmp_path, port, "[]"), now + MIN)
    resolved = engine.evaluate(now + 11 * MIN)
    assert [(name, n.action) for name, n in resolved.notified] == [("mail", "resolved")]
    d.deliver("mail")
    assert mailbox.copies == {"ann@example.com": 2}
    assert [(h["action"], h["state"]) for h in history] == [
        ("firing", "notified"), ("resolved", "notified")]


def test_an_inhibited_alert_mails_no_resolve_and_its_inhibitor_does(
        store, relay, tmp_path):  # noqa: F811
    """``platform`` fires and inhibits ``errors`` (Alertmanager's inhibit_rules): the mailbox
    gets the platform page and its resolve, nothing of ``errors``."""
    mailbox, port = relay({})
    now = time.time_ns() // 1_000_000
    _error_at(store, now - 1_000)
    history: list[dict] = []
    platform = ("  - {name: platform, type: threshold, filter: {log.level: error}, above: 0, "
                "window: 10m}\n")
    engine, d = _engine(store, _config(tmp_path, port, "[mail]", platform), history)
    fired = engine.evaluate(now)
    assert sorted(a.rule for a in fired.alerts if a.state == "firing") == ["errors", "platform"]
    assert [n.rule for _, n in fired.notified] == ["platform"]
    d.deliver("mail")
    engine.evaluate(now + 11 * MIN)
    d.deliver("mail")
    assert mailbox.copies == {"ann@example.com": 2}
    assert [(h["rule"], h["action"], h["state"]) for h in history] == [
        ("platform", "firing", "notified"), ("platform", "resolved", "notified")]
