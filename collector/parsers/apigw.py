"""API gateway and proxy access logs: NGINX (combined and its common extensions), Apache, Kong,
Traefik, Squid, AWS API Gateway.

Layouts read, one request per line:

- NGINX ``combined`` (``$remote_addr - $remote_user [$time_local] "$request" $status
  $body_bytes_sent "$http_referer" "$http_user_agent"``) and what people append to it: quoted
  or bare ``$request_id`` / ``$http_x_correlation_id`` / ``$http_traceparent``, bare
  ``$request_time $upstream_response_time`` numbers, or ``key=value`` pairs (``rt=``,
  ``urt=``, ``request_id=``/``rid=``, ``cid=``/``correlation_id=``, ``traceparent=``). A bare
  32-hex token is ``$request_id``; a UUID is taken as the correlation ID.
- Kong's JSON log (file-log / http-log / tcp-log plugins): ``request``, ``response``,
  ``latencies``, ``upstream_uri``, ``service``, ``route``, ``client_ip``, ``started_at``.
- NGINX JSON access logs (``log_format ... escape=json '{"remote_addr":"$remote_addr",...}'``):
  the keys are the owner's, but they name NGINX variables (``remote_addr``, ``request``,
  ``status``, ``request_time``, ``request_id``, ``time_iso8601``...), which is what is read.
- Traefik (Kubernetes ingress, Docker): its common log format, which is ``combined``
  followed by ``<requests> "<router>" "<server URL>" <duration>ms``, and its JSON access log
  (``RequestMethod``, ``RequestPath``, ``DownstreamStatus``, ``Duration`` and
  ``OriginDuration`` in ns, ``RouterName``, ``ServiceName``, and kept request headers as
  ``request_<Header-Name>``).
- A line that begins like ``combined`` (client, ident, user, ``[time]``, ``"request"``) and
  goes on in another order: the time, client and request, the rest as ``labels.log_fields``
  (the input's ``log_format`` reads such a layout field by field).
- Nginx Proxy Manager's ``proxy`` and ``standard`` formats (``[$time_local] ... [Client
  $remote_addr] [Length ...] [Gzip ...] [Sent-to $server] ...``).
- NGINX's stream module (TCP/UDP proxying), its documented ``basic`` format
  (``$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received
  $session_time``): a session, not a request.
- IIS's W3C extended log with its default fields (IIS 7 and 8.5+), in UTC; its ``#`` header
  lines give no event.
- Squid's native ``access.log`` (``time elapsed client code/status bytes method URL user
  hierarchy/peer type``): epoch seconds with milliseconds, the elapsed time in ms.
- AWS API Gateway JSON access logs built from ``$context`` variables (``requestId``,
  ``extendedRequestId``, ``requestTimeEpoch``/``requestTime``, ``httpMethod``,
  ``resourcePath``, ``status``, ``responseLatency``/``integrationLatency``, ``xrayTraceId``),
  and its documented CLF format (``_AWS_CLF_IDS``), whose request IDs are named alike.
- Envoy's JSON access log (Istio, Emissary, Contour), claimed here with the other JSON
  gateways and read by ``envoy.json_event`` as Envoy's text line is.

JSON lines may carry the prefix of the tool that exported them: a timestamp (CloudWatch export
to S3, ``kubectl logs --timestamps``) and a log-stream name (``aws logs tail``), as in
``2023-10-27T13:40:57.744000+00:00 <stream> {"requestId":...}``. The stream name becomes
``labels.log_stream``; the timestamp stands in when the record carries none.

Every request is a ``received`` event; a 4xx or 5xx status is a failure whose class the
status says when it can (401/403 auth, 429 throttling, 408/504 timeout, 400/413/415/422
validation, 502/503 connectivity).
"""

from __future__ import annotations

import re

import orjson

from collector.event import Event, Record
from collector.parsers import envoy, logformat
from collector.parsers._base import ParseContext, ParseError, first_classes_but
from collector.parsers._fields import UUID, as_int, set_label
from collector.parsers._request import (
    TRACEPARENT,
    access_event,
    own_layout,
    readable_request,
    request_event,
    request_line,
    seconds_ns,
    traceparent,
    url_path,
)
from collector.timeparse import to_ms

NAME = "apigw"
START = None

