"""Field bounds (issue 29): IDs, names and labels have maximum lengths, a cut value says so
(a suffix and ``labels.midwatch_truncated``), and IDs are read from the whole message before
the stored message is cut."""

from __future__ import annotations

import io

import orjson

from collector.event import Event, Record, to_doc
from collector.normalize import (
    MAX_ID,
    MAX_LABEL_KEY,
    MAX_MESSAGE,
    MAX_NAME,
    TRUNCATED,
    TRUNCATED_LABEL,
    normalize,
)
from collector.parse import parse_stream
from collector.parsers import otlp_json
from collector.parsers._base import ParseContext
from collector.parsers._fields import MAX_LABEL_VALUE
from collector.store.sqlite import SQLiteStore

CTX = ParseContext(now_ms=1_765_000_000_000)


def otlp_span(service: str, order_id: str) -> Event:
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "s", "startTimeUnixNano": "1764000000000000000",
            "attributes": [{"key": "order.id", "value": {"stringValue": order_id}}]}]}]}]}
    (ev,) = otlp_json.parse(Record(text=orjson.dumps(doc).decode()), CTX)
    return normalize(ev, CTX)


def test_a_100_kb_service_name_and_id_are_cut_with_a_marker(tmp_path):
    ev = otlp_span("s" * 100_000, "4711-" + "9" * 100_000)
    assert len(ev.service) == MAX_NAME and ev.service.endswith(TRUNCATED)
    (order,) = [i for i in ev.ids if i.startswith("order:")]
    assert len(order) == MAX_ID and order.startswith("order:4711-999")
    assert "…[truncated " in order
    assert ev.message_id == order
    assert ev.labels[TRUNCATED_LABEL] == "service,midwatch.ids,labels"
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    assert store.write_events([ev]).written == 1


def test_two_long_ids_with_one_head_stay_apart():
    head = "x" * 300
    a, b = otlp_span("svc", head + "a"), otlp_span("svc", head + "b")
    id_a = next(i for i in a.ids if i.startswith("order:"))
    id_b = next(i for i in b.ids if i.startswith("order:"))
    assert id_a != id_b and len(id_a) == len(id_b) == MAX_ID


def test_short_values_are_left_alone():
    ev = otlp_span("order-api", "4711")
    assert ev.service == "order-api" and "order:4711" in ev.ids
    assert TRUNCATED_LABEL not in ev.labels


def test_labels_set_directly_by_a_parser_are_bounded_too():
    ev = Event(timestamp_ms=CTX.now_ms, dataset="d", platform="generic",
               labels={"k" * 500: "short", "processor": "p" * 5000, "fine": "v"})
    normalize(ev, CTX)
    assert all(len(k) <= MAX_LABEL_KEY for k in ev.labels)
    assert len(ev.labels["processor"]) == MAX_LABEL_VALUE
    assert ev.labels["processor"].endswith(TRUNCATED) and ev.labels["fine"] == "v"
    assert ev.labels[TRUNCATED_LABEL] == "labels"


def test_an_id_after_40_000_characters_of_a_text_message_is_kept():
    line = ("2026-12-01 10:00:00,123 INFO [main] c.e.App - " + "x" * 40_000
            + " correlationId=abc-123 orderId=4711\n")
    (ev,) = list(parse_stream(io.BytesIO(line.encode()), "app.log", "text", CTX))
    assert ev.ids == ["correlation:abc-123", "order:4711"]
    assert len(ev.message) == MAX_MESSAGE and ev.message.endswith(TRUNCATED)
    assert ev.labels[TRUNCATED_LABEL] == "message,event.original"


def test_numbers_beyond_a_64_bit_field_are_dropped_and_said_so():
    ev = Event(timestamp_ms=CTX.now_ms, dataset="d", platform="generic", duration_ns=10**30,
               payload_bytes=2**63, probe_value=-(2**63))
    normalize(ev, CTX)
    assert (ev.duration_ns, ev.payload_bytes, ev.probe_value) == (None, None, -(2**63))
    assert ev.labels[TRUNCATED_LABEL] == "duration_ns,payload_bytes"
    orjson.dumps(to_doc(ev))
