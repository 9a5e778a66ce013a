"""Opsgenie Alert API v2: create and close by alias; the EU endpoint by region."""

from __future__ import annotations

from notify_support import (
    note,
    opsgenie_schema,
)

from collector.yamlconf import Secret, loads
from rules.notify import opsgenie


def test_contract_opsgenie_create_and_close_by_alias(receivers):
    r = receivers(opsgenie_schema, ok_body=b'{"result":"Request will be processed","took":0.1}')
    key = Secret("og-key-1234", "env:OG")
    og = opsgenie.Opsgenie("og", opsgenie.Options(key, r.url, tags=("midwatch",),
                                                  priorities=tuple(opsgenie.PRIORITIES.items())))
    og.send(note(summary="s" * 500))
    og.send(note("resolved"))
    (p1, h1, _, _), (p2, _, _, _) = r.requests
    create = r.bodies()[0]
    assert p1 == "/v2/alerts" and h1["Authorization"] == "GenieKey og-key-1234"
    assert p2 == "/v2/alerts/a1b2c3d4e5f6a1b2c3d4e5f6/close?identifierType=alias"
    assert len(create["message"]) == 130 and create["alias"] == "a1b2c3d4e5f6a1b2c3d4e5f6"
    assert create["priority"] == "P1"
    assert create["details"]["sample_message_ids"] == "order-4711, order-4712"
    assert "flow:o2c" in create["tags"] and "midwatch" in create["tags"]


def test_opsgenie_config_picks_the_eu_endpoint(monkeypatch):
    from rules.config import load_notifiers

    monkeypatch.setenv("OG_KEY", "abcd-1234")
    doc = loads("notifiers:\n  og: {type: opsgenie, api_key: '${OG_KEY}', region: eu,"
                " priorities: {warning: P4}}\n")
    og = load_notifiers(doc)["og"]
    assert og.options.base_url == "https://api.eu.opsgenie.com"
    assert dict(og.options.priorities)["warning"] == "P4"
