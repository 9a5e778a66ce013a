from pathlib import Path

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import json_lines
from collector.parsers._base import ParseContext
from collector.yamlconf import ConfigError

DATA = Path(__file__).resolve().parents[2] / "data"


def test_defaults_without_mapping(parse_data):
    events, dead = parse_data("json", "json/app.jsonl")
    assert dead == []
    first, second, third = events
    assert first.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.123Z")
    assert first.ids == ["correlation:6f1c2e40-d7a1-11ee-9a3c-0242ac120002", "order:4711"]
    assert first.service == "order-gateway"
    assert second.timestamp_ms == 1_709_288_133_000 and second.level == "error"
    assert second.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert second.error_type == "ConnectionResetError" and second.error_class == "connectivity"
    assert third.level == "warn" and third.host == "worker-3"
    assert third.message == '{"text":"structured message"}'


def test_mapping_file(parse_data):
    mapping = json_lines.load_mapping(str(DATA / "json/custom-mapping.yaml"))
    assert mapping["ids.order"] == "body.orderId" and mapping["labels.region"] == "meta.region"
    events, dead = parse_data("json", "json/custom.jsonl", mapping=mapping)
    assert dead == []
    bad, ok = events
    assert bad.timestamp_ms == iso_to_ms("2024-03-01T11:15:32Z")
    assert bad.level == "fatal" and bad.outcome == "failure"
    assert bad.ids == ["order:4711", "correlation:abc-123"]
    assert (bad.flow, bad.stage, bad.partner) == ("orders-to-sap", "sap.delivered", "ACME")
    assert bad.duration_ns == 250_000_000 and bad.labels["region"] == "eu-west"
    assert "4111" not in bad.message
    assert ok.outcome == "success" and ok.ids == ["order:4712"]


def test_mapping_errors_name_file_line_and_suggestion():
    with pytest.raises(ConfigError) as err:
        json_lines.load_mapping(str(DATA / "json/bad-mapping.yaml"))
    text = str(err.value)
    assert "bad-mapping.yaml:2" in text and "levle" in text and "did you mean 'level'" in text


def test_malformed(parse_data):
    events, dead = parse_data("json", "json/malformed.jsonl")
    assert [d.line for d in dead] == [1, 2, 3]
    assert events[0].message == "fine" and events[0].timestamp_estimated


def test_detect():
    assert json_lines.detect('{"a": 1}')
    assert not json_lines.detect('{"a": 1')


def test_kafka_key_and_headers_carry_ids():
    record = Record(text='{"message":"m","orderId":"9"}', source="kafka:orders/0", key="4711",
                    headers={"X-Correlation-ID": "c-77", "traceparent":
                             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    (ev,) = json_lines.parse(record, ParseContext())
    assert ev.ids == ["order:9", "kafka.key:4711", "correlation:c-77",
                      "otel.trace:4bf92f3577b34da6a3ce929d0e0e4736"]
    assert (ev.trace_id, ev.span_id) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
