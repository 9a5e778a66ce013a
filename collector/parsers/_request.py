"""An HTTP request as gateways and proxies log it, shared by the access-log parsers.

``apigw`` (NGINX, Apache, Traefik, Kong...), ``haproxy``, ``envoy``, ``aws_alb``, ``azure`` and
``nginx_error`` all read the same things: a quoted request line, a status that says whether
and how the request failed, a traceparent, times in seconds, and the fields of the input's own
``log_format``. One copy of that lives here (a helper, not a format: no ``NAME``, no registry
line), so each parser only reads its own layout.

A 4xx or 5xx status is a failure whose class the status says when it can (401/403 auth, 429
throttling, 408/504 timeout, 400/413/415/422 validation, 502/503 connectivity).
"""

from __future__ import annotations

import re

from collector.event import Event
from collector.parsers import logformat
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import UUID, as_int, id_kind, set_label
from collector.timeparse import to_ms

_STATUS_CLASS = {401: "auth", 403: "auth", 407: "auth", 429: "throttling", 408: "timeout",
                 504: "timeout", 400: "validation", 413: "validation", 415: "validation",
                 422: "validation", 502: "connectivity", 503: "connectivity"}
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_METHOD = re.compile(r"[A-Z][A-Z_-]{0,19}")
_DURATION_UNITS = (("duration_s", 1e9), ("duration_ms", 1e6), ("duration_us", 1e3))
# Roles of a format string kept as labels, and the label each becomes.
_ROLE_LABELS = {"client": "client_ip", "user": "user", "vhost": "vhost", "agent": "user_agent",
                "forwarded_for": "forwarded_for", "upstream_addr": "upstream_addr",
                "frontend": "frontend", "backend": "backend", "server": "server",
                "termination_state": "termination_state",
                "upstream_cluster": "upstream_cluster", "route": "route"}


def request_line(line: str) -> tuple[str, str]:
    """(method, target) of an HTTP request line as access logs quote it ("POST /orders
    HTTP/1.1"); the target is the rest of the line when no protocol ends it."""
    method, _, rest = line.partition(" ")
    return method, rest.rsplit(" ", 1)[0] if " HTTP/" in rest else rest


def readable_request(line: str) -> tuple[str, str]:
    """(method, target), or no method and a placeholder for what is no HTTP request line: a
    TLS handshake or a scanner on the HTTP port."""
    method, path = request_line(line)
    return (method, path) if _METHOD.fullmatch(method) else ("", "(unreadable request line)")


def url_path(url: str) -> str:
    """The path of ``https://host:443/path?query`` as the other gateways log it."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return scheme
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def request_event(dataset: str, ts: tuple[int, bool], method: str, path: str,
                  status: int | None) -> Event:
    """One request through a gateway: a failure from 400 on, classed by its status."""
    ev = Event(timestamp_ms=ts[0], timestamp_estimated=ts[1], dataset=dataset,
               platform="apigw", action="received",
               message=" ".join(filter(None, (method, path, str(status or "-")))))
    set_label(ev, "http_method", method)
    set_label(ev, "url_path", path)
    if status is None:
        return ev
    set_label(ev, "http_status", status)
    if status >= 400:
        ev.outcome = "failure"
        ev.level = "error" if status >= 500 else "warn"
        ev.error_code = str(status)
        ev.error_type = f"HTTP {status}"
        ev.error_class = _STATUS_CLASS.get(status)
    else:
        ev.outcome = "success"
    return ev


def traceparent(ev: Event, value: object) -> None:
    m = TRACEPARENT.fullmatch(str(value).strip()) if value else None
    if m:
        ev.trace_id, ev.span_id = m.group(1), m.group(2)
        ev.add_id("otel.trace", m.group(1))


def seconds_ns(text: str | None) -> int | None:
    """NGINX times are seconds with ms resolution; several upstreams read ``0.010, 0.020``."""
    if not text or text == "-":
        return None
    try:
        if "," not in text and ":" not in text and not text.isspace():  # one upstream
            return int(float(text) * 1e9)
        return int(sum(float(p) for p in text.replace(":", ",").split(",") if p.strip()) * 1e9)
    except ValueError:
        return None


def own_layout(line: str, ctx: ParseContext, dialect: str) -> dict[str, str]:
    """The fields of a line written with the input's ``log_format``; ParseError for a line
    written otherwise, naming the format it was read with."""
    values = logformat.compile_format(ctx.log_format or "", dialect).read(line)
    if values is None:
        raise ParseError(f"the line does not match the input's log_format ({dialect}) "
                         f"{ctx.log_format!r}: check that the format is the one the proxy "
                         f"writes this file with", field="log_format")
    return values


def access_event(dataset: str, v: dict[str, str], ctx: ParseContext) -> Event:
    """One request from the fields of a format string (``collector.parsers.logformat``):
    the same event the built-in layouts give, whatever order the owner chose."""
    method, path = readable_request(v["request"]) if "request" in v else ("", "")
    status = as_int(v.get("status"))
    stamp = v.get("time")
    ts = to_ms(stamp, ctx) if stamp else (ctx.now_ms, True)
    ev = request_event(dataset, ts, v.get("method") or method, v.get("path") or path,
                       status if status and status > 0 else None)
    if "request" in v and not method:
        set_label(ev, "request_line", v["request"])
    ev.add_id("http.request", v.get("request_id"))
    traceparent(ev, v.get("traceparent"))
    for key, value in v.items():  # only what the format has, in its order
        label = _ROLE_LABELS.get(key)
        if label:
            set_label(ev, label, value)
        elif key.startswith("header:"):
            header_id(ev, key[7:], value)
    ev.service = v.get("backend")
    ev.payload_bytes = as_int(v.get("bytes"))
    set_label(ev, "request_bytes", as_int(v.get("request_bytes")))
    duration = next((float(v[k]) * unit for k, unit in _DURATION_UNITS
                     if k in v and _number(v[k])), None)
    ev.duration_ns = int(duration) if duration is not None and duration >= 0 else None
    upstream = (seconds_ns(v.get("upstream_s")) if "upstream_s" in v else
                as_int(v["upstream_ms"]) * 1_000_000 if _number(v.get("upstream_ms")) else None)
    if upstream is not None and upstream >= 0:
        set_label(ev, "upstream_ms", upstream // 1_000_000)
    captured = v.get("captured_headers", "").strip("{}")
    if captured:
        set_label(ev, "captured_headers", captured)
        for value in captured.split("|"):
            if UUID.fullmatch(value.strip()):
                ev.add_id("correlation", value.strip())
    return ev


def header_id(ev: Event, name: str, value: str) -> None:
    """A logged request header whose name says it is an ID (``x_correlation_id``...)."""
    kind = "traceparent" if name == "traceparent" else id_kind(name)
    if kind == "traceparent":
        traceparent(ev, value)
    elif kind == "request":
        ev.add_id("http.request", value)
    elif kind:
        ev.add_id(kind, value)


def _number(text: str | None) -> bool:
    try:
        float(text or "")
    except ValueError:
        return False
    return True
