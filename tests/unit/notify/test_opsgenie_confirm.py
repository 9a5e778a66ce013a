"""Contract test (a fake Opsgenie HTTP peer replaying the Alert API's documented bodies):
a 202 is not a page until ``GET /v2/alerts/requests/{requestId}`` says it was processed.

docs.opsgenie.com/docs/alert-api: create and close answer 202 ``{"result": "Request will be
processed", "took": ..., "requestId": ...}``; the status endpoint answers 404 until the
request is processed, then 200 with ``data.isSuccess`` and ``data.status``. Sends go through
the real outbox (SQLite) and delivery workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from notify_support import FakeOpsgenie, delivery, note, opsgenie_processed

from collector.yamlconf import Secret
from rules.notify import opsgenie
from rules.notify.base import SendError, Unconfirmed


@pytest.fixture
def fake(peer) -> Callable[..., FakeOpsgenie]:
    return lambda *args, **kw: peer(*args, kind=FakeOpsgenie, **kw)


def _genie(peer: FakeOpsgenie) -> opsgenie.Opsgenie:
    return opsgenie.Opsgenie("og", opsgenie.Options(Secret("og-key", "env:OG"), peer.url),
                             confirm_waits_s=(0.01, 0.02, 0.05, 0.1))


def _deliver_until_done(d, history: list[dict], n_states: int) -> None:
    deadline = time.monotonic() + 10
    while len([h for h in history if h["state"] != "notify_retry"]) < n_states:
        assert time.monotonic() < deadline, f"history: {history}"
        d.deliver("og")


def test_contract_a_processed_create_is_delivered(fake, tmp_path):
    peer = fake([(200, opsgenie_processed("Create", True, "Created alert"))])
    history: list[dict] = []
    d = delivery(tmp_path, [_genie(peer)], history)
    d.submit(["og"], note())
    d.flush()
    _deliver_until_done(d, history, 1)
    assert [h["state"] for h in history] == ["notified"]
    assert peer.looks == {"req-1": 2}  # 404 once, then processed
    assert [p for p, _ in peer.posts] == ["/v2/alerts"]


def test_contract_a_create_opsgenie_failed_is_retried_not_delivered(fake, tmp_path):
    """202, then the status says it failed: that was "delivered" (nobody paged); now the
    send is retried (same alias: Opsgenie keeps one alert) until it is processed."""
    peer = fake([(200, opsgenie_processed("Create", False, "Integration is disabled")),
                 (200, opsgenie_processed("Create", True, "Created alert"))])
    history: list[dict] = []
    d = delivery(tmp_path, [_genie(peer)], history)
    d.submit(["og"], note())
    d.flush()
    assert d.deliver("og") == 1
    (rec,) = d.box.of_rule("o2c-failures", 5)
    assert rec["state"] == "pending" and "failed: Integration is disabled" in rec["last_error"]
    assert history == []  # a first retry is not yet a history entry
    _deliver_until_done(d, history, 1)
    assert [h["state"] for h in history] == ["notified"]
    assert [b["alias"] for _, b in peer.posts] == ["a1b2c3d4e5f6a1b2c3d4e5f6"] * 2


def test_contract_closing_an_alert_opsgenie_does_not_hold_is_done(fake, tmp_path):
    peer = fake([(200, opsgenie_processed("Close", False, "Alert does not exist"))])
    history: list[dict] = []
    d = delivery(tmp_path, [_genie(peer)], history)
    d.submit(["og"], note("resolved"))
    d.flush()
    _deliver_until_done(d, history, 1)
    assert [h["state"] for h in history] == ["notified"]
    assert len(peer.posts) == 1


@pytest.mark.parametrize("status_api", ["never processed", "down"])
def test_contract_an_unknown_outcome_is_accepted_unconfirmed(fake, tmp_path, status_api):
    """The status endpoint answers 404 past every look, or 503: the history says
    ``notify_unconfirmed`` with why, not ``notified``; the create is not sent again."""
    peer = (fake([], not_yet=100) if status_api == "never processed"
            else fake([(503, {"message": "unavailable"})], not_yet=0))
    history: list[dict] = []
    d = delivery(tmp_path, [_genie(peer)], history)
    d.submit(["og"], note())
    d.flush()
    _deliver_until_done(d, history, 1)
    (h,) = history
    assert h["state"] == "notify_unconfirmed"
    assert "accepted request req-1; its outcome is unknown" in h["error"]
    assert ("HTTP 503" in h["error"]) == (status_api == "down")
    (rec,) = d.box.of_rule("o2c-failures", 5)
    assert rec["state"] == "delivered" and rec["log"][-1]["answer"].startswith(
        "accepted, unconfirmed")
    assert d.deliver("og") == 0 and len(peer.posts) == 1


def test_contract_after_an_unconfirmed_send_the_next_looks_once(fake, tmp_path):
    """With the status API down, the second page does not wait through every look again
    (a backlog of pages would each hold the worker ~6 s)."""
    peer = fake([(503, {"message": "unavailable"})], not_yet=0)
    genie = _genie(peer)
    for key in ("k1", "k2"):
        assert isinstance(genie.send(replace(note(), key=key)), Unconfirmed)
    assert peer.looks == {"req-1": 4, "req-2": 1}


def test_contract_notify_test_says_accepted_unconfirmed(fake, tmp_path, monkeypatch, capsys):
    """``midwatch rules notify test`` against Opsgenie prints what the status said: a
    confirmed create as delivered, an unconfirmed one as such (it printed "delivered")."""
    from midwatch.cli import main

    monkeypatch.setattr(opsgenie, "CONFIRM_WAITS_S", (0.01, 0.02))
    monkeypatch.setenv("OG_KEY", "og-key")
    peer = fake([(200, opsgenie_processed("Create", True, "Created alert")),
                 (200, opsgenie_processed("Close", True, "Closed alert"))])
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"notifiers:\n  og: {{type: opsgenie, api_key: '${{OG_KEY}}', "
                    f"url: '{peer.url}'}}\n")
    assert main(["notify", "test", "og", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "og firing: delivered; answer: " in out and '"Created alert"' in out
    down = fake([(503, {"message": "unavailable"})], not_yet=0)
    path.write_text(f"notifiers:\n  og: {{type: opsgenie, api_key: '${{OG_KEY}}', "
                    f"url: '{down.url}'}}\n")
    assert main(["notify", "test", "og", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "og firing: accepted, unconfirmed: Opsgenie (og) accepted request req-1" in out
    assert "og resolved: accepted, unconfirmed" in out


def test_contract_quiet_mode_ends_when_the_status_api_answers_again(fake, tmp_path):
    """The status API was down for one send (look once for a while); back, it answers 404
    to that single look (not processed yet): quiet mode ends there, so the next create,
    which Opsgenie failed, is looked at until its outcome and retried. The old code renewed
    quiet mode on the 404 and recorded every such failure as merely unconfirmed."""
    peer = fake([(503, {"message": "unavailable"})], not_yet=0)
    genie = _genie(peer)
    assert isinstance(genie.send(replace(note(), key="k1")), Unconfirmed)
    peer.not_yet, peer.outcomes = 1, [(200, opsgenie_processed("Create", False, "Team not found"))]
    assert isinstance(genie.send(replace(note(), key="k2")), Unconfirmed)  # one look: 404
    with pytest.raises(SendError, match="processed request req-3 and failed: Team not found"):
        genie.send(replace(note(), key="k3"))
    assert peer.looks == {"req-1": 4, "req-2": 1, "req-3": 2}


def test_contract_a_slow_status_api_does_not_start_quiet_mode(fake, tmp_path):
    """404 past every look (Opsgenie slow, its status API fine): unconfirmed, but the next
    send still looks as long as it needs."""
    peer = fake([(200, opsgenie_processed("Create", True, "Created alert"))], not_yet=4)
    genie = _genie(peer)
    assert isinstance(genie.send(replace(note(), key="k1")), Unconfirmed)
    peer.not_yet = 1
    assert not isinstance(genie.send(replace(note(), key="k2")), Unconfirmed)
    assert peer.looks == {"req-1": 4, "req-2": 2}
