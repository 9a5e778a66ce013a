"""HAProxy HTTP logs (``option httplog``), the load balancer in front of many integration
runtimes, as syslog writes them (``Mar  1 10:00:00 lb1 haproxy[2211]: ...``, RFC 5424 too)
or as HAProxy writes them raw to stdout in containers (``log stdout format raw``)::

    10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750
    - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"

Client, accept time (the proxy's local time), frontend, backend/server, the timers
TR/Tw/Tc/Tr/Ta in ms (-1: that phase was never reached; 1.4's Tq/Tw/Tc/Tr/Tt the same way),
status, bytes, cookies, the termination state, connection counts, queues, the captured
request and response headers in braces (only when ``capture request header`` is set), and
the request line.

The termination state says who ended the session and when (``sC``: server connect timeout,
``SH``: server aborted before its headers, ``CD``: client went away during data, ``PR``:
denied by the proxy). It refines the class of a failed request: a timeout (``s``/``c``)
is a timeout, a server that refused or broke the connection (``S``, ``D``: server down)
is connectivity, a resource shortage (``R``) is resource. Captured request header values
shaped like a UUID are taken as correlation IDs, since that is what a ``capture request
header X-Correlation-ID`` records; all of them are kept as ``labels.captured_headers``.

``option tcplog`` sessions and ``option httpslog``'s TLS fields after the request are read too.
A ``log-format`` that adds fields to this layout (``%[capture.req.hdr(0)]`` or
``%[req.hdr(host)]`` after the backend/server, a unique ID before the request, fields after
it) is still read: up to four extra fields there, a host name as ``labels.vhost``. A line that
only begins like httplog (client:port, accept time, frontend, backend/server) still gets
HAProxy's own time and route, the timers, status and request where found, the rest as
``labels.log_fields``. The input's own ``log_format`` reads any layout field by field
(``collector.parsers.logformat``).
"""

from __future__ import annotations

import re

from collector.event import Event, Record
from collector.parsers._base import ParseContext, ParseError, first_classes_but
from collector.parsers._fields import UUID, as_int, set_label
from collector.parsers._request import access_event, own_layout, request_event, request_line
from collector.timeparse import to_ms

NAME = "haproxy"
DATASET = "apigw.haproxy"
START = None

# What syslog puts before the line (RFC 3164, RFC 5424).
_SYSLOG_PREFIX = r"(?P<prefix>.*?)\bhaproxy(?:\[\d+\]:| \d+ - - | - - - )\s*"
_PREFIX = re.compile(_SYSLOG_PREFIX)
# Client, accept time, frontend, backend/server: how httplog and tcplog lines begin.
_HEAD = (rf"(?:{_SYSLOG_PREFIX})?"
         r"(?P<client>[\w.:\[\]-]+?):\d+ \[(?P<time>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d+)?)\] "
         r"(?P<frontend>\S+) (?P<backend>[^/\s]+)/(?P<server>\S+) ")
_LOG = re.compile(
    rf"{_HEAD}(?P<extra>(?:\S+ ){{0,4}}?)"
    r"(?P<timers>-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+) (?P<status>-?\d+) \+?(?P<bytes>\d+) "
    r"\S+ \S+ (?P<state>[\w-]{4}) (?P<conns>[\d/+]+) (?P<queues>[\d/]+)"
    r"(?: \{(?P<req_headers>[^}]*)\})?(?: \{(?P<res_headers>[^}]*)\})?"
    r"(?P<extra_tail>(?: [^\"\s]\S*){0,4}?) "
    r"\"(?P<request>[^\"]*)(?:\"(?: (?P<tls>-?\d+/[\dA-Fa-f]+/-?\d+/-?\d+/[01] \S+)|"
    r"(?P<after>(?: \S+){0,4})))?\s*$")
