"""Bounded work per OTLP request (issue 29): the hostile bodies of the report, sent over real
HTTP to the receiver, are answered 413 naming the limit, before they become objects, and
nothing of them is queued; gzip members are all read; an API token with scope ``ingest`` is
accepted. A small writer thread stands in for the pipeline (see test_otlp_receiver)."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io

import orjson
import pytest
import test_otlp_receiver
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from test_otlp_receiver import SPAN_ID, TRACE_ID, export_json, post, start

from collector.config import ApiToken, CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs.base import parse_context
from collector.inputs.otlp import Config as OtlpConfig
from collector.inputs.otlp import OtlpInput as Receiver
from collector.otlp_limits import LimitExceeded, Limits, check_protobuf
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

JSON = "application/json"
PROTOBUF = "application/x-protobuf"


writer = test_otlp_receiver.writer  # the fixture: a thread acking chunks, as the pipeline


@pytest.fixture
def receiver(writer):
    r = start(writer)  # the default limits: 4 MiB bodies, 32 MiB expanded
    yield r
    r.stop()
    r.close()


def _ld(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    size, out = len(payload), bytearray([(field << 3) | 2])
    while True:
        byte, size = size & 0x7F, size >> 7
        out.append(byte | (0x80 if size else 0))
        if not size:
            return bytes(out) + payload


def deep_attributes(json_levels: int) -> bytes:
    """An ``attributes`` list whose value nests array values to ``json_levels`` JSON levels
    in all (each array value is three: value, arrayValue, values), written as text: no JSON
    encoder goes that deep (orjson stops at 255, where the receiver's 500 came from)."""
    arrays = (json_levels - 9) // 3
    value = b'{"arrayValue":{"values":[' * arrays + b'{"stringValue":"bottom"}' + b"]}}" * arrays
    return b'[{"key":"deep","value":' + value + b"}]"


def span_with(attributes: bytes = b"[]", **fields) -> bytes:
    span = {"traceId": TRACE_ID, "spanId": SPAN_ID, "name": "s",
            "startTimeUnixNano": "1714557600000000000", "attributes": "@", **fields}
    doc = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    return doc.replace(b'"@"', attributes)


def refused(receiver, writer, body: bytes, ctype: str, limit: str, encoding: str | None = None):
    status, content_type, answer = post(receiver, "/v1/traces", body, ctype, encoding)
    assert status == 413, answer[:300]
    assert content_type == JSON and limit in orjson.loads(answer)["error"]
    assert writer.events == [], "nothing of a refused request is queued"


def test_ten_million_empty_spans_in_29_kb_of_gzip_json_are_refused(receiver, writer):
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + b"{}," * 9_999_999 + b"{}]}]}]}"
    bomb = gzip.compress(body, 9)
    assert len(bomb) < 64 * 1024 and len(body) < 32 * 1024 * 1024
    refused(receiver, writer, bomb, JSON, "max_values", "gzip")


def test_seven_million_numbers_in_27_kb_of_gzip_json_are_refused(receiver, writer):
    """One object, one array: the members count, or this is 375 MB once parsed."""
    body = (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"s","x":['
            + b"1.5," * 7_000_000 + b"1.5]}]}]}]}")
    refused(receiver, writer, gzip.compress(body, 9), JSON, "max_values", "gzip")


def test_two_million_empty_spans_in_4_mb_of_protobuf_are_refused(receiver, writer):
    body = _ld(1, _ld(2, b"\x12\x00" * 2_000_000))
    assert len(body) <= 4 * 1024 * 1024
    refused(receiver, writer, body, PROTOBUF, "max_records")


def test_too_many_attributes_on_one_span_are_refused_in_either_encoding(receiver, writer):
    attrs = [{"key": f"a{i}", "value": {"stringValue": "v"}} for i in range(257)]
    refused(receiver, writer, span_with(orjson.dumps(attrs)), JSON, "max_attributes")
    key_value = _ld(1, b"a") + _ld(2, _ld(1, b"v"))
    span = b"".join(_ld(9, key_value) for _ in range(257))
    refused(receiver, writer, _ld(1, _ld(2, _ld(2, span))), PROTOBUF, "max_attributes")


@pytest.mark.parametrize("levels", [255, 300, 339])
def test_deeply_nested_values_are_413_not_500(receiver, writer, levels):
    body = span_with(deep_attributes(levels))
    assert orjson.loads(body), "deep, but within what the JSON parser takes"
    refused(receiver, writer, body, JSON, "max_depth")


def test_a_group_cannot_hide_what_follows_it(receiver, writer):
    """A decoder keeps an unknown group and reads on; the walk once stopped at it, so the
    spans after it went uncounted. No OTLP message has groups: 400."""
    spans = b"\x7b\x7c" + b"\x12\x00" * 20_000  # group field 15 (start, end), then spans
    body = _ld(1, _ld(2, spans))
    status, ctype, answer = post(receiver, "/v1/traces", body, PROTOBUF)
    assert status == 400 and ctype == PROTOBUF
    assert "groups" in Status.FromString(answer).message
    assert writer.events == []


def test_deeply_nested_protobuf_is_refused_before_decoding():
    value = _ld(1, b"bottom")  # AnyValue{string_value}
    for _ in range(40):  # AnyValue{kvlist_value{values[KeyValue{key, value}]}}
        value = _ld(6, _ld(1, _ld(1, b"k") + _ld(2, value)))
    body = _ld(1, _ld(2, _ld(2, _ld(9, _ld(1, b"deep") + _ld(2, value)))))
    with pytest.raises(LimitExceeded) as info:
        check_protobuf("/v1/traces", body, Limits())
    assert info.value.limit == "max_depth"


def test_an_overlong_string_is_refused(receiver, writer):
    refused(receiver, writer, span_with(name="x" * (1024 * 1024 + 1)), JSON, "max_string_bytes")
    span = _ld(5, b"x" * (1024 * 1024 + 1))
    status, _, answer = post(receiver, "/v1/traces", _ld(1, _ld(2, _ld(2, span))), PROTOBUF)
    assert status == 413 and b"max_string_bytes" in answer


def test_the_largest_accepted_request_is_stored_whole(receiver, writer):
    spans = [{"traceId": TRACE_ID, "spanId": f"{i + 1:016x}", "name": f"GET /o/{i}",
              "startTimeUnixNano": str(1714557600000000000 + i),
              "attributes": [{"key": "order.id", "value": {"stringValue": str(i)}}]}
             for i in range(10_000)]
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    status, _, _ = post(receiver, "/v1/traces", gzip.compress(body), JSON, "gzip")
    assert status == 200 and len(writer.events) == 10_000
    spans.append(spans[0])
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    assert post(receiver, "/v1/traces", gzip.compress(body), JSON, "gzip")[0] == 413
    assert len(writer.events) == 10_000


def test_every_gzip_member_is_read_and_trailing_garbage_is_400(receiver, writer):
    first = orjson.dumps(export_json())
    two = gzip.compress(first[:40]) + gzip.compress(first[40:])
    status, _, _ = post(receiver, "/v1/traces", two, JSON, "gzip")
    assert status == 200 and [e.span_id for e in writer.events] == [SPAN_ID]
    status, _, answer = post(receiver, "/v1/traces", gzip.compress(first) + b"junk", JSON, "gzip")
    assert status == 400 and b"gzip" in answer


def test_an_api_token_with_scope_ingest_is_accepted(writer):
    def token(name: str, secret: str, scopes: set[str]) -> ApiToken:
        return ApiToken(name, hashlib.sha256(secret.encode()).digest(), frozenset(scopes))

    cfg = OtlpConfig(name="otlp", listen=("127.0.0.1", 0),
                    tokens=(token("exporter", "otlp-secret", {"ingest"}),))
    api_tokens = (token("ci", "api-ingest", {"ingest"}), token("grafana", "api-read", {"traces"}))
    receiver = Receiver(cfg, parse_context(CollectorSettings(), frozenset(), None), api_tokens)
    import threading

    threading.Thread(target=receiver.run, args=(writer.queue,), daemon=True).start()
    try:
        def send(secret: str) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
            conn.request("POST", "/v1/traces", body=orjson.dumps(export_json()),
                         headers={"Content-Type": JSON, "Authorization": f"Bearer {secret}"})
            status = conn.getresponse().status
            conn.close()
            return status

        assert [send(s) for s in ("otlp-secret", "api-ingest", "api-read", "nope")] == \
            [200, 200, 401, 401]
    finally:
        receiver.stop()
        receiver.close()


def test_deep_otlp_json_in_a_file_is_dead_lettered_and_the_file_goes_on():
    lines = span_with(deep_attributes(300)) + b"\n" + span_with() + b"\n"
    ctx = ParseContext(now_ms=1_765_000_000_000)
    items = list(parse_stream(io.BytesIO(lines), "spans.json", "otlp-json", ctx))
    assert [type(i) for i in items] == [DeadLetter, Event]
    assert items[0].reason.startswith("parse_error: otlp-json:") and "max_depth" in items[0].reason
    assert items[0].field == "max_depth"


def test_a_log_export_walk_counts_log_records():
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add().scope_logs.add().log_records
    for _ in range(3):
        records.add().body.string_value = "x"
    body = request.SerializeToString()
    check_protobuf("/v1/logs", body, Limits(max_records=3))
    with pytest.raises(LimitExceeded) as info:
        check_protobuf("/v1/logs", body, Limits(max_records=2))
    assert info.value.limit == "max_records"
