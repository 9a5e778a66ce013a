from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.event import Record, iso_to_ms
from collector.parsers import apigw
from collector.parsers._base import ParseContext, ParseError

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


def _one(text: str):
    (ev,) = apigw.parse(Record(text=text, source="access.log"), ParseContext())
    return ev


def test_real_aws_lines_with_dashes_and_owner_chosen_keys():
    """An HTTP API line (TinyStacks docs: '-' for what does not apply) and a REST API format
    that names the method "method" (ministryofjustice/modernisation-platform-environments)."""
    http_api = ('{ "requestId":"Q8NnAiztIAMEV4w=", "ip": "73.239.102.103", "requestTime":'
                '"21/Apr/2022:17:09:26 +0000", "httpMethod":"GET","routeKey":"$default", '
                '"status":"200","protocol":"HTTP/1.1", "responseLength":"12", '
                '"resourcePath":"-" }')
    rest_api = ('{"caller":"-","ip":"51.14.4.225","method":"POST","path":"/development/dp/'
                'schema","protocol":"HTTP/1.1","requestId":"a4188e34-1104-424e-9907-eebbf55dd662",'
                '"requestTime":"27/Oct/2023:13:40:57 +0000","requestTimeEpoch":"1698414057744",'
                '"resourcePath":"/dp/{name}/schema","responseLength":"87","status":"400",'
                '"user":"-"}')
    assert apigw.detect(rest_api) and apigw.detect(http_api)
    ev = _one(http_api)
    assert (ev.message, ev.labels["url_path"]) == ("GET $default 200", "$default")
    ev = _one(rest_api)
    assert (ev.message, ev.outcome, ev.timestamp_ms) == (
        "POST /dp/{name}/schema 400", "failure", 1698414057744)
    assert ev.labels["http_method"] == "POST"


def test_http_api_route_key_keeps_its_method_out_of_the_path():
    """HTTP APIs' default access log format logs both ``httpMethod`` and ``routeKey``, and a
    route key is "METHOD /path" ("ANY /path" for a catch-all). Before this change the route
    key became the path whole: url_path "POST /orders", message "POST POST /orders 502", so
    a rule or board on the path never matched these requests."""
    line = ('{ "requestId":"JMtPQg6KIAMEb-w=", "ip": "203.0.113.10", "requestTime":'
            '"10/Mar/2024:12:00:01 +0000", "httpMethod":"POST","routeKey":"POST /orders", '
            '"status":"502","protocol":"HTTP/1.1", "responseLength":"36" }')
    ev = _one(line)
    assert (ev.message, ev.labels["url_path"]) == ("POST /orders 502", "/orders")
    assert ev.labels["http_method"] == "POST"
    ev = _one(line.replace('"POST /orders"', '"ANY /{proxy+}"'))
    assert (ev.message, ev.labels["url_path"]) == ("POST /{proxy+} 502", "/{proxy+}")


def test_nginx_binary_request_line_and_ut_upstream_time():
    """A TLS handshake on the HTTP port (StackOverflow 52004391), and goaccess #885's
    ``rt=`` / ``ut=`` keys."""
    tls = _one('172.68.244.173 - - [24/Aug/2018:12:14:04 +0000] "\\x16\\x03\\x01\\x00\\xEC\\x01'
               '\\x00\\x00\\xE8\\x03\\x03\\x8A?\\xB5" 400 173 "-" "-"')
    assert tls.message == "(unreadable request line) 400" and "http_method" not in tls.labels
    assert tls.labels["request_line"].startswith("\\x16\\x03")
    timed = _one('10.16.32.116 - - [18/Sep/2017:00:00:02 +0300] "GET /clusters/info HTTP/1.1" '
                 '200 2961 "-" "python-requests/2.13.0" "-" "-" 1505682002.133 adfr="-" '
                 'rt=0.151 ut="0.151" cs=MISS')
    assert timed.duration_ns == 151_000_000 and timed.labels["upstream_ms"] == "151"


def test_kong_bytes_are_the_response_like_the_other_gateways(parse_data):
    events, _ = parse_data("apigw", "apigw/kong-file-log.jsonl")
    assert events[0].payload_bytes == 412 and events[0].labels["request_bytes"] == "1532"


def test_kong_before_0_13_names_its_service_api():
    line = ('{"api":{"name":"myapi","upstream_url":"http://backend:8080"},"request":{"method":'
            '"GET","uri":"/api/v1/healthcheck","size":"423","headers":{}},"response":{"status":200,'
            '"size":"271","headers":{}},"latencies":{"request":33,"kong":0,"proxy":0},'
            '"started_at":1513853545000,"client_ip":"172.18.0.1"}')
    ev = _one(line)
    assert (ev.service, ev.duration_ns, ev.payload_bytes) == ("myapi", 33_000_000, 271)


