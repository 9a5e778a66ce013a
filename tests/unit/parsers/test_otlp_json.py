import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

from collector.event import Record, iso_to_ms
from collector.parsers import otlp_json
from collector.parsers._base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)
TRACE = "5b8efff798038103d269b633813fc60c"


def test_spans_from_file_exporter(parse_data):
    events, dead = parse_data("otlp-json", "otlp-json/traces.jsonl")
    assert dead == []
    server, producer, consumer = events
    assert server.dataset == "otel.span" and server.platform == "otel"
    assert (server.trace_id, server.span_id) == (TRACE, "eee19b7ec3c1b174")
    assert server.timestamp_ms == iso_to_ms("2024-03-01T10:05:32.123Z")
    assert server.duration_ns == 45_500_000
    assert (server.service, server.host, server.flow) == ("order-api", "api-7f9c", "order-to-sap")
    assert server.ids == ["correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40", "order:4711",
                          f"otel.trace:{TRACE}"]
    assert server.message_id == "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"
    assert (server.action, server.outcome) == ("received", "success")
    assert server.labels["http_response_status_code"] == "202"
    assert producer.action == "published"
    assert {"kafka.key:4711", "msg:msg-00042"} <= set(producer.ids)
    assert producer.labels["parent_span_id"] == "eee19b7ec3c1b174"
    assert (consumer.action, consumer.outcome, consumer.stage) == (
        "consumed", "failure", "sap.delivered")
    assert consumer.error_type == "java.net.SocketTimeoutException"
    assert consumer.error_message.startswith("Read timed out after 900 ms")
    assert "NioSocketImpl.timedRead" in consumer.error_stack_trace
    assert consumer.error_class == "timeout"


def test_log_records(parse_data):
    events, dead = parse_data("otlp-json", "otlp-json/logs.jsonl")
    assert dead == []
    info, error, structured = events
    assert (info.dataset, info.level, info.message) == (
        "otel.log", "info", "Sending IDoc ORDERS05 for order 4711")
    assert info.span_id == "00f067aa0ba902b7" and "order:4711" in info.ids
    assert (error.level, error.outcome, error.error_type) == (
        "error", "failure", "java.net.SocketTimeoutException")
    assert structured.level == "warn"
    assert structured.message == '{"attempt":2,"event":"retry.scheduled"}'
    assert structured.timestamp_ms == iso_to_ms("2024-03-01T10:05:34Z")  # observed time
    assert len({e.id for e in events}) == 3


def test_protobuf_dict_shape_gives_the_same_event_and_id(parse_data):
    """The OTLP/HTTP receiver decodes protobuf with MessageToDict: base64 IDs, enum names."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    attr = rs.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "order-api"
    span = rs.scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(TRACE)
    span.span_id = bytes.fromhex("eee19b7ec3c1b174")
    span.name = "POST /orders"
    span.kind = trace_pb2.Span.SPAN_KIND_SERVER
    span.start_time_unix_nano, span.end_time_unix_nano = 1709287532123000000, 1709287532168500000
    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    span.status.message = "boom"
    (ev,) = otlp_json.events_from_export(MessageToDict(req), CTX)
    from_file, _ = parse_data("otlp-json", "otlp-json/traces.jsonl")
    assert (ev.trace_id, ev.span_id) == (TRACE, "eee19b7ec3c1b174")
    assert ev.id == from_file[0].id  # replay of the file and the live span collapse into one
    assert (ev.action, ev.outcome, ev.error_message) == ("received", "failure", "boom")
    assert ev.duration_ns == 45_500_000


def test_malformed_exports(parse_data):
    events, dead = parse_data("otlp-json", "otlp-json/malformed.jsonl")
    assert [d.reason.split(":", 2)[2].strip() for d in dead] == [
        "not JSON: unexpected end of data: line 1 column 99 (char 98)",
        "resourceSpans must be a list, found str",
    ]
    (broken,) = events  # the metrics line carries no events
    assert broken.trace_id is None and broken.ids == []
    assert broken.timestamp_estimated


@pytest.mark.parametrize("value, size, expected", [
    ("5B8EFFF798038103D269B633813FC60C", 16, TRACE),
    ("W47/95gDgQPSabYzgT/GDA==", 16, TRACE),
    ("00000000000000000000000000000000", 16, None),
    ("not-an-id", 8, None),
    (None, 8, None),
])
def test_otel_ids(value, size, expected):
    assert otlp_json.otel_id(value, size) == expected


def test_detect_and_reject():
    assert otlp_json.detect('{"resourceSpans":[{"resource":')
    assert otlp_json.detect('{"resourceLogs":[]}')
    assert not otlp_json.detect('{"level":"info","msg":"resourceSpans"}')
    with pytest.raises(ParseError):
        otlp_json.parse(Record(text='{"spans": []}'), CTX)


@pytest.mark.parametrize("name, dataset", [("proto-example-trace.json", "otel.span"),
                                           ("proto-example-logs.json", "otel.log")])
def test_the_pretty_printed_proto_examples_are_detected(parse_data, name, dataset):
    """opentelemetry-proto's examples/{trace,logs}.json, as published: a ``{`` line first."""
    for fmt in ("auto", "otlp-json"):
        events, dead = parse_data(fmt, f"otlp-json/{name}")
        assert dead == [] and [e.dataset for e in events] == [dataset]
        assert events[0].service == "my.service"


def test_attribute_values_keep_their_json_spelling_arrays_and_maps(parse_data):
    (ev,), _ = parse_data("auto", "otlp-json/proto-example-logs.json")
    assert ev.labels["boolean_attribute"] == "true"
    assert ev.labels["array_attribute"] == "many, values"
    assert ev.labels["map_attribute_some_map_key"] == "some value"
