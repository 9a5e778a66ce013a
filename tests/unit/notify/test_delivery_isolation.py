"""One notifier's outage does not delay another (per-notifier outbox workers)."""

from __future__ import annotations

import time
from dataclasses import replace

from notify_support import (
    PD_KEY,
    delivery,
    note,
    pagerduty_schema,
    slack_schema,
)

from collector.yamlconf import Secret
from rules.notify import pagerduty, slack


def test_one_notifier_down_does_not_delay_another(receivers, tmp_path):
    down = receivers(pagerduty_schema, fail_status=503, delay_s=0.3)
    up = receivers(slack_schema, ok_status=200, ok_body=b"ok")
    history: list[dict] = []
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(PD_KEY, "env:PD"), f"{down.url}/v2/enqueue"))
    sl = slack.Slack("slack", slack.Options(Secret(f"{up.url}/hook", "env:S")))
    d = delivery(tmp_path, [pd, sl], history)
    d.start()
    start = time.monotonic()
    for i in range(3):
        d.submit(["pd", "slack"], replace(note(), labels={"flow": f"f{i}"}, key=f"k{i}"))
    d.flush()
    deadline = time.monotonic() + 5
    while len(up.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(up.requests) == 3
    assert up.requests[-1][3] - start < 0.5  # while PagerDuty is still on its first attempts
    while len(down.requests) < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    d.stop(timeout_s=10)
    states = sorted((h["notifier"], h["state"], h["attempts"]) for h in history)
    assert states[-3:] == [("slack", "notified", 1)] * 3
    # Each page is retried, not given up: the third attempt on is reported for the self-alert.
    assert ("pd", "notify_retry", 3) in states
    assert all("HTTP 503" in h["error"] for h in history if h["notifier"] == "pd")
