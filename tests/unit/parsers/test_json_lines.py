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


def test_spring_boot_gelf_lines(parse_data):
    """Spring Boot 3.4+ ``logging.structured.format.console=gelf`` (the two examples of
    spring-projects/spring-boot pull request 42158, and one carrying MDC): GELF names the text
    ``short_message`` and writes each MDC entry as an additional field, ``_`` before its key.
    Before this change the message came out empty and ``_correlationId``/``_traceId`` were
    never read, so such a service's lines joined no trace."""
    events, dead = parse_data("json", "json/spring-boot-gelf.jsonl")
    assert dead == []
    hello, failed, sent = events
    assert hello.message == "Hello structured logging!"
    assert hello.timestamp_ms == 1_725_547_337_613 and not hello.timestamp_estimated
    assert hello.level == "info" and hello.host == "spring-boot-gelf"
    assert failed.message == "Test exception" and failed.level == "error"
    assert sent.ids == ["otel.trace:66d9a3d2f0e1b2c3a4b5c6d7e8f90a1b",
                        "correlation:5d2a9c1e-8b7f-4e63-a1d0-3c4b5e6f7a81"]
    assert sent.trace_id == "66d9a3d2f0e1b2c3a4b5c6d7e8f90a1b" and sent.span_id == "a4b5c6d7e8f90a1b"


def test_log4j2_json_layout_time_and_context_map(parse_data):
    """Log4j 2's ``JsonLayout`` (compact, ``eventEol``) writes the time as ``instant``
    (``epochSecond`` + ``nanoOfSecond``) or, with ``includeTimeMillis``, ``timeMillis``, and the
    MDC under ``contextMap``; logback-contrib's ``JsonLayout`` under ``mdc``. Before this change
    all three lines got the time they were read at (flagged estimated: out of order against
    every other source) and none carried its correlation or order ID."""
    events, dead = parse_data("json", "json/log4j2-jsonlayout.jsonl")
    assert dead == []
    accepted, failed, retry = events
    assert accepted.timestamp_ms == 1_717_489_532_418 and not accepted.timestamp_estimated
    assert accepted.ids == ["correlation:0b8e6c52-77f4-4c0e-9d3a-5a1f2b3c4d5e", "order:PO-4471"]
    assert failed.timestamp_ms == 1_717_489_533_120 and not failed.timestamp_estimated
    assert failed.level == "error" and failed.ids == accepted.ids
    assert failed.error_type == "java.net.SocketException"
    assert failed.error_message == "Connection reset"
    assert retry.timestamp_ms == iso_to_ms("2024-06-04T08:25:34.002Z")
    assert retry.ids == ["correlation:9f3e1d2c-6b5a-4f47-8e39-2d1c0b9a8f76"]


@pytest.mark.parametrize("fmt", ["json", "auto"])
def test_java_layouts_keep_logger_and_stack_trace(parse_data, fmt):
    """Review Q finding 6: Log4j 2's ``thrown`` and GELF's ``full_message`` were dropped, so
    no event had a stack trace and a GELF error had no exception type; the logger
    (``loggerName``, ``_logger_name``) was no label; and Log4j 2 before 2.8 wrote
    ``contextMap`` as a list of ``{key, value}``, whose IDs were lost."""
    events, dead = parse_data(fmt, "json/log4j2-thrown.jsonl")
    assert dead == []
    failed, queued, shipped, gelf = events
    assert failed.labels["logger"] == "com.example.orders.SapClient"
    assert failed.ids == ["correlation:3c1d9e4a-52b7-4f0e-8a61-7d2c3b4a5e6f", "order:PO-4480"]
    assert failed.error_type == "org.springframework.web.client.ResourceAccessException"
    assert failed.error_stack_trace.split("\n") == [
        "org.springframework.web.client.ResourceAccessException: I/O error on POST request",
        "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:785)",
        "\tat com.example.orders.SapClient.send(SapClient.java:58)",
        "Caused by: java.net.SocketTimeoutException: Read timed out",
        "\tat java.net.SocketInputStream.socketRead0(Native Method)",
        "\tat java.net.SocketInputStream.read(SocketInputStream.java:171)"]
    assert queued.ids == failed.ids and queued.labels["logger"] == "com.example.orders.RetryQueue"
    assert queued.error_stack_trace is None
    assert shipped.labels["logger"] == "com.example.orders.OrderService"
    assert gelf.labels["logger"] == "com.example.billing.InvoiceExporter"
    assert gelf.message == "Invoice export failed" and gelf.level == "error"
    assert gelf.error_type == "java.lang.IllegalStateException"
    assert gelf.error_message == "no open period for 2024-06"
    assert gelf.error_stack_trace.startswith("java.lang.IllegalStateException: no open period")
    assert gelf.error_stack_trace.endswith("(InvoiceExporter.java:77)")


def test_gelf_long_message_without_a_trace_is_the_message(parse_text):
    """A ``full_message`` that is no stack trace goes on from the short one: kept, not lost."""
    line = ('{"version":"1.1","host":"h","short_message":"batch done","full_message":'
            '"batch done\\n42 orders, 3 rejected","timestamp":1717489544.107,"level":6}')
    (ev,), dead = parse_text("json", line + "\n")
    assert dead == [] and ev.message == "batch done\n42 orders, 3 rejected"
    assert ev.error_stack_trace is None and ev.error_type is None
