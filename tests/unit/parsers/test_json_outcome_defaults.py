"""Top-level ``action``/``outcome``/``status`` of JSON logs are read without a mapping (a
catalog's ``action:`` and ``outcome:`` stage matches never hit JSON logs before), and ECS
``event.action``/``event.outcome`` too; a mapping still decides where it names a field."""

from __future__ import annotations

import pytest

from collector.event import Record
from collector.parsers import json_lines
from collector.parsers._base import ParseContext


def _parse(line: str, **ctx) -> object:
    (ev,) = json_lines.parse(Record(line), ParseContext(now_ms=1, **ctx))
    return ev


@pytest.mark.parametrize("line,action,outcome", [
    # the demo's SAP bridge (midwatch/demo/scenario.py), as a small service logs it
    ('{"timestamp":"2024-03-01T10:00:00Z","level":"INFO","app":"sap-bridge","orderId":"4711",'
     '"action":"delivered","outcome":"success","message":"IDoc ORDERS05 posted"}',
     "delivered", "success"),
    ('{"@timestamp":"2024-03-01T10:00:00Z","message":"x","event":{"action":"published",'
     '"outcome":"failure"}}', "published", "failure"),  # ECS nesting (ecs-logging)
    ('{"ts":1709287200,"msg":"x","status":"FAILED"}', None, "failure"),
    ('{"ts":1709287200,"msg":"x","result":"ok"}', None, "success"),
    ('{"ts":1709287200,"msg":"x","status":200}', None, "unknown"),  # an HTTP status says nothing
])
def test_action_and_outcome_by_their_usual_names(line, action, outcome):
    ev = _parse(line)
    assert (ev.action, ev.outcome) == (action, outcome)


def test_a_mapping_still_wins():
    ev = _parse('{"ts":1,"msg":"x","outcome":"success","result":"error"}',
                mapping={"outcome": "result"})
    assert ev.outcome == "failure"
