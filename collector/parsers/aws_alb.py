"""AWS Elastic Load Balancing access logs: Application Load Balancers and Classic ones, as
they are delivered to S3 (one request per line, space-separated, some fields quoted).

- ALB: ``type time elb client:port target:port request_processing_time
  target_processing_time response_processing_time elb_status_code target_status_code
  received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol target_group_arn
  "trace_id" "domain_name" "chosen_cert_arn" matched_rule_priority request_creation_time
  "actions_executed" "redirect_url" "error_reason" ...``; later fields (target lists,
  classification, conn_trace_id) are appended by newer ALBs and read when present.
- Classic ELB: ``time elb client:port backend:port request_processing_time
  backend_processing_time response_processing_time elb_status_code backend_status_code
  received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol``.

The ``Root=`` of ``trace_id`` is the X-Amzn-Trace-Id header the ALB adds to the request, so
the targets behind it (a Mule or Boomi API, an API Gateway with X-Ray) can log the same ID:
it becomes an ``xray:`` ID, as API Gateway's ``xrayTraceId`` does. A request the target never
answered (``-1`` processing times, ``-`` target status) is an ``elb_status_code`` failure
whose class the status says; ``error_reason`` is kept.
"""

from __future__ import annotations

import re

from collector.event import Event, Record
from collector.parsers.apigw import request_event, request_line
from collector.parsers.base import ParseContext, ParseError
from collector.parsers.fields import as_int, set_label
from collector.timeparse import to_ms

NAME = "aws-alb"
DATASET = "apigw.aws_alb"
START = None

_TIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z"
_ALB = re.compile(rf"(?:https?|h2|grpcs?|wss?) {_TIME} app/\S+ ")
_CLASSIC = re.compile(rf"{_TIME} [\w-]+ [\d.:a-f\[\]]+:\d+ (?:[\d.:a-f\[\]]+:\d+|-) -?\d")
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_ROOT = re.compile(r"Root=([\w-]+)")
_ALB_FIELDS = ("type", "time", "elb", "client", "target", "request_time", "target_time",
               "response_time", "status", "target_status", "received", "sent", "request",
               "agent", "cipher", "protocol", "target_group", "trace", "domain", "cert",
               "priority", "created", "actions", "redirect", "error_reason", "targets",
               "target_statuses", "classification", "classification_reason", "conn_trace")
_CLASSIC_FIELDS = _ALB_FIELDS[1:16]


def detect(line: str) -> bool:
    if line[:1].isdigit():
        return _CLASSIC.match(line) is not None
    return _ALB.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    names = _CLASSIC_FIELDS if text[:1].isdigit() else _ALB_FIELDS
    values = [quoted if bare == "" else bare for quoted, bare in _TOKEN.findall(text)]
    if len(values) < 15:
        raise ParseError("not an Elastic Load Balancing access log line (expected 'type time "
                         "elb client:port target:port ... \"request\" \"user_agent\" ...')")
    f = {k: v for k, v in zip(names, values, strict=False) if v not in ("-", "")}
    method, url = request_line(f.get("request", ""))
    ev = request_event(DATASET, to_ms(f.get("time"), ctx), method, _path(url),
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


def _path(url: str) -> str:
    """The path of ``https://host:443/path?query`` as the other gateways log it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return scheme
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def _seconds(value: str | None) -> float | None:
    """A processing time; ``-1`` when the load balancer could not send or got no answer."""
    try:
        seconds = float(value) if value is not None else -1.0
    except ValueError:
        return None
    return None if seconds < 0 else seconds