# The inside of a double-quoted field with backslash escapes, written as runs of plain
# characters between escapes: the same matches as ``(?:[^"\\]|\\.)*`` at less than half the
# cost, which counts because every NGINX line is matched twice (detection, then parsing).
_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
# The virtual host may come first (``$host $remote_addr - ...``, Apache's ``vhost_combined``
# ``%v:%p %h %l %u``) or quoted before the request; the status is ``-`` when no response was
# sent (Traefik).
_COMBINED = re.compile(
    rf'(?:(?P<server>[\w.-]++(?::\d+)?) (?=\S++ \S++ \S++ \[))?'
    rf'(?P<addr>\S++) \S++ (?P<user>\S++) \[(?P<time>[^\]]+)\] (?:"(?P<vhost>[\w.:-]+)" )?'
    rf'"(?P<request>{_QUOTED})" '
    rf'(?P<status>\d{{3}}|-) (?P<bytes>\d+|-)(?: "(?P<referer>{_QUOTED})" '
    rf'"(?P<agent>{_QUOTED})")?(?P<rest>.*)$')
# "key=value", and Kong's "kong_request_id: "..."" (its nginx template's kong_log_format).
_PAIR = re.compile(rf'([\w.-]+)(?:=|: )("{_QUOTED}"|\S+)')
_TOKEN = re.compile(rf'"({_QUOTED})"|(\S+)')
_HEX32 = re.compile(r"[0-9a-f]{32}")
_TRACEPARENT_CHARS = 55  # 2-32-16-2 hex digits
# NGINX times in seconds; $upstream_response_time lists one per upstream tried ("0.010,
# 0.030", " : " across an internal redirect), joined without blanks before matching.
_SECONDS = re.compile(r"\d+\.\d{3}(?:[,:]\d+\.\d{3})*")
_TIME_LIST = re.compile(r"(?<=\d)(?:, | : )(?=\d+\.\d{3})")
# "<ISO timestamp> [<log stream>] " before a JSON access log record (see the module doc).
_EXPORT_PREFIX = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}[.,]?\d*(?:Z|[+-]\d{2}:?\d{2})?)"
                            r"(?:\s+([^\s{]+))?\s+(?=\{)")
# Traefik's common log format after the combined fields: requests so far, router, server URL,
# duration.
_TRAEFIK_TAIL = re.compile(r' \d+ "(?P<router>[^"]*)" "(?P<server>[^"]*)" (?P<ms>\d+)ms\s*')
# AWS API Gateway's CLF access log format, as its developer guide gives it ("Access logging
# for REST APIs"): '$context.identity.sourceIp $context.identity.caller $context.identity.user
# [$context.requestTime] "$context.httpMethod $context.resourcePath $context.protocol"
# $context.status $context.responseLength $context.requestId', the current guide appending
# '$context.extendedRequestId'. What follows the size is then the request ID alone (a UUID, or
# what the gateway writes for a caller's invalid one) and maybe the extended ID; the time is
# UTC. Such a line's IDs are the gateway's, named as its JSON form names them, so that a
# request logged both ways joins; a CLF-like line with a referer, or another zone, is not it,
# nor one without the evidence _aws_evidence asks for (NGINX common in UTC looks the same).
_AWS_CLF_TIME = re.compile(r"\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000")
_AWS_CLF_IDS = re.compile(rf" (?P<request>{UUID.pattern}(?:_REPLACED_INVALID_REQUEST_ID)?)"
                          r"(?: (?P<extended>[\w+/-]{8,32}={0,2}))?")
_PAIR_KEYS = {
    "rt": "request_time", "request_time": "request_time", "urt": "upstream_time",
    "ut": "upstream_time",
    "upstream_response_time": "upstream_time", "request_id": "request_id", "rid": "request_id",
    "req_id": "request_id", "cid": "correlation", "correlation_id": "correlation",
    "x_correlation_id": "correlation", "traceparent": "traceparent",
    "kong_request_id": "request_id", "status": "status",
}


# The combined layout's start (client, ident, user, CLF time, quoted request) followed by a
# layout of the owner's: the time and request are still read, the rest is kept. Three
# characters where the status belongs ("2O2") are a broken line, not another layout.
_LOOSE = re.compile(
    rf'(?P<addr>\S++) \S++ (?P<user>\S++) \[(?P<time>\d{{1,2}}/\w{{3}}/\d{{4}}:\d{{2}}:\d{{2}}:\d{{2}}'
    rf'[^\]]*)\] "(?P<request>{_QUOTED})"(?! [\w-]{{3}} )(?P<rest>.*)$')