def test_nginx_with_iso8601_time_and_the_host_before_the_request():
    """goaccess #1066: ``[$time_iso8601] "$host" "$request"`` ... ``$request_time``."""
    line = ('127.0.0.1 - - [2019-07-31T06:33:06+00:00] "localhost" "GET /health.php HTTP/1.1" '
            '200 5 "-" "curl/7.35.0" 0.038')
    assert apigw.detect(line)
    ev = _one(line)
    assert (ev.message, ev.labels["vhost"], ev.duration_ns) == (
        "GET /health.php 200", "localhost", 38_000_000)
    assert ev.timestamp_ms == iso_to_ms("2019-07-31T06:33:06Z")


def test_cloudwatch_export_prefixes(parse_data):
    """An AWS access log record from ministryofjustice/modernisation-platform-environments PR
    3807, behind the prefixes CloudWatch exports put on each line: ``aws logs tail``
    (timestamp and log-stream name) and export to S3 (timestamp only; the record's own
    requestTime fields dropped here so the prefix has to stand in). Both were no_parser."""
    events, dead = parse_data("auto", "apigw/aws-cloudwatch-export.log")
    assert dead == []
    tail, s3 = events
    assert tail.dataset == "apigw.aws" and tail.ids == [
        "aws.request:a4188e34-1104-424e-9907-eebbf55dd662"]
    assert tail.timestamp_ms == 1698414057744 and tail.labels["log_stream"] == "data_platform_api-dev"
    assert (tail.labels["http_method"], tail.labels["http_status"]) == ("POST", "400")
    assert tail.error_class == "validation"
    assert s3.timestamp_ms == iso_to_ms("2023-10-27T13:40:58.120Z") and not s3.timestamp_estimated
    assert "log_stream" not in s3.labels


def test_nginx_json_access_log(parse_data):
    """NGINX ``log_format ... escape=json`` lines from allinurl/goaccess issues 2338 and 1747:
    they went to the generic JSON parser, without method, status, timing or client."""
    events, dead = parse_data("auto", "apigw/nginx-json.jsonl")
    assert dead == []
    post, get = events
    assert (post.dataset, post.action, post.outcome) == ("apigw.nginx", "received", "success")
    assert post.timestamp_ms == iso_to_ms("2022-06-15T04:47:10Z")  # +08:00
    assert post.message == "POST /x/y/z 200" and post.payload_bytes == 53
    assert post.duration_ns == 11_000_000 and post.labels["upstream_ms"] == "10"
    assert (post.labels["client_ip"], post.labels["vhost"]) == ("100.169.0.123", "x.com")
    assert get.labels["http_status"] == "200" and get.payload_bytes == 39308
    assert get.labels["url_path"] == "/H5/jy/static/js/app.953eda21.js"
    assert "upstream_ms" not in get.labels  # "-": no upstream


def test_traefik_json_and_common_log_format(parse_data):
    """Field names of Traefik's access log documentation (JSON, with request headers kept
    as ``request_<Name>``) and its CLF line, which appends count, router, server and
    duration to the combined fields."""
    (failed,), dead = parse_data("auto", "apigw/traefik.jsonl")
    assert dead == []
    assert (failed.dataset, failed.message, failed.outcome) == (
        "apigw.traefik", "POST /api/orders 502", "failure")
    assert failed.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert failed.duration_ns == 12_345_678 and failed.labels["upstream_ms"] == "12"
    assert failed.service == "orders@docker"
    assert failed.labels["router"] == "orders-router@docker"
    assert failed.ids == ["http.request:req-123",
                          "correlation:7f3c9a12-5b6e-4c1d-9a8b-2e4f6a7b8c9d"]
    (created,), dead = parse_data("auto", "apigw/traefik-clf.log")
    assert dead == []
    assert (created.dataset, created.message) == ("apigw.traefik", "POST /api/orders 201")
    assert created.duration_ns == 12_000_000
    assert created.labels["upstream_addr"] == "http://172.18.0.5:8080"


def test_common_layouts_beyond_combined(parse_data):
    """The host first (NGINX, Apache ``vhost_combined``), Traefik's ``-`` status for a
    request nobody answered, and Kong's default ``kong_request_id: "..."``: all read."""
    events, dead = parse_data("auto", "apigw/layouts.log")
    assert dead == []
    vhost, apache, traefik, kong = events
    assert vhost.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z")
    assert vhost.labels["vhost"] == "api.example.com"
    assert vhost.labels["client_ip"] == "10.20.1.15"
    assert vhost.duration_ns == 46_000_000 and vhost.labels["upstream_ms"] == "44"
    assert (apache.labels["vhost"], apache.labels["server_port"]) == ("www.example.com", "443")
    assert apache.labels["client_ip"] == "192.0.2.10" and apache.payload_bytes == 2326
    assert traefik.dataset == "apigw.traefik" and traefik.message == "GET /api/orders -"
    assert "http_status" not in traefik.labels and traefik.outcome == "unknown"
    assert "upstream_addr" not in traefik.labels and traefik.payload_bytes is None
    assert kong.ids == ["http.request:3c1ea0f7a04f6c56d9b1ac2b9ad4ef3d"]
    assert not any(e.timestamp_estimated for e in events)


