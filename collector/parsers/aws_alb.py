"""AWS Elastic Load Balancing logs: access logs of Application, Classic and Network Load
Balancers and ALB connection logs, as they are delivered to S3 (one request or connection per
line, space-separated, some fields quoted).

- ALB: ``type time elb client:port target:port request_processing_time
  target_processing_time response_processing_time elb_status_code target_status_code
  received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol target_group_arn
  "trace_id" "domain_name" "chosen_cert_arn" matched_rule_priority request_creation_time
  "actions_executed" "redirect_url" "error_reason" ...``; later fields (target lists,
  classification, conn_trace_id) are appended by newer ALBs and read when present.
- Classic ELB: ``time elb client:port backend:port request_processing_time
  backend_processing_time response_processing_time elb_status_code backend_status_code
  received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol``.
- NLB (TLS listeners only): ``tls version time elb listener client:port destination:port
  connection_time tls_handshake_time received_bytes sent_bytes incoming_tls_alert
  chosen_cert_arn chosen_cert_serial tls_cipher tls_protocol_version tls_named_group
  domain_name alpn_fe_protocol alpn_be_protocol alpn_client_preference_list
  tls_connection_creation_time``: a TLS connection, not a request (dataset
  ``apigw.aws_nlb``); its time has no zone and is UTC like every ELB time. A TLS alert from
  the client is a failed connection.
- ALB connection logs: ``time client_ip client_port listener_port tls_protocol tls_cipher
  tls_handshake_latency leaf_client_cert_subject leaf_client_cert_validity
  leaf_client_cert_serial_number tls_verify_status conn_trace_id`` (dataset
  ``apigw.aws_alb_connection``); a verify status other than ``Success`` is a failure.

A line of none of these shapes is refused, never read as a request field by field: an NLB
line once gave an ARN as the HTTP method and the ingest time as its time.

The ``Root=`` of ``trace_id`` is the X-Amzn-Trace-Id header the ALB adds to the request, so
the targets behind it (a Mule or Boomi API, an API Gateway with X-Ray) can log the same ID:
it becomes an ``xray:`` ID, as API Gateway's ``xrayTraceId`` does. A request the target never
answered (``-1`` processing times, ``-`` target status) is an ``elb_status_code`` failure
whose class the status says; ``error_reason`` is kept.
"""

from __future__ import annotations

import re

from collector.event import Event, Record
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import as_int, set_label
from collector.parsers._request import request_event, request_line, url_path
from collector.timeparse import to_ms

NAME = "aws-alb"
DATASET = "apigw.aws_alb"
START = None

_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z"
_ALB = re.compile(rf"(?:https?|h2|grpcs?|wss?) {_TIME} app/\S+ ")
_CLASSIC = re.compile(rf"{_TIME} [\w-]+ [\d.:a-f\[\]]+:\d+ (?:[\d.:a-f\[\]]+:\d+|-) -?\d")
_NLB = re.compile(r"tls \d+\.\d+ \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z? net/\S+ ")
_CONNECTION = re.compile(rf"{_TIME} [\d.:a-fA-F]+ \d+ \d+ (?:TLS\S*|-) \S+ (?:\d+|-) ")
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_ROOT = re.compile(r"Root=([\w-]+)")
_ALB_FIELDS = ("type", "time", "elb", "client", "target", "request_time", "target_time",
               "response_time", "status", "target_status", "received", "sent", "request",
               "agent", "cipher", "protocol", "target_group", "trace", "domain", "cert",
               "priority", "created", "actions", "redirect", "error_reason", "targets",
               "target_statuses", "classification", "classification_reason", "conn_trace")
_CLASSIC_FIELDS = _ALB_FIELDS[1:16]
_NLB_FIELDS = ("type", "version", "time", "elb", "listener", "client", "destination",
               "connection_ms", "handshake_ms", "received", "sent", "tls_alert", "cert",
               "cert_serial", "cipher", "protocol", "named_group", "domain", "alpn_fe",
               "alpn_be", "alpn_client", "created")
_CONNECTION_FIELDS = ("time", "client", "client_port", "listener_port", "protocol", "cipher",
                      "handshake_ms", "cert_subject", "cert_validity", "cert_serial",
                      "verify_status", "conn_trace")


# The first characters of a line ``detect`` may claim (a date (classic ELB), a request type (http, h2, grpc, ws) or ``tls``; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '0hgwt'


def detect(line: str) -> bool:
    if line[:1].isdigit():
        return _CLASSIC.match(line) is not None or _CONNECTION.match(line) is not None
    return _ALB.match(line) is not None or _NLB.match(line) is not None


