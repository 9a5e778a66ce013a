"""Access logs read with the site's own format string (``log_format`` on the input): NGINX,
Apache, HAProxy and Envoy layouts that no built-in pattern knows, compiled once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.event import Record, iso_to_ms
from collector.parsers import apigw, envoy, haproxy
from collector.parsers._base import ParseContext
from collector.parsers.logformat import LogFormatError, compile_format, dialect_for

NGINX_HOST_FIRST = ('$host $remote_addr - $remote_user [$time_local] "$request" $status '
                    '$body_bytes_sent "$http_referer" "$http_user_agent" $request_time '
                    '$upstream_response_time $request_id "$http_x_correlation_id"')
# nginx.conf's stock "main" format, pasted with its quoted pieces.
NGINX_MAIN = """'$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"'"""
APACHE_TIMING = (r'"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D '
                 r'\"%{X-Correlation-ID}i\""')
HAPROXY_HTTPLOG = ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc "
                   "%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %{+Q}r")
ENVOY_CUSTOM = ("[%START_TIME%] %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% "
                "%RESPONSE_CODE% %DURATION% %REQ(X-CORRELATION-ID)% %UPSTREAM_HOST%\n")


def test_nginx_host_first_with_timings_and_ids(parse_data):
    events, dead = parse_data("apigw", "apigw/log-format/nginx-host-first.log",
                              log_format=NGINX_HOST_FIRST)
    ok, timeout = events
    assert ok.dataset == "apigw.nginx"
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z") and not ok.timestamp_estimated
    assert (ok.message, ok.outcome) == ("POST /api/v1/orders 202", "success")
    assert ok.labels["vhost"] == "api.example.com" and ok.labels["client_ip"] == "10.20.1.15"
    assert ok.duration_ns == 46_000_000
    assert ok.labels["upstream_ms"] == "40"  # two upstreams tried: 0.010 + 0.030 s
    assert ok.ids == ["http.request:4f9d1c2ab3e84c77a1f05d6e2b9c8a10",
                      "correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"]
    assert (timeout.outcome, timeout.error_class) == ("failure", "timeout")
    assert timeout.labels["user"] == "partner-acme"
    assert timeout.labels["user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    # A line in another layout is refused with the format named, never read field by field.
    (refused,) = dead
    assert refused.line == 3 and refused.field == "log_format"
    assert "does not match the input's log_format (nginx)" in refused.reason


def test_nginx_format_pasted_from_nginx_conf(parse_data):
    events, dead = parse_data("apigw", "apigw/log-format/nginx-main.log", log_format=NGINX_MAIN)
    assert dead == []
    (ev,) = events
    assert ev.labels["forwarded_for"] == "203.0.113.7, 10.0.0.2"
    assert ev.labels["user_agent"] == "curl/8.5.0" and ev.payload_bytes == 612


def test_apache_logformat_with_microseconds_and_a_header(parse_data):
    events, dead = parse_data("apigw", "apigw/log-format/apache-timing.log",
                              log_format=APACHE_TIMING)
    assert dead == []
    (ev,) = events
    assert ev.dataset == "apigw.apache"
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T09:15:36Z")
    assert ev.duration_ns == 1_834_221_000  # %D is microseconds
    assert ev.ids == ["correlation:0c6b1d2e-3f40-4c1e-9a57-6f1c2a9e2f4b"]
    assert (ev.outcome, ev.error_code) == ("failure", "500")


def test_haproxy_log_format_through_syslog(parse_data):
    events, dead = parse_data("haproxy", "haproxy/log-format-custom.log",
                              log_format=HAPROXY_HTTPLOG)
    assert dead == []
    ok, nosrv = events
    assert ok.dataset == "apigw.haproxy" and ok.host == "lb1"
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:00:02.789Z")
    assert (ok.labels["frontend"], ok.labels["backend"]) == ("https-in~", "orders_be")
    assert ok.duration_ns == 13_000_000 and ok.labels["upstream_ms"] == "12"
    assert ok.ids == ["correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"]
    assert ok.labels["captured_headers"] == "api.example.com|6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"
    assert (nosrv.outcome, nosrv.error_class) == ("failure", "connectivity")
    assert nosrv.labels["termination_state"] == "SC--"
    assert "upstream_ms" not in nosrv.labels  # Tr -1: never reached


def test_envoy_custom_format_string(parse_data):
    events, dead = parse_data("envoy", "envoy/custom-format.log", log_format=ENVOY_CUSTOM)
    assert dead == []
    ok, unavailable = events
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:00:04.512Z")
    assert ok.message == "POST /api/orders 201" and ok.duration_ns == 38_000_000
    assert ok.ids == ["correlation:0c6b1d2e-3f40-4c1e-9a57-6f1c2a9e2f4b"]
    assert ok.labels["upstream_addr"] == "10.44.1.27:8080"
    assert (unavailable.outcome, unavailable.error_class) == ("failure", "connectivity")


def test_the_built_in_layouts_are_unchanged_without_a_format():
    line = ('10.0.0.1 - - [01/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"')
    (ev,) = apigw.parse(Record(text=line), ParseContext())
    assert ev.dataset == "apigw.nginx" and ev.labels["http_status"] == "200"
    assert apigw.detect(line)  # detection never depends on an input's format string


@pytest.mark.parametrize("fmt, text, message", [
    ("auto", "$remote_addr", "log_format is read by the formats apigw, haproxy, envoy"),
    ("apigw", "hello world", "no variable in log_format 'hello world'"),
    ("apigw", "'{\"remote_addr\":\"$remote_addr\"}'", "a JSON log format needs no log_format"),
])
def test_mistakes_are_named(fmt, text, message):
    with pytest.raises(LogFormatError, match=message):
        compile_format(text, dialect_for(fmt, text))


def test_each_parser_reads_its_own_dialect():
    assert dialect_for("apigw", NGINX_MAIN) == "nginx"
    assert dialect_for("apigw", APACHE_TIMING) == "apache"
    assert haproxy.NAME == dialect_for("haproxy", HAPROXY_HTTPLOG)
    assert envoy.NAME == dialect_for("envoy", ENVOY_CUSTOM)


def test_a_tls_handshake_on_the_http_port_is_no_method():
    line = (r'10.1.1.1 - - [01/Mar/2024:10:00:00 +0000] "\x16\x03\x01\x00\xCA\x01" 400 157 '
            r'"-" "-" 12 "-"')
    (ev,) = apigw.parse(Record(text=line), ParseContext(log_format=APACHE_TIMING))
    assert "http_method" not in ev.labels and ev.labels["http_status"] == "400"
    assert ev.labels["request_line"] == r"\x16\x03\x01\x00\xCA\x01"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='$%{}[]()"\\ :/-+<>aAbBhrtsTDiQ_', max_size=40),
       st.sampled_from(["nginx", "apache", "haproxy", "envoy"]), st.text(max_size=80))
def test_any_format_string_compiles_or_says_why_and_reading_never_raises(text, dialect, line):
    try:
        fmt = compile_format(text, dialect)
    except LogFormatError as exc:
        assert str(exc)
        return
    assert fmt.read(line) is None or isinstance(fmt.read(line), dict)


def test_adjacent_variables_are_refused_not_guessed():
    with pytest.raises(LogFormatError, match="two variables with nothing between them"):
        compile_format("$remote_addr$remote_user [$time_local]", "nginx")
