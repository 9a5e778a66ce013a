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


def test_contract_a_link_longer_than_a_slack_button_takes_does_not_lose_the_page(receivers):
    """A button's URL is at most 3000 characters; a longer runbook link (an annotation renders
    up to 4096: a Kibana link with its query) made Slack refuse the whole message with
    ``invalid_blocks``, for good. The page goes out; the link is named, not a button."""
    r = receivers(slack_schema, ok_status=200, ok_body=b"ok")
    long_url = "https://kibana.example.com/app/discover#/?_a=" + "x" * 3500
    n = note()
    n = replace(n, annotations={**n.annotations, "runbook_url": long_url})
    s = slack.Slack("slack", slack.Options(Secret(f"{r.url}/services/T0/B0/xyz", "env:SLACK")))
    s.send(n)
    (sent,) = r.bodies()
    buttons = [e["text"]["text"] for b in sent["blocks"] if b["type"] == "actions"
               for e in b["elements"]]
    assert "Runbook" not in buttons
    assert any("Runbook: not shown, its URL (3545 characters) is longer than Slack's 3000"
               in e["text"] for b in sent["blocks"] if b["type"] == "context"
               for e in b["elements"])