def test_squid_native_access_log(parse_data):
    events, dead = parse_data("auto", "apigw/squid-access.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.squid"}
    miss, tunnel, denied = events
    assert miss.timestamp_ms == 1_286_536_308_779 and not miss.timestamp_estimated
    assert (miss.message, miss.duration_ns) == ("GET / 200", 180_000_000)
    assert miss.labels["vhost"] == "www.google.com"
    assert miss.labels["cache_result"] == "TCP_MISS"
    assert miss.labels["upstream_addr"] == "74.125.39.104"
    assert tunnel.labels["vhost"] == "api.example.com:443"
    assert (denied.outcome, denied.error_class) == ("failure", "auth")
    assert "upstream_addr" not in denied.labels


def test_nginx_stream_sessions(parse_data):
    """The stream module's documented ``basic`` format: a TCP session, not dead-lettered."""
    events, dead = parse_data("auto", "apigw/nginx-stream.log")
    assert dead == []
    ok, refused = events
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:15:36Z")
    assert (ok.message, ok.outcome) == ("TCP session 200", "success")
    assert ok.duration_ns == 12_047_000_000 and ok.payload_bytes == 6720
    assert ok.labels["request_bytes"] == "1458" and "http_method" not in ok.labels
    assert (refused.outcome, refused.error_class) == ("failure", "connectivity")
    assert refused.error_type == "TCP session 502"
    assert refused.labels["upstream_addr"] == "10.0.0.7:5672"


def test_combined_start_in_an_order_of_the_owner(parse_data):
    """Time, client, request and named pairs are read and the rest kept, not dead-lettered; a
    broken status (malformed.log's "2O2") stays a dead letter."""
    events, dead = parse_data("auto", "apigw/owner-order.log")
    assert dead == []
    (ev,) = events
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T10:15:40Z")
    assert ev.message == "GET /api/orders 200" and ev.labels["client_ip"] == "10.0.0.9"
    assert ev.labels["log_fields"] == "rt=0.012 status=200 bytes=512"
    assert ev.labels["http_status"] == "200" and ev.duration_ns == 12_000_000


def test_nginx_proxy_manager_formats(parse_data):
    events, dead = parse_data("auto", "apigw/nginx-proxy-manager.log")
    assert dead == []
    proxied, failed = events
    assert proxied.timestamp_ms == iso_to_ms("2024-03-01T10:15:41Z")
    assert proxied.message == "GET /api/orders/4711 200"
    assert proxied.labels["vhost"] == "api.example.com"
    assert proxied.labels["client_ip"] == "172.68.4.221"
    assert proxied.labels["upstream_addr"] == "172.18.0.1" and proxied.payload_bytes == 14908
    assert (failed.outcome, failed.error_class) == ("failure", "connectivity")
    assert "upstream_addr" not in failed.labels


def test_upstream_times_of_several_upstreams_after_combined():
    """``$upstream_response_time`` lists one time per upstream tried: their sum, not the
    first alone (and not the next field read as one)."""
    line = ('10.20.1.15 - - [01/Mar/2024:10:15:32 +0000] "POST /api/v1/orders HTTP/1.1" 502 118 '
            '"-" "axios/1.6.7" 0.046 0.010, 0.030 "4f9d1c2ab3e84c77a1f05d6e2b9c8a10"')
    (ev,) = apigw.parse(Record(text=line), ParseContext())
    assert ev.duration_ns == 46_000_000 and ev.labels["upstream_ms"] == "40"
    assert ev.ids == ["http.request:4f9d1c2ab3e84c77a1f05d6e2b9c8a10"]


def test_iis_w3c_default_fields(parse_data):
    """IIS writes W3C logs in UTC whatever the server's zone; its header lines are no
    requests and no dead letters."""
    events, dead = parse_data("auto", "apigw/iis-w3c.log", tz=ZoneInfo("Europe/Berlin"))
    assert dead == []
    received, failed = events
    assert received.dataset == "apigw.iis"
    assert received.timestamp_ms == iso_to_ms("2024-03-01T10:15:43Z")
    assert received.message == "POST /BizTalkWcfReceive/OrderService.svc 200"
    assert received.duration_ns == 187_000_000
    assert received.labels["user_agent"] == "Apache-HttpClient/4.5.14 (Java/17.0.9)"
    assert failed.labels["url_path"] == "/api/orders/4711?expand=lines"
    assert failed.labels["iis_substatus"] == "500.19 (13)"
    assert failed.labels["user"] == "CONTOSO\\svc-portal"


