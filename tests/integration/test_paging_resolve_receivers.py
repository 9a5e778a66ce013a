"""A resolve goes to a receiver only if that receiver was (maybe) notified of a firing of the
same episode, decided per receiver from the real outbox (SQLite file and Elasticsearch), with
a real local SMTP server (aiosmtpd) and the real Alertmanager.

Alertmanager's ``send_resolved`` works the same way: a receiver is sent the resolve of
alerts it was notified about, and nothing for a silenced one. Before this, a receiver added
to the route after the firing (a restart or reload with a new e-mail notifier), or a firing
that reached no receiver (``would_page``, silenced), got a lone "[RESOLVED]" mail.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest
from faults_support import wait_for
from paging_support import paging_stores  # noqa: F401 (the fixture "store")
from test_paging_email_owed import FAST, _mailer, relay  # noqa: F401 (the fixture "relay")

from collector.store.paging import outbox_for
from rules.delivery import Delivery
from rules.notify import alertmanager
from rules.notify.base import Notification

pytestmark = pytest.mark.integration


def _active(url: str, rule: str) -> list[dict]:
    query = urllib.parse.urlencode({"filter": f'alertname="{rule}"', "active": "true",
                                    "silenced": "true", "inhibited": "true",
                                    "unprocessed": "true"})
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{query}", timeout=10) as resp:
        return json.load(resp)


def _note(rule: str, action: str, starts_ms: int, at_ms: int) -> Notification:
    return Notification(action=action, rule=rule, key="k1", severity="critical",
                        labels={"flow": "o2c", "partner": "acme"},
                        annotations={"summary": "o2c failing"}, value=0.2, starts_ms=starts_ms,
                        at_ms=at_ms, expires_ms=at_ms + 3_600_000)


def _process(store, notifiers, history: list[dict]) -> Delivery:
    """A delivery as one ``midwatch run`` builds it: its own outbox over the shared store."""
    return Delivery(notifiers, outbox_for(store), history.extend, policy=FAST, poll_s=0.05)


def _finish(d: Delivery, rule: str) -> list[dict]:
    def done() -> bool:
        for name in d.notifiers:
            d.deliver(name)
        return all(r["state"] != "pending" for r in d.box.of_rule(rule, 50))
    wait_for(done, 20, "outbox records finished")
    return d.box.of_rule(rule, 50)


def test_a_mailer_added_after_the_firing_gets_no_resolve_and_alertmanager_does(
        store, relay, alertmanager_url, unique_name):  # noqa: F811
    """Fired to Alertmanager alone; restarted with e-mail added to the route; resolved: the
    resolve closes the Alertmanager alert, and the mailbox stays empty."""
    mailbox, port = relay({})
    am = alertmanager.Alertmanager("am", alertmanager.Options(alertmanager_url))
    now = time.time_ns() // 1_000_000
    history: list[dict] = []
    first = _process(store, [am], history)
    first.submit(["am"], _note(unique_name, "firing", now - 60_000, now - 1_000))
    first.flush()
    _finish(first, unique_name)
    assert len(_active(alertmanager_url, unique_name)) == 1

    second = _process(store, [am, _mailer(port)], history)  # after the restart
    second.submit(["am", "mail"], _note(unique_name, "resolved", now - 60_000, now))
    second.flush()
    records = _finish(second, unique_name)
    resolves = {r["notifier"]: r["state"] for r in records if r["action"] == "resolved"}
    assert resolves == {"am": "delivered", "mail": "superseded"}
    assert sum(mailbox.copies.values()) == 0
    wait_for(lambda: not _active(alertmanager_url, unique_name), 10, "the alert resolved")
    assert [(h["notifier"], h["action"], h["state"]) for h in history] == [
        ("am", "firing", "notified"), ("am", "resolved", "notified"),
        ("mail", "resolved", "notify_superseded")]
    assert history[-1]["error"] == "its firing never reached the receiver"


def test_an_episode_that_paged_nobody_mails_no_resolve(store, relay, unique_name):  # noqa: F811
    """The alert fired as would_page (no notifier routed) or silenced: nothing is in the
    outbox for it. E-mail routed by the time it resolves gets no resolve."""
    mailbox, port = relay({})
    now = time.time_ns() // 1_000_000
    history: list[dict] = []
    d = _process(store, [_mailer(port)], history)
    d.submit(["mail"], _note(unique_name, "resolved", now - 60_000, now))
    d.flush()
    (record,) = _finish(d, unique_name)
    assert record["state"] == "superseded"
    assert sum(mailbox.copies.values()) == 0
    assert [(h["action"], h["state"]) for h in history] == [("resolved", "notify_superseded")]


def test_a_mailed_firing_gets_its_resolve_mailed(store, relay, unique_name):  # noqa: F811
    """The other side: the mailbox got the page, so it gets the resolve (after a restart)."""
    mailbox, port = relay({})
    now = time.time_ns() // 1_000_000
    history: list[dict] = []
    first = _process(store, [_mailer(port)], history)
    first.submit(["mail"], _note(unique_name, "firing", now - 60_000, now - 1_000))
    first.flush()
    _finish(first, unique_name)
    second = _process(store, [_mailer(port)], history)
    second.submit(["mail"], _note(unique_name, "resolved", now - 60_000, now))
    second.flush()
    _finish(second, unique_name)
    assert mailbox.copies == {a: 2 for a in ("ann@example.com", "bob@example.com",
                                             "cy@example.com")}
    assert [(h["action"], h["state"]) for h in history] == [
        ("firing", "notified"), ("resolved", "notified")]
