"""Contract test (fake Opsgenie and webhook HTTP peers; the SQLite outbox and delivery workers
are real): an Opsgenie send holds its notifier's worker while it looks for the outcome (about
6 s when Opsgenie is slow to process), and pages to other notifiers do not wait behind it:
each notifier has its own worker (``rules.delivery``)."""

from __future__ import annotations

import time

from notify_support import FakeOpsgenie, delivery, note, opsgenie_processed

from collector.yamlconf import Secret
from rules.notify import opsgenie, webhook

LOOKS_S = (0.5, 1.0, 1.5, 2.0)  # 5 s of looks, as the default's 6.2 s: never processed


def test_contract_a_slow_opsgenie_confirmation_delays_no_other_notifier(peer, tmp_path):
    genie_peer = peer([(200, opsgenie_processed("Create", True, "Created alert"))],
                      not_yet=100, kind=FakeOpsgenie)
    hook_peer = peer([(200, {}, b"")])
    genie = opsgenie.Opsgenie("og", opsgenie.Options(Secret("og-key", "env:OG"), genie_peer.url),
                              confirm_waits_s=LOOKS_S)
    hook = webhook.Webhook("hook", webhook.Options(f"{hook_peer.url}/alerts"))
    history: list[dict] = []
    d = delivery(tmp_path, [genie, hook], history)
    d.start()
    try:
        started = time.monotonic()
        d.submit(["og", "hook"], note())
        d.flush()
        deadline = started + 30
        while not genie_peer.posts:  # Opsgenie's worker took its page first
            assert time.monotonic() < deadline
            time.sleep(0.01)
        d.submit(["hook"], note("resolved"))  # while the Opsgenie worker is looking
        d.flush()
        # Both webhook pages recorded (the peer sees a post before its worker writes the
        # outcome to the history: waiting on the peer alone raced that write under load).
        while [h["notifier"] for h in history].count("hook") < 2:
            assert time.monotonic() < deadline, (hook_peer.seen, history)
            time.sleep(0.01)
        hook_done = time.monotonic() - started
        # Opsgenie is still confirming its page when both webhook posts went out.
        assert [h["notifier"] for h in history] == ["hook", "hook"], history
        assert sum(genie_peer.looks.values()) < len(LOOKS_S)
        while not any(h["notifier"] == "og" for h in history):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        genie_done = time.monotonic() - started
    finally:
        d.stop()
    assert [h["state"] for h in history if h["notifier"] == "og"] == ["notify_unconfirmed"]
    assert genie_done >= sum(LOOKS_S) > hook_done
    print(f"webhook: both pages in {hook_done:.2f} s; Opsgenie's worker held "
          f"{genie_done:.2f} s confirming")
