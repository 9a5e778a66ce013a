"""AWS Elastic Load Balancing access logs: ALB and Classic, correlated by the trace ID the
ALB hands to its targets."""

from __future__ import annotations

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import aws_alb
from collector.parsers._base import ParseContext, ParseError


def test_alb_and_classic_entries(parse_data):
    events, dead = parse_data("auto", "aws-alb/access.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.aws_alb"}
    ok, unreachable, classic = events
    assert ok.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert ok.message == "POST /api/orders 200" and ok.outcome == "success"
    assert ok.ids == ["xray:1-58337281-1d84f3d73c47ec4e58577259"]
    assert ok.duration_ns == 171_000_000  # 0.086 + 0.048 + 0.037 s
    assert ok.labels["upstream_ms"] == "48"
    assert ok.labels["client_ip"] == "192.168.131.39"
    assert ok.labels["load_balancer"] == "app/orders-alb/50dc6c495c0c9188"
    assert ok.labels["vhost"] == "api.example.com"
    # The target never answered: the ALB's 502, its reason, no duration.
    assert (unreachable.outcome, unreachable.error_class) == ("failure", "connectivity")
    assert unreachable.labels["error_reason"] == "TargetConnectionError"
    assert unreachable.labels["target_answered"] == "false"
    assert unreachable.duration_ns is None
    assert unreachable.ids == ["xray:1-58337364-23a8c76965a2ef7629b185e2"]  # Root, not Self
    assert unreachable.labels["url_path"] == "/api/orders/4711?expand=lines"
    assert classic.labels["load_balancer"] == "stag-www-lb"
    assert classic.timestamp_ms == iso_to_ms("2017-08-10T18:25:56.123Z")
    assert classic.duration_ns == 51_590_000


def test_not_an_elb_line():
    assert not aws_alb.detect('10.0.0.1 - - [01/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 1')
    assert not aws_alb.detect("2024-03-01T10:00:00.123Z INFO started")
    with pytest.raises(ParseError, match="not an Elastic Load Balancing access log line"):
        aws_alb.parse(Record(text="https 2024-03-01T10:00:00Z app/x/1 1.2.3.4:1"), ParseContext())


def test_nlb_tls_entries_are_connections_not_requests(parse_data):
    """An NLB line is a TLS connection with its own time (no zone: UTC), never an ALB request
    read field by field with the ingest time, an ARN for a method and status "2"."""
    events, dead = parse_data("auto", "aws-alb/nlb-tls.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.aws_nlb"}
    ok, alert = events
    assert ok.timestamp_ms == iso_to_ms("2018-12-20T02:59:40Z") and not ok.timestamp_estimated
    assert ok.outcome == "success" and "http_status" not in ok.labels
    assert "http_method" not in ok.labels
    assert ok.labels["load_balancer"] == "net/my-network-loadbalancer/c6e77e28c25b2234"
    assert ok.labels["client_ip"] == "72.21.218.154"
    assert ok.labels["target"] == "172.100.100.185:443"
    assert ok.labels["tls_protocol"] == "tlsv12"
    assert ok.labels["vhost"] == "my-network-loadbalancer-c6e77e28c25b2234.elb.us-east-2.amazonaws.com"
    assert ok.duration_ns == 5_000_000 and ok.payload_bytes == 246
    assert (alert.outcome, alert.error_code) == ("failure", "0x15")
    assert "tls_handshake_ms" not in alert.labels


def test_alb_connection_log_entries(parse_data):
    events, dead = parse_data("auto", "aws-alb/connection.log")
    assert dead == []
    assert {e.dataset for e in events} == {"apigw.aws_alb_connection"}
    ok, refused = events
    assert ok.timestamp_ms == iso_to_ms("2023-10-04T17:35:48.120Z")
    assert ok.outcome == "success"
    assert ok.labels["client_cert_subject"].startswith("CN=client.example.com,")
    assert ok.labels["conn_trace_id"] == "TID_5d8a6b0c4f0e4f2e8b9e1c0d2a3b4c5d"
    assert (refused.outcome, refused.error_class) == ("failure", "auth")
    assert refused.error_message == "Failed:ClientCertNotPresent"


def test_a_line_of_no_elb_shape_is_refused_even_when_named():
    nlb_like = "tls 2.0 2018-12-20T02:59:40 gwy/x/1 g3d4 1.2.3.4:5 6.7.8.9:443 5 2 98 246 -"
    assert not aws_alb.detect(nlb_like)
    with pytest.raises(ParseError, match="not an Elastic Load Balancing log line"):
        aws_alb.parse(Record(text=nlb_like), ParseContext())