def _fields(text: str, names: tuple[str, ...]) -> dict[str, str]:
    values = [quoted if bare == "" else bare for quoted, bare in _TOKEN.findall(text)]
    return {k: v for k, v in zip(names, values, strict=False) if v not in ("-", "")}


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if _NLB.match(text):
        return [_nlb(_fields(text, _NLB_FIELDS), ctx)]
    if _CONNECTION.match(text):
        return [_connection(_fields(text, _CONNECTION_FIELDS), ctx)]
    if not (_ALB.match(text) or _CLASSIC.match(text)):
        raise ParseError("not an Elastic Load Balancing log line (expected an ALB or Classic "
                         "access log 'type time elb client:port target:port ... \"request\" "
                         "...', an NLB 'tls 2.0 time net/...' or an ALB connection log "
                         "'time client_ip client_port listener_port tls_protocol ...')")
    names = _CLASSIC_FIELDS if text[:1].isdigit() else _ALB_FIELDS
    if len(_TOKEN.findall(text)) < 15:
        raise ParseError("not an Elastic Load Balancing access log line (expected 'type time "
                         "elb client:port target:port ... \"request\" \"user_agent\" ...')")
    f = _fields(text, names)
    method, url = request_line(f.get("request", ""))
    ev = request_event(DATASET, to_ms(f.get("time"), ctx), method, url_path(url),
                       as_int(f.get("status")))
    set_label(ev, "load_balancer", f.get("elb"))
    set_label(ev, "client_ip", f.get("client", "").rsplit(":", 1)[0] or None)
    set_label(ev, "target", f.get("target"))
    set_label(ev, "target_status", f.get("target_status"))
    set_label(ev, "vhost", f.get("domain"))
    set_label(ev, "user_agent", f.get("agent"))
    set_label(ev, "error_reason", f.get("error_reason"))
    set_label(ev, "classification", f.get("classification"))
    set_label(ev, "target_group", f.get("target_group"))
    set_label(ev, "conn_trace_id", f.get("conn_trace"))  # joins the connection log's entry
    ev.payload_bytes = as_int(f.get("sent"))
    root = _ROOT.search(f.get("trace", ""))
    if root:
        ev.add_id("xray", root.group(1))
    request_s, target_s, response_s = (_seconds(f.get(k)) for k in
                                       ("request_time", "target_time", "response_time"))
    if request_s is not None and target_s is not None and response_s is not None:
        ev.duration_ns = int((request_s + target_s + response_s) * 1e9)
        set_label(ev, "upstream_ms", int(target_s * 1000))
    elif ev.outcome == "failure" and f.get("target_status") is None:
        set_label(ev, "target_answered", "false")
    return [ev]


def _nlb(f: dict[str, str], ctx: ParseContext) -> Event:
    """A TLS connection through a Network Load Balancer: who, to which target, how long."""
    stamp = f.get("time", "")
    ts = to_ms(stamp if stamp.endswith("Z") else f"{stamp}Z", ctx)
    ev = Event(timestamp_ms=ts[0], timestamp_estimated=ts[1], dataset="apigw.aws_nlb",
               platform="apigw", action="received", outcome="success",
               message=f"TLS connection {f.get('client', '-')} -> {f.get('destination', '-')}")
    set_label(ev, "load_balancer", f.get("elb"))
    set_label(ev, "listener", f.get("listener"))
    set_label(ev, "client_ip", f.get("client", "").rsplit(":", 1)[0] or None)
    set_label(ev, "target", f.get("destination"))
    set_label(ev, "vhost", f.get("domain"))
    _tls_labels(ev, f)
    connection_ms = as_int(f.get("connection_ms"))
    if connection_ms is not None and connection_ms >= 0:
        ev.duration_ns = connection_ms * 1_000_000
    ev.payload_bytes = as_int(f.get("sent"))
    set_label(ev, "request_bytes", as_int(f.get("received")))
    alert = f.get("tls_alert")
    if alert:
        ev.outcome, ev.level = "failure", "warn"
        ev.error_type, ev.error_code = "TLS alert", alert
        ev.error_message = f"the client sent TLS alert {alert}"
    return ev


def _connection(f: dict[str, str], ctx: ParseContext) -> Event:
    """An ALB connection log entry: the TLS handshake of a client (mutual TLS verification
    when the listener asks for a client certificate)."""
    status = f.get("verify_status", "")
    ts, estimated = to_ms(f.get("time"), ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated,
               dataset="apigw.aws_alb_connection", platform="apigw", action="received",
               message=f"TLS connection from {f.get('client', '-')} to port "
                       f"{f.get('listener_port', '-')}: {status}")
    set_label(ev, "client_ip", f.get("client"))
    set_label(ev, "listener_port", f.get("listener_port"))
    set_label(ev, "client_cert_subject", f.get("cert_subject"))
    set_label(ev, "conn_trace_id", f.get("conn_trace"))
    _tls_labels(ev, f)
    if status == "Success":
        ev.outcome = "success"
    else:
        ev.outcome, ev.level, ev.error_class = "failure", "warn", "auth"
        ev.error_type, ev.error_message = "TLS verification", status or None
    return ev


def _tls_labels(ev: Event, f: dict[str, str]) -> None:
    set_label(ev, "tls_protocol", f.get("protocol"))
    set_label(ev, "tls_cipher", f.get("cipher"))
    set_label(ev, "tls_handshake_ms", f.get("handshake_ms"))


def _seconds(value: str | None) -> float | None:
    """A processing time; ``-1`` when the load balancer could not send or got no answer."""
    try:
        seconds = float(value) if value is not None else -1.0
    except ValueError:
        return None
    return None if seconds < 0 else seconds
