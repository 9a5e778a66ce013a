"""PagerDuty Events API v2: trigger and resolve by dedup key, a rejection is not retried."""

from __future__ import annotations

import pytest
from notify_support import (
    PD_KEY,
    note,
    pagerduty_schema,
)

from collector.yamlconf import Secret
from rules.notify import pagerduty
from rules.notify.base import SendError


def test_contract_pagerduty_trigger_and_resolve(receivers):
    r = receivers(pagerduty_schema, ok_body=b'{"status":"success","message":"Event processed"}')
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(PD_KEY, "env:PD"), f"{r.url}/v2/enqueue"))
    pd.send(note(summary="x" * 3000))
    pd.send(note("resolved"))
    trigger, resolve = r.bodies()
    assert len(trigger["payload"]["summary"]) == 1024
    assert trigger["dedup_key"] == resolve["dedup_key"] == "a1b2c3d4e5f6a1b2c3d4e5f6"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["custom_details"]["sample_message_ids"] == ["order-4711", "order-4712"]
    assert [link["text"] for link in trigger["links"]] == ["Message traces", "Runbook"]
    assert resolve == {"routing_key": PD_KEY, "dedup_key": "a1b2c3d4e5f6a1b2c3d4e5f6",
                       "event_action": "resolve"}


def test_contract_pagerduty_rejection_is_not_retried(receivers):
    r = receivers(pagerduty_schema)
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret("short", "env:PD"), f"{r.url}/v2/enqueue"))
    with pytest.raises(SendError) as exc:
        pd.send(note())
    assert not exc.value.retryable
    assert "HTTP 400" in str(exc.value) and "32-character" in str(exc.value)
