"""HAProxy HTTP logs: which backend failed a request, and how the session ended."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import haproxy
from collector.parsers._base import ParseContext, ParseError


def test_httplog_from_syslog_stdout_and_rfc5424(parse_data):
    events, dead = parse_data("auto", "haproxy/haproxy.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.haproxy"}
    aborted, manual, no_server, timed_out = events
    assert aborted.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert (aborted.host, aborted.service) == ("lb1", "orders")
    assert (aborted.outcome, aborted.error_class) == ("failure", "connectivity")
    assert aborted.error_message == ("the server aborted or refused before the response "
                                     "headers (SH--)")
    assert aborted.ids == ["correlation:7f3c9a12-5b6e-4c1d-9a8b-2e4f6a7b8c9d"]
    assert aborted.duration_ns == 46_000_000 and aborted.labels["upstream_ms"] == "45"
    # The manual's example, field by field.
    assert manual.timestamp_ms == iso_to_ms("2009-02-06T12:14:14.655Z")
    assert manual.message == "GET /index.html 200" and manual.outcome == "success"
    assert (manual.labels["frontend"], manual.labels["backend"], manual.labels["server"]) == (
        "http-in", "static", "srv1")
    assert manual.labels["captured_headers"] == "1wt.eu" and manual.ids == []
    assert manual.duration_ns == 109_000_000 and manual.payload_bytes == 2750
    assert "server" not in no_server.labels and no_server.host is None
    assert no_server.error_class == "connectivity" and "upstream_ms" not in no_server.labels
    assert timed_out.host == "lb1" and timed_out.error_class == "timeout"
    assert timed_out.error_message == ("the server timed out while connecting to the server "
                                       "(sC--)")


def test_not_an_haproxy_line():
    assert not haproxy.detect('10.0.0.1 - - [01/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 1')
    with pytest.raises(ParseError, match="not an HAProxy HTTP log line"):
        haproxy.parse(Record(text="Mar  1 10:00:00 lb1 haproxy[1]: Proxy www started."),
                      ParseContext())


def test_log_format_with_fields_added_to_httplog(parse_data):
    """A ``log-format`` adding the Host header after the backend and a unique ID before the
    request: still HAProxy (the request's own time and status), not generic syslog."""
    events, dead = parse_data("auto", "haproxy/log-format-host.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.haproxy"}
    ok, timeout = events
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert ok.labels["http_status"] == "200" and ok.labels["vhost"] == "api.example.com"
    assert ok.labels["server"] == "app1" and ok.host == "lb1"
    assert "log_fields" not in ok.labels
    assert (timeout.outcome, timeout.error_class) == ("failure", "timeout")
    assert timeout.ids == ["correlation:0c6b1d2e-3f40-4c1e-9a57-6f1c2a9e2f4b"]


def test_tcplog_and_httpslog_as_the_manual_prints_them(parse_data):
    """TCP sessions and httpslog's TLS fields after the request: HAProxy's accept time,
    not the syslog header's, and never generic syslog."""
    events, dead = parse_data("auto", "haproxy/tcplog-httpslog.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.haproxy"}
    tcp, timeout, https = events
    assert tcp.timestamp_ms == iso_to_ms("2009-02-06T12:12:51.443Z")
    assert (tcp.message, tcp.outcome) == ("TCP fnt -> bck/srv1", "success")
    assert tcp.duration_ns == 5_007_000_000 and tcp.payload_bytes == 212
    assert "http_status" not in tcp.labels and tcp.host == "localhost"
    assert (timeout.outcome, timeout.error_class) == ("failure", "timeout")
    assert https.labels["http_status"] == "200" and https.labels["frontend"] == "https-in~"
    assert https.labels["tls"] == "0/0/0/0/0 1wt.eu/TLSv1.3/TLS_AES_256_GCM_SHA384"


def test_owner_layouts_that_begin_like_httplog(parse_data):
    """HAProxy's accept time and route, never the syslog header's time as generic syslog;
    what the owner added is kept, not lost."""
    events, dead = parse_data("auto", "haproxy/owner-layout.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.haproxy"}
    extended, tcp = events
    assert extended.timestamp_ms == iso_to_ms("2024-03-01T10:00:06.010Z")
    assert extended.labels["log_fields"] == "req_id=9f86d081 tenant=acme"
    assert "tls" not in extended.labels and extended.labels["http_status"] == "200"
    assert tcp.timestamp_ms == iso_to_ms("2024-03-01T10:00:07.500Z")
    assert tcp.message == "tcp-in -> mq_backend/mq1" and tcp.host == "lb1"
    assert tcp.labels["log_fields"] == "ssl=1 sni=mq.example.com"
    assert "http_status" not in tcp.labels


def test_accept_time_takes_the_zone_of_the_syslog_stamp(parse_data):
    """HAProxy writes ``[%tr]`` in local time; an RFC 3339 syslog stamp (rsyslog's file
    format, HAProxy's rfc5424 header) names that zone. Read in the default zone (UTC), these
    lines were stored an hour and five hours off."""
    events, dead = parse_data("haproxy", "haproxy/syslog-zone.log")
    assert dead == []
    rsyslog, rfc5424, tcp = events
    assert rsyslog.timestamp_ms == iso_to_ms("2024-03-01T09:00:00.120Z")
    assert rfc5424.timestamp_ms == iso_to_ms("2024-03-01T15:00:00.120Z")
    assert tcp.timestamp_ms == iso_to_ms("2024-03-01T09:00:00.120Z")
    assert not any(ev.timestamp_estimated for ev in events)
    assert (rsyslog.host, rfc5424.host) == ("lb1", "lb1")


def test_a_zoneless_syslog_stamp_leaves_the_accept_time_in_the_input_zone():
    line = ('Mar  1 10:00:00 lb1 haproxy[2211]: 10.0.1.2:33317 [01/Mar/2024:10:00:00.120] '
            'http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"')
    (ev,) = haproxy.parse(Record(line), ParseContext(tz=ZoneInfo("Europe/Berlin")))
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T09:00:00.120Z")


def test_httplog_clf_reads_as_httplog(parse_data):
    """``option httplog clf``: dead-lettered with the format named, and read as generic
    syslog by auto-detection (a 503 stored as info, the request's zone ignored)."""
    for fmt in ("haproxy", "auto"):
        events, dead = parse_data(fmt, "haproxy/httplog-clf.log")
        assert dead == []
        ok, timeout = events
        assert ok.dataset == "apigw.haproxy"
        assert ok.timestamp_ms == iso_to_ms("2009-02-06T11:14:14Z")
        assert (ok.service, ok.labels["server"], ok.duration_ns) == ("static", "srv1",
                                                                      109_000_000)
        assert (timeout.level, timeout.outcome, timeout.error_class) == ("error", "failure",
                                                                         "timeout")
        assert timeout.ids == ["correlation:6f1c2a9e-2f4b-4c1e-9a57-0c6b1d2e3f40"]
        assert timeout.labels["termination_state"] == "sC--"


def test_own_log_format_takes_the_syslog_zone_for_a_local_time_only():
    layout = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %{+Q}r"
    line = ('2024-03-01T10:00:00.123456+01:00 lb1 haproxy[2211]: 10.0.1.2:33317 '
            '[01/Mar/2024:10:00:00.120] http-in static/srv1 10/0/30/69/109 200 2750 '
            '"GET /index.html HTTP/1.1"')
    (ev,) = haproxy.parse(Record(line), ParseContext(log_format=layout))
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T09:00:00.120Z")
    gmt = layout.replace("[%tr]", "[%T]")  # %T carries its own zone (+0000): kept as written
    line = line.replace("[01/Mar/2024:10:00:00.120]", "[01/Mar/2024:09:00:00 +0000]")
    (ev,) = haproxy.parse(Record(line), ParseContext(log_format=gmt))
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T09:00:00Z")
