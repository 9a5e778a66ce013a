import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.event import Record, iso_to_ms
from collector.parsers import apigw
from collector.parsers.base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)


def test_nginx_combined_with_extensions(parse_data):
    events, dead = parse_data("apigw", "apigw/nginx-access.log")
    assert dead == []
    accepted, unauthorized, gateway_timeout, health = events
    assert accepted.dataset == "apigw.nginx" and accepted.action == "received"
    assert accepted.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z")
    assert accepted.ids == ["http.request:4f9d1c2ab3e84c77a1f05d6e2b9c8a10",
                            "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"]
    assert accepted.duration_ns == 46_000_000 and accepted.labels["upstream_ms"] == "44"
    assert (accepted.outcome, accepted.payload_bytes) == ("success", 118)
    assert (unauthorized.outcome, unauthorized.error_class, unauthorized.error_code) == (
        "failure", "auth", "401")
    assert unauthorized.ids == ["http.request:a1b2c3d4e5f60718293a4b5c6d7e8f90"]
    assert unauthorized.labels["user"] == "partner-acme"
    assert gateway_timeout.timestamp_ms == iso_to_ms("2024-03-01T09:15:34Z")  # +0100
    assert (gateway_timeout.error_class, gateway_timeout.level) == ("timeout", "error")
    assert gateway_timeout.trace_id == "5b8efff798038103d269b633813fc60c"
    assert gateway_timeout.ids == ["correlation:0c6b1d2e-3f40-4c1e-9a57-6f1c2a9e2f4b",
                                   "otel.trace:5b8efff798038103d269b633813fc60c"]
    assert gateway_timeout.duration_ns == 60_001_000_000
    assert health.ids == [] and health.duration_ns is None and health.outcome == "success"


def test_kong_file_log(parse_data):
    events, dead = parse_data("apigw", "apigw/kong-file-log.jsonl")
    assert dead == []
    created, throttled = events
    assert created.timestamp_ms == 1709287532108 and created.duration_ns == 173_000_000
    assert created.ids == ["http.request:2f6946328ffc4946b8c9120704a4a155",
                           "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40",
                           "otel.trace:5b8efff798038103d269b633813fc60c"]
    assert (created.service, created.labels["route"], created.labels["consumer"]) == (
        "order-api", "orders-route", "sap-po")
    assert created.labels["upstream_ms"] == "171" and created.labels["upstream_uri"] == "/v1/orders"
    assert (throttled.outcome, throttled.error_class, throttled.error_code) == (
        "failure", "throttling", "429")
    assert throttled.ids == ["http.request:req-77"]


def test_aws_api_gateway(parse_data):
    events, dead = parse_data("apigw", "apigw/aws-apigateway.jsonl")
    assert dead == []
    ok, bad_gateway, forbidden = events
    assert ok.timestamp_ms == 1709287532412 and ok.duration_ns == 131_000_000
    assert ok.ids == ["aws.request:c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                      "aws.request:UwhTsE8goAMFfZg=", "xray:1-65e1ab6c-3d5f1a2b4c6d8e0f12345678"]
    assert ok.labels["upstream_ms"] == "118" and ok.payload_bytes == 88
    assert bad_gateway.timestamp_ms == iso_to_ms("2024-03-01T10:16:01Z")  # requestTime (CLF)
    assert (bad_gateway.error_message, bad_gateway.error_class) == (
        "Lambda function timed out", "timeout")
    assert (forbidden.error_class, forbidden.error_message) == (
        "auth", "Missing Authentication Token")


def test_malformed_lines(parse_data):
    events, dead = parse_data("apigw", "apigw/malformed.log")
    assert [d.line for d in dead] == [1, 2, 4]
    assert "not an NGINX access log line" in dead[0].reason
    assert "not JSON" in dead[1].reason
    (estimated,) = events
    assert estimated.timestamp_estimated and estimated.message == "GET 200"


def test_unknown_json_shape_is_a_parse_error():
    with pytest.raises(ParseError, match="neither Kong"):
        apigw.parse(Record(text='{"msg": "hello"}'), CTX)


def test_detect():
    assert apigw.detect('1.2.3.4 - - [01/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 5 "-" "x"')
    assert apigw.detect('{"request":{"method":"GET"},"latencies":{"request":1}}')
    assert apigw.detect('{"requestId":"x","httpMethod":"GET","status":"200"}')
    assert not apigw.detect('{"level":"info"}')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab "\\\\-x', max_size=24))
def test_quoted_field_pattern_matches_what_the_textbook_one_does(inner):
    """``_QUOTED`` is ``(?:[^"\\]|\\.)*`` rewritten for speed: same matches, same groups,
    also on stray quotes and trailing backslashes."""
    import re

    textbook = re.compile(r'"((?:[^"\\]|\\.)*)" (\S+)')
    fast = re.compile(rf'"({apigw._QUOTED})" (\S+)')
    for text in (f'"{inner}" tail', f'"{inner}', inner):
        a, b = textbook.match(text), fast.match(text)
        assert (a and a.groups()) == (b and b.groups()), text