_HEAD_RX = re.compile(_HEAD)
# "option httplog clf" (HAProxy's clf_http_log_format): %{+Q}o %{-Q}ci - - [%trg] %r %ST %B
# "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl
_CLF = re.compile(
    rf"(?:{_SYSLOG_PREFIX})?(?P<client>[\w.:\[\]-]+) - - "
    r"\[(?P<time>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] \"(?P<request>[^\"]*)\" "
    r"(?P<status>-?\d+) \+?(?P<bytes>\d+) \"[^\"]*\" \"[^\"]*\" \d+ \d+ "
    r"\"(?P<frontend>[^\"]*)\" \"(?P<backend>[^\"]*)\" \"(?P<server>[^\"]*)\" "
    r"(?P<timers>-?\d+ -?\d+ -?\d+ -?\d+ \+?-?\d+) \"?(?P<state>[\w-]{4})\"? "
    r"(?P<conns>\+?\d+ \d+ \d+ \d+ \+?\d+) (?P<queues>\d+ \d+)(?P<rest>.*)$")
_QUOTED = re.compile(r'"([^"]*)"')
# In a layout of the owner's that starts like httplog: the timers and status, and the request.
_TIMERS_STATUS = re.compile(r"(?<!\S)(-?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+) (-?\d{1,3}) \+?(\d+) ")
_REQUEST = re.compile(r'"([A-Z][A-Z_-]{0,19} [^"]*)"')
# "option tcplog": Tw/Tc/Tt, bytes, a two-letter termination state, connections, queues.
_TCP = re.compile(rf"{_HEAD}(?P<timers>-?\d+/-?\d+/\+?-?\d+) \+?(?P<bytes>\d+) "
                  r"(?P<state>[\w-]{2}) (?P<conns>[\d/+]+) (?P<queues>[\d/]+)\s*$")
# The offset of an RFC 3339 syslog stamp (rsyslog's default on current distributions, HAProxy's
# own RFC 5424 header): the zone of the accept time, which HAProxy writes in local time.
_SYSLOG_ZONE = re.compile(r"(?:<\d+>1? ?)?\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}):?(\d{2})? ")
# HAProxy's local accept time (%t, %tr): no zone of its own.
_LOCAL_TIME = re.compile(r"\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d+)?")
_SYSLOG_HOST = re.compile(r"(?:<\d+>1? ?)?(?:\S+ +\d+ [\d:]+|\S+T\S+) (?P<host>\S+) ")
_HOST = re.compile(r"(?=[\w.-]*[A-Za-z])[\w-]+(?:\.[\w-]+)+(?::\d+)?")
_WHO = {"s": "timeout", "c": "timeout", "S": "connectivity", "D": "connectivity",
        "R": "resource"}
# The termination state in words, for the error message (HAProxy's "Session state at
# disconnection"): who ended the session, and in which phase.
_ENDED_BY = {"C": "the client aborted", "S": "the server aborted or refused",
             "P": "the proxy refused", "R": "a resource ran out", "I": "an internal error",
             "D": "the server was down", "L": "HAProxy answered itself", "K": "an admin killed it",
             "c": "the client timed out", "s": "the server timed out"}
_PHASE = {"R": "while reading the request", "Q": "while queued", "C": "while connecting to "
          "the server", "H": "before the response headers", "D": "during the data transfer",
          "L": "at the last data", "T": "while tarpitted"}


# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
# A line that does not start with a digit: ``detect`` wants "haproxy" in its head.
DETECT_NEEDS = dict.fromkeys(first_classes_but("0"), ("haproxy",))