# Nginx Proxy Manager's "proxy" and "standard" formats (its conf.d/include/log-proxy.conf):
# '[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme
# $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio]
# [Sent-to $server] "$http_user_agent" "$http_referer"', "standard" without the cache and
# upstream status and Sent-to.
_NPM = re.compile(
    rf'\[(?P<time>\d{{1,2}}/\w{{3}}/\d{{4}}:\d{{2}}:\d{{2}}:\d{{2}} [+-]\d{{4}})\] '
    rf'(?:(?P<cache>\S+) (?P<upstream_status>\S+) )?(?P<status>\d{{3}}|-) - (?P<method>\S+) '
    rf'(?P<scheme>\S+) (?P<host>\S+) "(?P<uri>{_QUOTED})" \[Client (?P<client>[^\]]*)\] '
    rf'\[Length (?P<bytes>[^\]]*)\] \[Gzip [^\]]*\](?: \[Sent-to (?P<upstream>[^\]]*)\])? '
    rf'"(?P<agent>{_QUOTED})" "(?P<referer>{_QUOTED})"')
# NGINX's stream module (TCP/UDP proxying), its docs' "basic" format: '$remote_addr
# [$time_local] $protocol $status $bytes_sent $bytes_received $session_time', and what people
# append ("$upstream_addr" ...).
_STREAM = re.compile(r'(?P<addr>\S+) \[(?P<time>[^\]]+)\] (?P<protocol>TCP|UDP) (?P<status>\d{3}) '
                     r'(?P<sent>\d+) (?P<received>\d+) (?P<session>\d+\.\d+)'
                     r'(?: "?(?P<upstream>[\w.\[\]:-]+:\d+)"?)?(?P<rest>.*)$')
# IIS's W3C extended log with its default fields (IIS 7: no cs(Referer); 8.5 and later with
# it): date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip
# cs(User-Agent) [cs(Referer)] sc-status sc-substatus sc-win32-status time-taken. The time is
# UTC, as IIS writes W3C logs. Its "#Software:", "#Version:", "#Date:", "#Fields:" lines carry
# no request.
_IIS = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) (?P<server>\S+) "
                  r"(?P<method>[A-Z][A-Z_-]*) (?P<stem>\S+) (?P<query>\S+) (?P<port>\d+) "
                  r"(?P<user>\S+) (?P<client>\S+) (?P<agent>\S+) (?:(?P<referer>\S+) )?"
                  r"(?P<status>\d{3}) (?P<substatus>\d+) (?P<win32>\d+) (?P<taken>\d+)\s*$")
_W3C_DIRECTIVES = ("#Software:", "#Version:", "#Date:", "#Fields:", "#Remark:")
# Squid's native access.log, as its wiki "Squid Log Files" documents it.
_SQUID = re.compile(r"(?P<time>\d{9,10}\.\d{3}) +(?P<elapsed>-?\d+) (?P<client>\S+) "
                    r"(?P<code>[A-Z_]+)/(?P<status>\d{3}) (?P<bytes>\d+) (?P<method>[A-Z_]+|-) "
                    r"(?P<url>\S+) (?P<user>\S+) (?P<hierarchy>[A-Z_]+)/(?P<peer>\S+) "
                    r"(?P<type>\S+)")


# The last line ``detect`` matched against ``_COMBINED``, and the match: in auto mode every
# NGINX line is detected and then parsed, and the parser takes the match instead of running
# the regex again (the same ``str`` object: a one-line record's text is the line).
_detected: tuple[str, re.Match | None] = ("", None)


# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
# A JSON line: the first key of each of ``_json_detect``'s alternatives. A line starting with
# anything but a digit (IIS, Squid, export prefix), "[" (Nginx Proxy Manager) or "#" (W3C
# directives): the blank and bracket before the time of ``_COMBINED``, ``_STREAM``, ``_LOOSE``.
DETECT_NEEDS = {**dict.fromkeys(first_classes_but("0[#{"), (" [",)),
                "{": ('"latencies"', '"requestId"', '"remote_addr"', '"DownstreamStatus"',
                      '"response_flags"')}


