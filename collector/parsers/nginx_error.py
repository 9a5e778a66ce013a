"""NGINX error logs, as NGINX, Kong and OpenResty gateways write them (``error.log``).

``2024/03/01 10:15:32 [error] 1234#0: *5678 connect() failed (111: Connection refused) while
connecting to upstream, client: 10.0.0.1, server: api.acme.com, request: "POST /orders
HTTP/1.1", upstream: "http://10.0.0.9:8080/orders", host: "api.acme.com"``

The access log says a request failed (a 502); the error log says why, and which upstream did
it: a refused connection, a timeout, a TLS handshake, a Lua error in a Kong plugin. The
context NGINX appends (``client``, ``server``, ``request``, ``upstream``, ``host``) becomes
labels, the request line its method and path as in the access log, and ``*5678`` (the
connection) ``labels.nginx_connection``. Lines after the first (a Lua ``stack traceback:``)
belong to the record and become the stack trace. The time has no zone: the configured
default applies. Levels: ``emerg``/``alert``/``crit`` fatal, ``error``, ``warn``, ``notice``
and ``info`` info, ``debug``.
"""

from __future__ import annotations

import re

from collector.event import Event, Record
from collector.parsers._base import ParseContext
from collector.parsers._fields import head_match, set_label
from collector.parsers._request import request_line
from collector.timeparse import civil_to_ms

NAME = "nginx-error"
DATASET = "apigw.nginx_error"
START = re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[(?:debug|info|notice|warn|error|crit"
                   r"|alert|emerg)\] \d+#\d+: ")

_LINE = re.compile(r"(?P<y>\d{4})/(?P<mo>\d{2})/(?P<d>\d{2}) (?P<h>\d{2}):(?P<mi>\d{2}):"
                   r"(?P<s>\d{2}) \[(?P<level>[a-z]+)\] (?P<pid>\d+)#\d+: (?:\*(?P<conn>\d+) )?"
                   r"(?P<msg>.*)$")
# What NGINX appends to the message: ", client: 10.0.0.1, server: api, request: "GET / ..."".
_CONTEXT = re.compile(r', (client|server|request|subrequest|upstream|host|referrer): '
                      r'("[^"]*"|[^,]*)')
_LEVELS = {"emerg": "fatal", "alert": "fatal", "crit": "fatal", "error": "error",
           "warn": "warn", "notice": "info", "info": "info", "debug": "debug"}


# The first characters of a line ``detect`` may claim (START's date; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '0'


def detect(line: str) -> bool:
    return START.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    m, rest = head_match(record.text, _LINE, "an NGINX error log line (expected 'yyyy/MM/dd "
                         "HH:mm:ss [level] pid#tid: message')")
    ts = civil_to_ms(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]),
                     int(m["s"]), 0, None, ctx.tz)
    # The context closes the record: the first line, or the last of a Lua traceback.
    message, rest = m["msg"], rest.strip("\n")
    tail = rest if rest else message
    last = tail.rfind("\n") + 1
    context = _CONTEXT.search(tail, last)
    pairs = _CONTEXT.findall(tail, context.start()) if context else []
    if context and rest:
        rest = rest[:context.start()]
    elif context:
        message = message[:context.start()]
    ev = Event(timestamp_ms=ts, dataset=DATASET, platform="apigw", action="logged",
               level=_LEVELS.get(m["level"], "info"), message=message, service="nginx")
    if ev.level in ("error", "fatal"):
        ev.error_message = message
    if rest:
        ev.error_stack_trace = rest
    set_label(ev, "nginx_connection", m["conn"])
    set_label(ev, "nginx_pid", m["pid"])
    for key, value in pairs:
        _context(ev, key, value.strip('"'))
    return [ev]


def _context(ev: Event, key: str, value: str) -> None:
    if key == "request":
        method, path = request_line(value)
        set_label(ev, "http_method", method)
        set_label(ev, "url_path", path)
    elif key == "client":
        set_label(ev, "client_ip", value)
    elif key == "server":
        set_label(ev, "vhost", value)
    else:
        set_label(ev, key, value)
