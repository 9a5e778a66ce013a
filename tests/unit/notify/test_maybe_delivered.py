"""A send that may have reached the receiver is never cancelled against its resolve.

The outbox drops a firing and its resolve together when the firing never reached the
receiver; when it may have (a timeout, a broken connection, the process dying while it waited
for the answer), the resolve must go out, or the receiver keeps an incident open forever. The
receivers here are the contract tests' local HTTP servers.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest
from notify_support import delivery, note

from rules.notify import webhook
from rules.notify.base import Http, SendError


def _ok(path, headers, body) -> list[str]:
    return []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _refused(url: str, http: Http) -> bool:
    with pytest.raises(SendError) as err:
        http.post(url, {"a": 1}, what="test")
    return err.value.refused


def test_refused_only_when_the_receiver_certainly_did_not_take_it(receivers):
    http = Http(read_timeout_s=0.3)
    assert _refused(receivers(_ok, fail_status=503).url, http)  # it answered: not taken
    assert _refused(f"http://127.0.0.1:{_closed_port()}/x", http)  # never connected
    slow = receivers(_ok, delay_s=1.0)  # read the request, answered too late: may have
    assert not _refused(slow.url, http)
    assert len(slow.requests) == 1


def test_a_timed_out_firing_is_resolved_not_cancelled(receivers, tmp_path):
    slow = receivers(_ok, delay_s=1.0)
    hook = webhook.Webhook("hook", webhook.Options(f"{slow.url}/alerts"),
                           http=Http(read_timeout_s=0.3))
    history: list[dict] = []
    d = delivery(tmp_path, [hook], history)
    box = d.box
    fired = replace(note(), key="k1")
    d.start()
    try:
        d.submit(["hook"], fired)
        d.flush()
        deadline = time.monotonic() + 10
        while not any(r["attempts"] for r in box.of_rule(fired.rule, 5)):
            assert time.monotonic() < deadline, "no attempt recorded"
            time.sleep(0.02)
        (rec,) = box.of_rule(fired.rule, 5)
        assert rec["state"] == "pending" and rec["maybe_delivered"]
        d.submit(["hook"], replace(note("resolved"), key="k1", at_ms=fired.at_ms + 1))
        d.flush()
        while [b["action"] for b in slow.bodies()].count("resolved") < 1:
            assert time.monotonic() < deadline, f"resolve not sent: {slow.bodies()}"
            time.sleep(0.02)
    finally:
        d.stop()
    assert [b["action"] for b in slow.bodies()][-1] == "resolved"
