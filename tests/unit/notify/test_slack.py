"""Slack incoming webhooks: Block Kit messages for firing and resolved."""

from __future__ import annotations

from dataclasses import replace

from notify_support import (
    note,
    slack_schema,
)

from collector.yamlconf import Secret
from rules.notify import slack
from rules.notify.base import Notification


def test_contract_slack_blocks(receivers):
    r = receivers(slack_schema, ok_status=200, ok_body=b"ok")
    labels = {f"label{i}": "v" * 2500 for i in range(12)}
    big = _replace_labels(note(), labels)
    s = slack.Slack("slack", slack.Options(Secret(f"{r.url}/services/T0/B0/xyz", "env:SLACK")))
    s.send(big)
    s.send(note("resolved"))
    first, resolved = r.bodies()
    assert first["blocks"][0]["text"]["text"].startswith(":rotating_light: [CRITICAL] o2c-failures")
    assert len(first["blocks"][1]["fields"]) == 10
    assert "order-4711" in first["blocks"][-2]["elements"][0]["text"]
    assert resolved["text"].startswith("[RESOLVED] o2c-failures")


def _replace_labels(n: Notification, labels: dict) -> Notification:

    return replace(n, labels=labels)