def detect(line: str) -> bool:
    if line[10:11] == "." and line[:1].isdigit():  # an epoch stamp: Squid
        return _SQUID.match(line) is not None
    if line[:1] == "{":
        return _json_detect(line)
    if line[:1] == "[":  # Nginx Proxy Manager puts the time first
        return _NPM.match(line) is not None
    if line[:1] == "#":
        return line.startswith(_W3C_DIRECTIVES)
    if line[10:11] == " " and line[4:5] == "-" and _IIS.match(line):
        return True
    if line[4:5] == "-" and line[:4].isdigit():  # an export prefix; no NGINX line starts so
        prefix = _EXPORT_PREFIX.match(line)
        return prefix is not None and _json_detect(line[prefix.end():])
    global _detected
    combined = _detected = (line, _COMBINED.match(line))
    return (combined[1] is not None or _STREAM.match(line) is not None
            or _LOOSE.match(line) is not None)


def claims_taken(line: str) -> bool:
    """Whether ``detect`` claims a line the native reader made an event of (native/src/
    nginx.rs), known without its regexes; False: not known, ask ``detect``.

    That reader takes only ASCII lines of the combined layout without the optional server
    in front: client (hex digits, dots, colons), ident and user (no blank), ``[time]``, the
    quoted request (no quote or backslash in it), a three-digit status and a size; ``_COMBINED``
    matches every such line. ``detect`` reaches ``_COMBINED`` unless a branch before it
    answers: the first character ``{``, ``[`` or ``#`` (no client starts so), a dot at
    position 10 (Squid's epoch, or an IPv4 client as long as ``10.100.200.5``) or a dash at 4
    (a date); those lines are asked. Auto-detection then asks only the parsers ranked before
    this one (tests/unit/test_auto_detect.py checks it over every fixture and bench line)."""
    return line.isascii() and line[10:11] != "." and line[4:5] != "-" and line[:1] not in "{[#"


def _json_detect(line: str) -> bool:
    # The whole line: Kong writes its keys in table order, ``latencies`` often last after
    # kilobytes of headers; and a substring search costs little next to a parse.
    # AWS access logs are whatever $context variables the stage's format names, under
    # keys of the owner's choosing; requestId with a method, route or request time is
    # what they keep. NGINX JSON formats keep $remote_addr and $status.
    return ('"latencies"' in line and '"request"' in line) or (
        '"requestId"' in line and ('"httpMethod"' in line or '"routeKey"' in line
                                   or '"requestTime' in line or '"method"' in line)) or (
        '"remote_addr"' in line and ('"status"' in line or '"http_status"' in line)) or (
        '"DownstreamStatus"' in line and '"RequestMethod"' in line) or envoy.is_json_line(line)


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if ctx.log_format and not text.startswith("{"):
        dialect = logformat.dialect_for(NAME, ctx.log_format)
        return [access_event(f"apigw.{dialect}", own_layout(text, ctx, dialect), ctx)]
    prefix = _EXPORT_PREFIX.match(text) if text[:1].isdigit() else None
    if prefix is not None:
        ev = _json(text[prefix.end():], ctx)
        if ev.timestamp_estimated:
            ev.timestamp_ms, ev.timestamp_estimated = to_ms(prefix.group(1), ctx)
        set_label(ev, "log_stream", prefix.group(2))
        return [ev]
    if text.startswith("{"):
        return [_json(text, ctx)]
    if text.startswith(_W3C_DIRECTIVES):
        return []  # a W3C header line: which software, version, day and fields follow
    iis = _IIS.match(text) if text[10:11] == " " else None
    if iis:
        return [_iis(iis, ctx)]
    squid = _SQUID.match(text) if text[10:11] == "." else None
    if squid:
        return [_squid(squid, ctx)]
    if text[:1] == "[" and (npm := _NPM.match(text)):
        return [_npm(npm, ctx)]
    last, match = _detected  # one tuple, read once: safe beside a detect in another thread
    m = match if last is text else _COMBINED.match(text)
    if m is None and (stream := _STREAM.match(text)):
        return [_stream(stream, ctx)]
    if m is None and (loose := _LOOSE.match(text)):
        return [_loose(loose, ctx)]
    if m is None:
        raise ParseError('not an NGINX access log line (expected \'$remote_addr - $remote_user '
                         '[$time_local] "$request" $status $body_bytes_sent ...\')')
    return [_nginx(m, ctx)]


