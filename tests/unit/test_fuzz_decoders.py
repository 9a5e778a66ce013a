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
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.event import DeadLetter, Event, Record
from collector.httpserver import HttpError
from collector.inputs.otlp import decode, gunzip, map_events
from collector.otlp_limits import LimitExceeded
from collector.parse import ParseStats, parse_stream
from collector.parsers.base import ParseContext

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