def detect(line: str) -> bool:
    # Client:port, accept time, frontend, backend/server: how every HAProxy session line
    # begins, httplog, tcplog and the log-formats built from them.
    return ("haproxy" in line[:80] or line[:1].isdigit()) and (
        _HEAD_RX.match(line) is not None or _CLF.match(line) is not None)


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if ctx.log_format:
        prefix = _PREFIX.match(text)
        values = own_layout(text[prefix.end():] if prefix else text, ctx, "haproxy")
        zone = _syslog_offset(prefix and prefix["prefix"])
        if zone and _LOCAL_TIME.fullmatch(values.get("time", "")):  # %t/%tr, not %T/%Tl/%Ts
            values["time"] = f"{values['time']} {zone}"
        ev = access_event(DATASET, values, ctx)
        status = as_int(values.get("status"))
        _termination(ev, values.get("termination_state", "----"),
                     status if status is not None else 0)
        _syslog_host(ev, prefix and prefix["prefix"])
        return [ev]
    m = _LOG.match(text)
    if m is None and (clf := _CLF.match(text)):
        return [_clf(clf, ctx)]
    if m is None and (tcp := _TCP.match(text)):
        return [_tcp(tcp, ctx)]
    if m is None and (head := _HEAD_RX.match(text)):
        return [_own_layout(head, text[head.end():], ctx)]
    if m is None:
        raise ParseError("not an HAProxy HTTP log line (expected 'client:port [dd/Mon/yyyy:"
                         "HH:MM:SS.mmm] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes - - "
                         "state conns queues \"request\"')")
    ev = _http(m, m["timers"], m["req_headers"] or "", m["req_headers"], ctx)
    _extra_fields(ev, f"{m['extra']} {m['extra_tail']} {m['after'] or ''}".split())
    set_label(ev, "tls", m["tls"])  # option httpslog: errors, SNI, version, cipher
    return [ev]


def _http(m: re.Match, timers: str, headers: str, kept: str | None,
          ctx: ParseContext) -> Event:
    """One HTTP session of httplog or its CLF form: ``timers`` as TR/Tw/Tc/Tr/Ta, the
    captured request header values ``|``-separated (``kept`` is what ``captured_headers``
    keeps)."""
    method, path = request_line(m["request"])
    status = int(m["status"])
    ev = request_event(DATASET, _accept_ms(m, ctx), method, path,
                       status if status > 0 else None)
    state = m["state"]
    set_label(ev, "termination_state", state)
    set_label(ev, "frontend", m["frontend"])
    set_label(ev, "backend", m["backend"])
    set_label(ev, "server", m["server"] if m["server"] != "<NOSRV>" else None)
    set_label(ev, "client_ip", m["client"])
    ev.service = m["backend"]
    ev.payload_bytes = as_int(m["bytes"])
    _timers(ev, timers)
    _termination(ev, state, status)
    set_label(ev, "captured_headers", kept)
    for value in headers.split("|") if headers else ():
        if UUID.fullmatch(value.strip()):
            ev.add_id("correlation", value.strip())
    _syslog_host(ev, m["prefix"])
    return ev


def _clf(m: re.Match, ctx: ParseContext) -> Event:
    """``option httplog clf``: the same fields as httplog in common-log order, space-separated
    and quoted, the request's time with its zone; captured headers are the quoted values
    after the two cookies."""
    captured = _QUOTED.findall(m["rest"])[2:]
    return _http(m, m["timers"].replace(" ", "/"), "|".join(captured),
                 " ".join(f'"{v}"' for v in captured) or None, ctx)


def _own_layout(head: re.Match, rest: str, ctx: ParseContext) -> Event:
    """A line that begins like httplog and goes on in a layout of the owner's: HAProxy's
    own accept time and route, and the timers, status and request where they are found,
    rather than generic syslog with the syslog header's time. The rest is kept."""
    request = _REQUEST.search(rest)
    method, path = request_line(request.group(1)) if request else ("", "")
    timers = _TIMERS_STATUS.search(rest)
    status = int(timers.group(2)) if timers else 0
    ev = request_event(DATASET, _accept_ms(head, ctx), method, path,
                       status if status > 0 else None)
    if not request:
        ev.message = f"{head['frontend']} -> {head['backend']}/{head['server']}"
    for key in ("frontend", "backend", "server"):
        set_label(ev, key, head[key] if head[key] != "<NOSRV>" else None)
    set_label(ev, "client_ip", head["client"])
    ev.service = head["backend"]
    if timers:
        _timers(ev, timers.group(1))
        ev.payload_bytes = int(timers.group(3))
    set_label(ev, "log_fields", rest)
    _syslog_host(ev, head["prefix"])
    return ev