def _json(text: str, ctx: ParseContext) -> Event:
    try:
        doc = envoy.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("latencies"), dict):
        return _kong(doc, ctx)
    if isinstance(doc, dict) and "requestId" in doc:
        return _aws(doc, ctx)
    if isinstance(doc, dict) and "remote_addr" in doc:
        return _nginx_json(doc, ctx)
    if isinstance(doc, dict) and "DownstreamStatus" in doc:
        return _traefik(doc, ctx)
    if envoy.is_json_doc(doc):
        return envoy.json_event(doc, ctx)
    raise ParseError("JSON access log is neither Kong (request, response, latencies), "
                     "AWS API Gateway (requestId, httpMethod, status), NGINX (remote_addr, "
                     "request, status), Traefik (RequestMethod, DownstreamStatus) nor "
                     + envoy.JSON_SHAPE)


# --- the input's own log_format -----------------------------------------------------------


# --- NGINX --------------------------------------------------------------------------------

def _nginx(m: re.Match, ctx: ParseContext) -> Event:
    request, stamp, status, addr, server, vhost, user, size, agent, rest = m.group(
        "request", "time", "status", "addr", "server", "vhost", "user", "bytes", "agent", "rest")
    method, path = readable_request(request)
    # The status is three digits or "-".
    ev = request_event("apigw.nginx", to_ms(stamp, ctx), method, path,
                       None if status == "-" else int(status))
    if not method:
        set_label(ev, "request_line", request)
    set_label(ev, "client_ip", addr)
    if server:
        host, _, port = server.partition(":")
        set_label(ev, "vhost", host)
        set_label(ev, "server_port", port)
    if vhost is not None:  # log formats that put "$host" before the request
        set_label(ev, "vhost", vhost)
    if user != "-":
        set_label(ev, "user", user)
    ev.payload_bytes = as_int(size)
    if agent is not None:
        set_label(ev, "user_agent", agent)
    aws = (_AWS_CLF_IDS.fullmatch(rest) if m["referer"] is None and not server
           and vhost is None and _AWS_CLF_TIME.fullmatch(stamp) else None)
    if aws and _aws_evidence(aws):
        ev.dataset = "apigw.aws"
        ev.add_id("aws.request", aws["request"])
        ev.add_id("aws.request", aws["extended"])
        return ev
    traefik = _TRAEFIK_TAIL.fullmatch(rest) if "ms" in rest else None
    if traefik:
        ev.dataset = "apigw.traefik"
        set_label(ev, "router", _first(traefik.groupdict(), "router"))
        set_label(ev, "upstream_addr", _first(traefik.groupdict(), "server"))
        ev.duration_ns = int(traefik["ms"]) * 1_000_000
        return ev
    values = _extensions(rest)
    ev.add_id("http.request", values.get("request_id"))
    ev.add_id("correlation", values.get("correlation"))
    traceparent(ev, values.get("traceparent"))
    ev.duration_ns = seconds_ns(values.get("request_time"))
    upstream = seconds_ns(values.get("upstream_time"))
    if upstream is not None:
        set_label(ev, "upstream_ms", upstream // 1_000_000)
    return ev


def _aws_evidence(ids: re.Match) -> bool:
    """Whether the IDs after an AWS-shaped CLF line are the gateway's own: a UTC NGINX or
    Apache common line ending in ``$http_x_correlation_id`` (a UUID) and maybe ``$request_id``
    (32 hex digits) has the same shape, and must keep its ``correlation:`` ID so that it joins
    the services' hops. Only a non-hex extended ID or the gateway's invalid-ID suffix tells."""
    extended = ids["extended"]
    return (ids["request"].endswith("_REPLACED_INVALID_REQUEST_ID")
            or (extended is not None and not _HEX32.fullmatch(extended)))


def _extensions(rest: str) -> dict[str, str]:
    """Whatever follows the combined fields, named by key or recognized by shape."""
    values: dict[str, str] = {}
    if "=" in rest or ": " in rest:
        for key, value in _PAIR.findall(rest):
            name = _PAIR_KEYS.get(key.lower())
            if name:
                values.setdefault(name, value.strip('"'))
        rest = _PAIR.sub("", rest)
    times = []
    for quoted, bare in _TOKEN.findall(_TIME_LIST.sub(",", rest) if ", " in rest or " : " in rest
                                       else rest):
        token = quoted or bare
        if token in ("", "-"):
            continue
        # The ID patterns have one length each: a token of another is not tried on them.
        size = len(token)
        if size == _TRACEPARENT_CHARS and TRACEPARENT.fullmatch(token):
            values.setdefault("traceparent", token)
        elif size == 32 and _HEX32.fullmatch(token):
            values.setdefault("request_id", token)
        elif size == 36 and UUID.fullmatch(token):
            values.setdefault("correlation", token)
        elif _SECONDS.fullmatch(token):
            times.append(token)
    if times:
        values.setdefault("request_time", times[0])
    if len(times) > 1:
        values.setdefault("upstream_time", times[1])
    return values


def _first(doc: dict, *keys: str) -> str | None:
    """The first of ``keys`` with a value; NGINX writes "-" (or nothing) for what is unset."""
    for key in keys:
        value = doc.get(key)
        if value is not None and value not in ("-", ""):
            return str(value)
    return None


def _nginx_json(doc: dict, ctx: ParseContext) -> Event:
    """A JSON access log line: the keys are chosen by the owner, so each field is looked
    up under the NGINX variable's name and the usual renamings seen in public configs."""
    stamp = _first(doc, "time_iso8601", "@timestamp", "time_local", "timestamp", "time")
    method, path = request_line(_first(doc, "request") or "")
    status = as_int(_first(doc, "status", "http_status"))
    ev = request_event("apigw.nginx", to_ms(stamp, ctx),
                       _first(doc, "request_method", "method") or method,
                       path or _first(doc, "request_uri", "uri") or "", status)
    set_label(ev, "client_ip", _first(doc, "remote_addr"))
    set_label(ev, "forwarded_for", _first(doc, "http_x_forwarded_for"))
    set_label(ev, "vhost", _first(doc, "host", "http_host", "server_name"))
    set_label(ev, "user", _first(doc, "remote_user"))
    set_label(ev, "user_agent", _first(doc, "http_user_agent"))
    set_label(ev, "upstream_addr", _first(doc, "upstream_addr", "upstreamhost"))
    ev.payload_bytes = as_int(_first(doc, "body_bytes_sent", "bytes_sent", "size"))
    ev.add_id("http.request", _first(doc, "request_id", "http_x_request_id"))
    ev.add_id("correlation", _first(doc, "http_x_correlation_id", "correlation_id"))
    traceparent(ev, _first(doc, "http_traceparent", "traceparent"))
    ev.duration_ns = seconds_ns(_first(doc, "request_time", "responsetime"))
    upstream = seconds_ns(_first(doc, "upstream_response_time", "upstreamtime"))
    if upstream is not None:
        set_label(ev, "upstream_ms", upstream // 1_000_000)
    return ev


def _loose(m: re.Match, ctx: ParseContext) -> Event:
    """A line that begins like ``combined`` and goes on in the owner's order: its time,
    client and request, and the rest kept for a ``log_format`` to read field by field."""
    method, path = readable_request(m["request"])
    values = _extensions(m["rest"])  # named pairs (status=, rt=, request_id=) and IDs by shape
    ev = request_event("apigw.nginx", to_ms(m["time"], ctx), method, path,
                       as_int(values.get("status")))
    set_label(ev, "client_ip", m["addr"])
    set_label(ev, "user", _first(m.groupdict(), "user"))
    set_label(ev, "log_fields", m["rest"].strip())
    ev.add_id("http.request", values.get("request_id"))
    ev.add_id("correlation", values.get("correlation"))
    traceparent(ev, values.get("traceparent"))
    ev.duration_ns = seconds_ns(values.get("request_time"))
    return ev


def _npm(m: re.Match, ctx: ParseContext) -> Event:
    g = m.groupdict()
    ev = request_event("apigw.nginx", to_ms(m["time"], ctx), m["method"], m["uri"],
                       as_int(m["status"]))
    set_label(ev, "client_ip", m["client"])
    set_label(ev, "vhost", m["host"])
    set_label(ev, "upstream_addr", _first(g, "upstream"))
    set_label(ev, "upstream_status", _first(g, "upstream_status"))
    set_label(ev, "cache_result", _first(g, "cache"))
    set_label(ev, "user_agent", _first(g, "agent"))
    ev.payload_bytes = as_int(m["bytes"])
    return ev


# --- NGINX stream -------------------------------------------------------------------------

def _stream(m: re.Match, ctx: ParseContext) -> Event:
    """A TCP/UDP session proxied by NGINX: its status (200, or 400/403/500/502/503 for a
    session that failed), bytes each way and length."""
    status = int(m["status"])
    ev = request_event("apigw.nginx", to_ms(m["time"], ctx), "", "", status)
    ev.message = f"{m['protocol']} session {status}"
    if ev.error_type:
        ev.error_type = f"{m['protocol']} session {status}"
    set_label(ev, "protocol", m["protocol"])
    set_label(ev, "client_ip", m["addr"])
    set_label(ev, "upstream_addr", _first(m.groupdict(), "upstream"))
    ev.payload_bytes = int(m["sent"])
    set_label(ev, "request_bytes", m["received"])
    ev.duration_ns = int(float(m["session"]) * 1e9)
    return ev


# --- IIS ----------------------------------------------------------------------------------

def _iis(m: re.Match, ctx: ParseContext) -> Event:
    g = m.groupdict()
    query = _first(g, "query")
    ev = request_event("apigw.iis", to_ms(f"{m['date']}T{m['time']}Z", ctx), m["method"],
                       f"{m['stem']}?{query}" if query else m["stem"], int(m["status"]))
    set_label(ev, "client_ip", m["client"])
    set_label(ev, "server_ip", m["server"])
    set_label(ev, "server_port", m["port"])
    set_label(ev, "user", _first(g, "user"))
    set_label(ev, "user_agent", (_first(g, "agent") or "").replace("+", " ") or None)
    if m["substatus"] != "0" or m["win32"] != "0":
        set_label(ev, "iis_substatus", f"{m['status']}.{m['substatus']} ({m['win32']})")
    ev.duration_ns = int(m["taken"]) * 1_000_000
    return ev


# --- Squid --------------------------------------------------------------------------------

def _squid(m: re.Match, ctx: ParseContext) -> Event:
    status = int(m["status"])  # 000: the client went away before a reply
    g = m.groupdict()
    ev = request_event("apigw.squid", to_ms(m["time"], ctx), _first(g, "method") or "",
                       url_path(m["url"]), status or None)
    set_label(ev, "client_ip", m["client"])
    set_label(ev, "cache_result", m["code"])
    set_label(ev, "vhost", _url_host(m["url"]))
    set_label(ev, "user", _first(g, "user"))
    set_label(ev, "upstream_addr", _first(g, "peer"))
    set_label(ev, "content_type", _first(g, "type"))
    elapsed = int(m["elapsed"])
    ev.duration_ns = elapsed * 1_000_000 if elapsed >= 0 else None
    ev.payload_bytes = int(m["bytes"])
    return ev


def _url_host(url: str) -> str | None:
    """The host of an absolute URL, or of CONNECT's ``host:port``."""
    rest = url.partition("://")[2] if "://" in url else url
    host = rest.split("/", 1)[0]
    return host if host and not url.startswith("/") else None


# --- Traefik ------------------------------------------------------------------------------

def _traefik(doc: dict, ctx: ParseContext) -> Event:
    ev = request_event("apigw.traefik", to_ms(_first(doc, "StartUTC", "time"), ctx),
                       _first(doc, "RequestMethod") or "", _first(doc, "RequestPath") or "",
                       as_int(doc.get("DownstreamStatus")))
    duration = as_int(doc.get("Duration"))
    ev.duration_ns = duration if duration is not None and duration >= 0 else None
    origin = as_int(doc.get("OriginDuration"))
    if origin is not None and origin >= 0:
        set_label(ev, "upstream_ms", origin // 1_000_000)
    set_label(ev, "upstream_status", doc.get("OriginStatus"))
    set_label(ev, "client_ip", _first(doc, "ClientHost"))
    set_label(ev, "vhost", _first(doc, "RequestHost"))
    set_label(ev, "router", _first(doc, "RouterName"))
    set_label(ev, "upstream_addr", _first(doc, "ServiceURL", "ServiceAddr"))
    set_label(ev, "retries", doc.get("RetryAttempts") or None)
    ev.service = _first(doc, "ServiceName")
    ev.payload_bytes = as_int(doc.get("DownstreamContentSize"))
    headers = {k[len("request_"):].lower(): v for k, v in doc.items()
               if k.startswith("request_")}
    ev.add_id("http.request", _first(headers, "x-request-id"))
    ev.add_id("correlation", _first(headers, "x-correlation-id"))
    traceparent(ev, _first(headers, "traceparent"))
    return ev


# --- Kong ---------------------------------------------------------------------------------

def _headers(doc: object) -> dict[str, str]:
    if not isinstance(doc, dict):
        return {}
    return {str(k).lower(): (v[0] if isinstance(v, list) and v else v) for k, v in doc.items()}


def _kong(doc: dict, ctx: ParseContext) -> Event:
    request = doc.get("request") if isinstance(doc.get("request"), dict) else {}
    response = doc.get("response") if isinstance(doc.get("response"), dict) else {}
    latencies = doc["latencies"]
    started = as_int(doc.get("started_at"))
    ts = (started, False) if started else to_ms(None, ctx)
    status = as_int(response.get("status"))
    ev = request_event("apigw.kong", ts, str(request.get("method") or ""),
                       str(request.get("uri") or ""), status)
    req_headers, resp_headers = _headers(request.get("headers")), _headers(response.get("headers"))
    ev.add_id("http.request", request.get("id") or req_headers.get("x-kong-request-id")
              or resp_headers.get("x-kong-request-id") or req_headers.get("x-request-id"))
    ev.add_id("correlation", req_headers.get("x-correlation-id")
              or req_headers.get("correlation-id"))
    # The Correlation ID plugin's header (default name Kong-Request-ID, ``<uuid>#<counter>``),
    # added to what goes upstream and maybe echoed: the ID the upstream's own logs carry.
    ev.add_id("correlation", req_headers.get("kong-request-id")
              or resp_headers.get("kong-request-id"))
    traceparent(ev, req_headers.get("traceparent"))
    total = as_int(latencies.get("request"))
    if total is not None:
        ev.duration_ns = total * 1_000_000
    set_label(ev, "upstream_ms", as_int(latencies.get("proxy")))
    set_label(ev, "gateway_ms", as_int(latencies.get("kong")))
    service = doc.get("service") if isinstance(doc.get("service"), dict) else {}
    route = doc.get("route") if isinstance(doc.get("route"), dict) else {}
    api = doc.get("api") if isinstance(doc.get("api"), dict) else {}  # Kong before 0.13
    ev.service = service.get("name") or api.get("name") or None
    set_label(ev, "route", route.get("name"))
    set_label(ev, "upstream_uri", doc.get("upstream_uri"))
    set_label(ev, "client_ip", doc.get("client_ip"))
    consumer = doc.get("consumer")
    if isinstance(consumer, dict):
        set_label(ev, "consumer", consumer.get("username") or consumer.get("id"))
    ev.payload_bytes = as_int(response.get("size"))  # bytes sent, as NGINX and AWS report
    set_label(ev, "request_bytes", as_int(request.get("size")))
    return ev


# --- AWS API Gateway ----------------------------------------------------------------------

def _aws(doc: dict, ctx: ParseContext) -> Event:
    doc = {k: v for k, v in doc.items() if v != "-"}  # AWS writes "-" for what does not apply
    epoch = as_int(doc.get("requestTimeEpoch"))
    ts = (epoch, False) if epoch else to_ms(doc.get("requestTime"), ctx)
    route = str(doc.get("routeKey") or "")
    method = str(doc.get("httpMethod") or doc.get("method") or "")
    route_method, _, route_path = route.partition(" ")
    if route_path:  # HTTP APIs: "GET /orders/{id}", "ANY /{proxy+}", even beside httpMethod
        method, route = method or route_method, route_path
    path = str(doc.get("resourcePath") or doc.get("path") or route)
    ev = request_event("apigw.aws", ts, method, path, as_int(doc.get("status")))
    ev.add_id("aws.request", doc.get("requestId"))
    ev.add_id("aws.request", doc.get("extendedRequestId"))
    xray = doc.get("xrayTraceId")
    if xray and xray != "-":
        ev.add_id("xray", xray)
    ev.add_id("correlation", doc.get("correlationId") or doc.get("xCorrelationId"))
    traceparent(ev, doc.get("traceparent"))
    latency = as_int(doc.get("responseLatency") or doc.get("responseLatencyMs"))
    if latency is not None:
        ev.duration_ns = latency * 1_000_000
    set_label(ev, "upstream_ms", as_int(doc.get("integrationLatency")))
    set_label(ev, "integration_status", doc.get("integrationStatus"))
    set_label(ev, "client_ip", doc.get("ip") or doc.get("sourceIp"))
    set_label(ev, "api_id", doc.get("apiId"))
    set_label(ev, "stage", doc.get("stage"))
    ev.payload_bytes = as_int(doc.get("responseLength"))
    # The integration's own error says more than the gateway's "Internal server error".
    for key in ("integrationErrorMessage", "errorMessage"):
        error = doc.get(key)
        if error and error != "-":
            ev.error_message = str(error)
            break
    if ev.outcome == "failure" and ev.error_message and "timed out" in ev.error_message.lower():
        ev.error_class = "timeout"
    return ev