def test_aws_api_gateway_clf_names_its_request_ids_as_the_json_form_does(parse_data):
    """The same request logged in AWS's CLF format and as JSON carries the same
    ``aws.request`` ID, so the two join, where the line shows it is the gateway's (an
    extended ID, or the invalid-ID suffix). A line with the request ID alone looks like NGINX
    common in UTC with a correlation UUID, so it stays that (the next test)."""
    events, dead = parse_data("apigw", "apigw/aws-apigateway-clf.log")
    as_json, _ = parse_data("apigw", "apigw/aws-apigateway.jsonl")
    assert dead == []
    ok, bad_gateway, forbidden, signed = events
    assert ok.ids == ["correlation:c6af9ac6-7b61-11e6-9a41-93e8deadbeef"]
    assert [e.dataset for e in events] == ["apigw.nginx"] * 2 + ["apigw.aws"] * 2
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z") and ok.payload_bytes == 88
    assert forbidden.ids[0] in as_json[2].ids
    assert forbidden.ids == ["aws.request:e8c1bc28-9d83-11e6-9c63-b5a0deadbeef",
                             "aws.request:UwhTsE8goAMFfZh="]  # the guide's extendedRequestId
    assert forbidden.error_class == "auth" and forbidden.labels["url_path"] == "/orders/{id}"
    assert signed.ids == ["aws.request:f9d2cd39-ae94-11e6-8d74-c6b1deadbeef"
                          "_REPLACED_INVALID_REQUEST_ID"]
    assert signed.labels["user"] == "arn:aws:iam::123456789012:user/partner"


@pytest.mark.parametrize("line", [
    # a referer and agent: NGINX combined with a correlation UUID appended
    '10.0.0.1 - - [01/Mar/2024:10:15:32 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8" '
    "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    # not UTC, as API Gateway's requestTime is
    '10.0.0.1 - - [01/Mar/2024:10:15:32 +0100] "GET /a HTTP/1.1" 200 5 '
    "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    # more after the IDs
    '10.0.0.1 - - [01/Mar/2024:10:15:32 +0000] "GET /a HTTP/1.1" 200 5 '
    "c6af9ac6-7b61-11e6-9a41-93e8deadbeef 0.012 0.010",
    # NGINX common + $http_x_correlation_id in UTC (a container's default zone): no evidence
    '10.0.0.7 - - [07/Dec/2026:10:15:32 +0000] "POST /orders HTTP/1.1" 201 88 '
    "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
])
def test_clf_like_lines_that_are_not_api_gateways_keep_a_correlation_id(line):
    ev = _one(line)
    assert ev.dataset == "apigw.nginx"
    assert "correlation:c6af9ac6-7b61-11e6-9a41-93e8deadbeef" in ev.ids
    assert not any(i.startswith("aws.") for i in ev.ids)


def test_utc_common_line_with_correlation_and_request_id_reads_as_before():
    """``$http_x_correlation_id $request_id`` after a UTC common line: the 32 hex digits are
    NGINX's request ID, not AWS's extended one (as before AWS CLF was read)."""
    ev = _one('10.0.0.7 - - [07/Dec/2026:10:15:32 +0000] "POST /orders HTTP/1.1" 201 88 '
              "3f2b8c1e-6d4a-4b7e-9a21-0c5d7e8f9a10 6e8f5d2c9a1b4c3dae0f112233445566")
    assert ev.dataset == "apigw.nginx"
    assert sorted(ev.ids) == ["correlation:3f2b8c1e-6d4a-4b7e-9a21-0c5d7e8f9a10",
                              "http.request:6e8f5d2c9a1b4c3dae0f112233445566"]


def test_kong_correlation_id_plugin_header_is_a_correlation_id(parse_data):
    """Kong's Correlation ID plugin (default header Kong-Request-ID, generator uuid#counter)
    adds its ID to the request sent upstream and may echo it: the upstream's own logs carry
    it, so it must be an ID of the gateway's event too (it was dropped: no join)."""
    events, dead = parse_data("apigw", "apigw/kong-correlation-id.jsonl")
    assert dead == []
    created, bad_gateway = events
    assert created.ids == ["http.request:7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
                           "correlation:c2b4a0e6-5d1f-4b7a-9e3c-8f1a2b3c4d5e#1207"]
    # Only echoed downstream (the request's copy not logged): still read.
    assert bad_gateway.ids == ["http.request:0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d",
                               "correlation:c2b4a0e6-5d1f-4b7a-9e3c-8f1a2b3c4d5e#1208"]
    assert (bad_gateway.outcome, bad_gateway.error_code) == ("failure", "502")