def _accept_ms(m: re.Match, ctx: ParseContext) -> tuple[int, bool]:
    """The accept time, local to HAProxy's host: in the zone of the syslog stamp before it
    when that names one (read in the default zone instead, it was hours off), else in the
    input's zone as any zoneless time. CLF's request time carries its own zone."""
    zone = _syslog_offset(m["prefix"])
    if zone is None or not _LOCAL_TIME.fullmatch(m["time"]):
        return to_ms(m["time"], ctx)
    return to_ms(f"{m['time']} {zone}", ctx)


def _syslog_offset(prefix: str | None) -> str | None:
    """The UTC offset (``+0100``) of an RFC 3339 syslog stamp in ``prefix``, if it has one."""
    zone = _SYSLOG_ZONE.match(prefix or "")
    if zone is None:
        return None
    return "+0000" if zone[1] == "Z" else f"{zone[1]}{zone[2] or '00'}"


def _syslog_host(ev: Event, prefix: str | None) -> None:
    host = _SYSLOG_HOST.match(prefix) if prefix else None
    ev.host = host["host"] if host else None


def _tcp(m: re.Match, ctx: ParseContext) -> Event:
    """A TCP session (``option tcplog``): no request, its total time and who ended it."""
    ts, estimated = _accept_ms(m, ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=DATASET,
               platform="apigw", action="received",
               message=f"TCP {m['frontend']} -> {m['backend']}/{m['server']}")
    for key in ("frontend", "backend", "server"):
        set_label(ev, key, m[key] if m[key] != "<NOSRV>" else None)
    set_label(ev, "client_ip", m["client"])
    set_label(ev, "termination_state", m["state"])
    ev.service = m["backend"]
    ev.payload_bytes = as_int(m["bytes"])
    total = int(m["timers"].rsplit("/", 1)[1].replace("+", ""))
    ev.duration_ns = total * 1_000_000 if total >= 0 else None
    ev.outcome = "success" if m["state"] == "--" else None
    _termination(ev, m["state"], 0)
    _syslog_host(ev, m["prefix"])
    return ev


def _termination(ev: Event, state: str, status: int) -> None:
    """A failed or unanswered request: the termination state says who ended it and when."""
    if len(state) >= 2 and state[0] in _WHO and (ev.outcome == "failure" or status <= 0):
        ev.outcome, ev.error_class = "failure", _WHO[state[0]]
        ev.level = "error"
        ev.error_message = " ".join(
            p for p in (_ENDED_BY[state[0]], _PHASE.get(state[1]), f"({state})") if p)


def _extra_fields(ev: Event, fields: list[str]) -> None:
    """Fields a ``log-format`` adds to the httplog layout (after the server or before the
    request): a host name is the virtual host, a UUID a correlation ID, the rest is kept."""
    kept = []
    for value in fields:
        if value == "-":
            continue
        if UUID.fullmatch(value):
            ev.add_id("correlation", value)
        elif _HOST.fullmatch(value) and "vhost" not in ev.labels:
            set_label(ev, "vhost", value)
        else:
            kept.append(value)
    set_label(ev, "log_fields", " ".join(kept))


def _timers(ev: Event, timers: str) -> None:
    """Ta (total, ms) as the duration; Tr (the server's response time) as upstream_ms."""
    parts = timers.replace("+", "").split("/")
    total, response = int(parts[4]), int(parts[3])
    if total >= 0:
        ev.duration_ns = total * 1_000_000
    if response >= 0:
        set_label(ev, "upstream_ms", response)
