"""Fuzzing the decoders that read bytes from untrusted peers: the OTLP receiver's protobuf and
JSON decoding plus span/log mapping, and the X12 and EDIFACT parsers.

Inputs are mutations of real, valid documents (bytes flipped, cut, duplicated; delimiters and
structure changed), so most of them get deep into the decoders instead of failing the first
check. The property: never an exception out of the decoder, every result is events or dead
letters, and a dead letter is a *diagnosis* (parse_error, no_parser), never ``parser_crash``
(a crash caught by the safety net is still a bug).
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.event import DeadLetter, Event, Record, to_doc
from collector.httpserver import HttpError
from collector.inputs.otlp import decode, gunzip, map_events
from collector.otlp_limits import LimitExceeded
from collector.parse import ParseStats, parse_stream
from collector.parsers._base import ParseContext

CTX = ParseContext(now_ms=1_714_557_600_000)
DATA = Path(__file__).parents[1] / "data"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few random edits: flip, delete, insert, duplicate a slice, truncate."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(("flip", "delete", "insert", "duplicate", "truncate")))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


def _assert_events_or_diagnosis(items: list) -> None:
    for item in items:
        assert isinstance(item, Event | DeadLetter), item
        if isinstance(item, DeadLetter):
            assert not item.reason.startswith("parser_crash"), item.reason
            assert item.reason.split(":", 1)[0] in ("parse_error", "no_parser"), item.reason


# ------------------------------------------------------------------ OTLP


def _span_request() -> ExportTraceServiceRequest:
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ=", "name": "POST /o",
            "kind": "SPAN_KIND_SERVER", "startTimeUnixNano": "1714557600000000000",
            "endTimeUnixNano": "1714557600250000000",
            "attributes": [{"key": "order.id", "value": {"stringValue": "4711"}},
                           {"key": "http.status_code", "value": {"intValue": "502"}}],
            "events": [{"name": "exception", "timeUnixNano": "1714557600100000000",
                        "attributes": [{"key": "exception.message",
                                        "value": {"stringValue": "refused"}}]}],
            "status": {"code": "STATUS_CODE_ERROR", "message": "upstream"}}]}]}]}
    from google.protobuf.json_format import ParseDict

    return ParseDict(doc, ExportTraceServiceRequest())


def _log_request() -> ExportLogsServiceRequest:
    from google.protobuf.json_format import ParseDict

    return ParseDict({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1714557600000000000", "severityText": "ERROR",
        "body": {"stringValue": "payment declined"},
        "attributes": [{"key": "correlation.id", "value": {"stringValue": "c-1"}}],
        "traceId": "W47/95gDgQPSabYzgT/GDA=="}]}]}]}, ExportLogsServiceRequest())


SIGNALS = {"/v1/traces": _span_request().SerializeToString(),
           "/v1/logs": _log_request().SerializeToString()}


def _receive(path: str, content_type: str, body: bytes) -> None:
    """What the receiver does with a body: decode (400, or a named limit: 413, allowed),
    then map (never raises)."""
    try:
        obj = decode(path, content_type, body)
    except HttpError as exc:
        assert exc.status == 400
        return
    except LimitExceeded as exc:
        assert exc.limit.startswith("max_")
        return
    _assert_events_or_diagnosis(map_events(obj, CTX, f"otlp:{path}"))


@FUZZ
@given(st.sampled_from(sorted(SIGNALS)), st.data())
def test_otlp_protobuf_mutations(path, data):
    _receive(path, "application/x-protobuf", data.draw(mutated(SIGNALS[path])))


def _json_seed(path: str) -> bytes:
    from google.protobuf.json_format import MessageToJson

    message = _span_request() if path == "/v1/traces" else _log_request()
    return MessageToJson(message, indent=None).encode()


@FUZZ
@given(st.sampled_from(sorted(SIGNALS)), st.data())
def test_otlp_json_mutations(path, data):
    _receive(path, "application/json", data.draw(mutated(_json_seed(path))))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(["", "0", "-1", "ff", "W47/95gDgQ==", "1e400",
                                                   "99999999999999999999999"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "resourceLogs", "scopeSpans", "scopeLogs", "spans",
                         "logRecords", "attributes", "key", "value", "stringValue", "intValue",
                         "traceId", "spanId", "parentSpanId", "startTimeUnixNano",
                         "endTimeUnixNano", "timeUnixNano", "status", "code", "body", "name",
                         "resource", "kvlistValue", "arrayValue", "values", "events"]),
        inner, max_size=5),
    max_leaves=40)


@FUZZ
@given(st.sampled_from(sorted(SIGNALS)), json_values)
@example("/v1/logs", {"resourceLogs": [{"resource": True}]})  # found by this test
@example("/v1/traces", {"resourceSpans": [{"resource": [1]}]})
def test_otlp_json_of_any_shape(path, value):
    _receive(path, "application/json", orjson.dumps(value))


@FUZZ
@given(st.data())
def test_gzip_mutations_are_refused_or_bounded(data):
    body = data.draw(mutated(gzip.compress(SIGNALS["/v1/traces"] * 50)))
    try:
        out = gunzip(body, 4096)
    except HttpError as exc:
        assert exc.status in (400, 413)
    else:
        assert len(out) <= 4096


# ------------------------------------------------------------------ OTLP values at the type limits

U64, I64, I32, U32 = 2**64 - 1, 2**63 - 1, 2**31 - 1, 2**32 - 1
# fixed64 / int64 / int32 / uint32 fields at and around their limits, and times around the
# sane range (1970..2200) and past the year 9999.
u64s = st.sampled_from([0, 1, U64, U64 - 1, I64, I64 + 1, 1_714_557_600_000_000_000,
                        7_289_654_399_999_999_999, 7_289_654_400_000_000_000,
                        253_402_300_800_000_000_000 % 2**64]) | st.integers(0, U64)
i64s = st.sampled_from([0, -1, I64, -I64 - 1]) | st.integers(-I64 - 1, I64)
i32s = st.sampled_from([0, -1, I32, -I32 - 1, 2, 5, 24]) | st.integers(-I32 - 1, I32)
doubles = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1.7976931348623157e308, 5e-324])
texts = st.sampled_from(["", "\x00", "\x1b]0;PWNED\x07", "é" * 3, "\U0001F600",
                         "order.id", "service.name", "exception.message"]) | st.text(max_size=30)
id_bytes = st.sampled_from([b"", b"\0" * 16, b"\xff" * 16, b"\0" * 8, b"\xff" * 8]) | st.binary(
    max_size=20)


@st.composite
def any_values(draw, depth: int = 0):
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    value = AnyValue()
    kind = draw(st.sampled_from(["s", "b", "i", "d", "bytes", "array", "kvlist"] if depth < 3
                                else ["s", "b", "i", "d", "bytes"]))
    if kind == "s":
        value.string_value = draw(texts)
    elif kind == "b":
        value.bool_value = draw(st.booleans())
    elif kind == "i":
        value.int_value = draw(i64s)
    elif kind == "d":
        value.double_value = draw(doubles)
    elif kind == "bytes":
        value.bytes_value = draw(id_bytes)
    elif kind == "array":
        for _ in range(draw(st.integers(0, 3))):
            value.array_value.values.append(draw(any_values(depth + 1)))
    else:
        for _ in range(draw(st.integers(0, 3))):
            kv = value.kvlist_value.values.add(key=draw(texts))
            kv.value.CopyFrom(draw(any_values(depth + 1)))
    return value


def _attributes(draw, target) -> None:
    for _ in range(draw(st.integers(0, 4))):
        kv = target.add(key=draw(texts))
        kv.value.CopyFrom(draw(any_values()))


@st.composite
def limit_requests(draw) -> tuple[str, bytes]:
    if draw(st.booleans()):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        _attributes(draw, rs.resource.attributes)
        for _ in range(draw(st.integers(1, 3))):
            span = rs.scope_spans.add().spans.add()
            span.trace_id, span.span_id = draw(id_bytes), draw(id_bytes)
            span.parent_span_id = draw(id_bytes)
            span.name = draw(texts)
            span.kind = draw(i32s)
            span.start_time_unix_nano = draw(u64s)
            span.end_time_unix_nano = draw(u64s)
            span.dropped_attributes_count = draw(st.sampled_from([0, U32]))
            span.flags = draw(st.sampled_from([0, U32]))
            span.status.code = draw(i32s)
            span.status.message = draw(texts)
            _attributes(draw, span.attributes)
            event = span.events.add(name="exception", time_unix_nano=draw(u64s))
            _attributes(draw, event.attributes)
        return "/v1/traces", request.SerializeToString()
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    _attributes(draw, rl.resource.attributes)
    for _ in range(draw(st.integers(1, 3))):
        record = rl.scope_logs.add().log_records.add()
        record.time_unix_nano = draw(u64s)
        record.observed_time_unix_nano = draw(u64s)
        record.severity_number = draw(i32s)
        record.severity_text = draw(texts)
        record.body.CopyFrom(draw(any_values()))
        record.trace_id, record.span_id = draw(id_bytes), draw(id_bytes)
        record.flags = draw(st.sampled_from([0, U32]))
        _attributes(draw, record.attributes)
    return "/v1/logs", request.SerializeToString()


def _storable(items: list) -> None:
    """What a store does with an event must work: its document encodes, its times are in
    the sane range, its duration fits a 64-bit field."""
    for item in items:
        if isinstance(item, Event):
            assert CTX.time_min_ms <= item.timestamp_ms <= CTX.time_max_ms, item.timestamp_ms
            assert item.duration_ns is None or 0 <= item.duration_ns < 2**63
            orjson.dumps(to_doc(item))
        else:
            orjson.dumps(item.to_doc())


@FUZZ
@given(limit_requests(), st.sampled_from(["application/x-protobuf", "application/json"]))
def test_otlp_values_at_the_type_limits(request, content_type):
    """Every numeric field at its type's limits, times beyond the year 9999, IDs of every
    wrong length, NaN and infinities, control characters: decoded in both encodings, mapped
    into events the store can write, or refused with 400, never a crash."""
    path, body = request
    if content_type == "application/json":
        from google.protobuf.json_format import MessageToJson

        message_type = ExportTraceServiceRequest if path == "/v1/traces" else ExportLogsServiceRequest
        body = MessageToJson(message_type.FromString(body), indent=None).encode()
    try:
        obj = decode(path, content_type, body)
    except HttpError as exc:
        assert exc.status == 400
        return
    items = map_events(obj, CTX, f"otlp:{path}")
    _assert_events_or_diagnosis(items)
    _storable(items)


@FUZZ
@given(st.sampled_from(["startTimeUnixNano", "endTimeUnixNano"]),
       st.sampled_from(["1" + "0" * 30, "9" * 4000, "9" * 4400, "-1", "1e30", "0x10", " 12",
                        "18446744073709551616", "NaN", "Infinity"]) | st.integers(-2**70, 2**70)
       | st.floats())
def test_otlp_json_times_beyond_any_type(field, value):
    """OTLP JSON carries 64-bit integers as strings, so anything can arrive there."""
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "s", field: value}
    # The standard encoder: it writes integers of any size (and NaN, which is not JSON).
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    try:
        obj = decode("/v1/traces", "application/json", body)
    except HttpError as exc:
        assert exc.status == 400 and isinstance(value, float) and not math.isfinite(value)
        return
    items = map_events(obj, CTX, "otlp:/v1/traces")
    assert [type(i) for i in items] == [Event]
    _storable(items)


# ------------------------------------------------------------------ EDI


EDI_SEEDS = {
    "x12": [p.read_bytes()[:4000] for p in sorted((DATA / "x12").glob("*.edi"))],
    "edifact": [p.read_bytes()[:4000] for p in sorted((DATA / "edifact").glob("*.edi"))],
}
DELIMITERS = {"x12": b"*~:^>|\n", "edifact": b"+:'?*\n"}


@st.composite
def edi_documents(draw, fmt: str) -> bytes:
    seed = draw(st.sampled_from(EDI_SEEDS[fmt]))
    doc = draw(mutated(seed))
    if draw(st.booleans()):  # swap one delimiter for another everywhere
        a, b = draw(st.permutations(DELIMITERS[fmt]))[:2]
        doc = doc.replace(bytes([a]), bytes([b]))
    return doc


@pytest.mark.parametrize("fmt", ["x12", "edifact"])
def test_edi_seeds_parse_into_events(fmt):
    """The seeds themselves are good EDI: the fuzzing starts from documents that parse."""
    import io

    events = [x for seed in EDI_SEEDS[fmt]
              for x in parse_stream(io.BytesIO(seed), "seed.edi", fmt, CTX)
              if isinstance(x, Event)]
    assert len(events) >= 5


@pytest.mark.parametrize("fmt", ["x12", "edifact"])
def test_edi_mutations(fmt):
    import io

    @FUZZ
    @given(edi_documents(fmt))
    def check(doc: bytes) -> None:
        stats = ParseStats()
        items = list(parse_stream(io.BytesIO(doc), "fuzz.edi", fmt, CTX, stats))
        _assert_events_or_diagnosis(items)
        assert stats.records >= 0

    check()


@FUZZ
@given(st.sampled_from(["x12", "edifact"]), st.data())
def test_edi_as_one_record(fmt, data):
    """Kafka values and OTLP bodies arrive as whole records, not lines."""
    from collector.parse import parse_record

    doc = data.draw(edi_documents(fmt)).decode("utf-8", errors="replace")
    _assert_events_or_diagnosis(parse_record(Record(text=doc, source="kafka:edi"), fmt, CTX))
