"""Redaction of what a failed OTLP request leaves in the dead-letter store."""

from __future__ import annotations

import collector.inputs.otlp as otlp
from collector.event import DeadLetter
from collector.parsers._base import ParseContext

PAN = "4111111111111111"


def test_a_request_that_cannot_be_mapped_is_dead_lettered_without_card_or_email(monkeypatch):
    def crash(obj, ctx):
        raise KeyError("resourceSpans")

    monkeypatch.setattr(otlp, "events_from_export", crash)
    body = {"resourceSpans": [{"attributes": [{"key": "card", "value": {"stringValue": PAN}},
                                              {"key": "to", "value": {"stringValue": "a.b@c.example"}}]}]}
    (dead,) = otlp.map_events(body, ParseContext(now_ms=1), "otlp:/v1/traces")
    assert isinstance(dead, DeadLetter) and dead.reason.startswith("parser_crash: otlp: KeyError")
    assert PAN not in dead.raw and "a.b@c.example" not in dead.raw
    assert "[card:" in dead.raw and "resourceSpans" in dead.raw
