"""RabbitMQ: node logs (3.x and 4.x layouts) and message traces (firehose, rabbitmq_tracing).

Log layouts read:

- ``2024-03-01 10:15:32.123456+00:00 [info] <0.1234.0> message`` (3.9 and later, 4.x);
  the further lines of a multi-line message repeat that prefix (``continues``) or are
  indented, and belong to the record;
- ``2024-03-01 10:15:32.123 [info] <0.1234.0> message`` (3.7/3.8, no zone);
- ``=INFO REPORT==== 1-Mar-2024::10:15:32 ===`` blocks (before 3.7), message on the lines after;
- the JSON formatter of 3.9 and later (``log.file.formatter = json``), one object per line:
  ``{"time":"2024-03-01 10:15:32.123456+00:00","level":"info","msg":"...","pid":"<0.9.0>",
  "domain":"rabbitmq.connection"}``, ``time`` possibly in epoch microseconds
  (``time_format = epoch_usecs``).

On the console the startup banner (no timestamps) follows a record and becomes an event of its
own; it ends in ``Starting broker...`` without a line break, so the first record after it
(JSON or plain text) is read from the end of that line rather than lost with the banner.

Broker trouble is classified so it sits beside the flows it hurts: authentication failures
(auth), memory and disk alarms (resource), TLS errors (certificate), missed heartbeats
(timeout), unexpectedly closed connections and refused peers (connectivity), channel errors
such as ``PRECONDITION_FAILED``/``NOT_FOUND`` (validation). ``labels.rabbitmq_condition``
names what was recognized.

Message traces, one JSON object per line: the ``rabbitmq_tracing`` plugin's JSON format
(``type`` published/received, ``exchange``, ``routing_keys``, ``routed_queues``,
``properties``) and firehose messages dumped as ``{"routing_key": "publish.<exchange>" |
"deliver.<queue>", "headers": {exchange_name, routing_keys, properties, node}}``. The AMQP
``message_id`` becomes ``amqp.msg:``, ``correlation_id`` ``correlation:``, and application
headers are business fields (``x-correlation-id``, ``order-id``...).
"""

from __future__ import annotations

import re

import orjson

from collector import datasets
from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import business_field, set_label
from collector.timeparse import MONTHS, civil_to_ms, parse_ms, to_ms

NAME = "rabbitmq"
LOG_DATASET = datasets.RABBITMQ_LOG
TRACE_DATASET = "rabbitmq.trace"

_NEW = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[ T](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"\.(?P<frac>\d+)(?P<zone>Z|[+-]\d{2}:\d{2})? \[(?P<level>[a-z]+)\] (?P<pid><[\d.]+>)? ?"
    r"(?P<msg>.*)$")
_OLD = re.compile(r"=(?P<level>[A-Z]+) REPORT==== (?P<d>\d{1,2})-(?P<mon>[A-Za-z]{3})-(?P<y>\d{4})"
                  r"::(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.\d+)? ===\s*$")
START = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d+\S* \[[a-z]+\] |=[A-Z]+ REPORT==== |\{")
# The prefix 3.9 and later repeat on every line of a multi-line message: time to the
# microsecond, level and the logging process.
_REPEATED = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d{6}\S* \[[a-z]+\] <[\d.]+> ")


def continues(lines: list[str], line: str) -> bool:
    """A line with the very prefix of the record's first line is the next line of the same
    message (``closing AMQP connection ...:`` then its reason; crash reports): one event,
    not one per line. Two messages of one process within a microsecond are not told apart."""
    prefix = _REPEATED.match(line)
    return prefix is not None and lines[0].startswith(prefix.group())


# A line that starts with a date and time, as log lines of most programs do.
_STAMPED = re.compile(r"\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


def breaks(lines: list[str], line: str) -> bool:
    """A JSON record (a trace message, a JSON formatter line) goes on only with what the
    broker prints to the console untimestamped; a timestamped line that is no RabbitMQ
    record head is another program's (a sidecar, an application in the same stream): it was
    glued onto the record before it, its event lost. ``collector.parse.Framer`` then starts
    a record with it (under ``auto``: detects its format anew)."""
    return lines[0][:1] == "{" and _STAMPED.match(line) is not None


_OLD_LEVELS = {"INFO": "info", "WARNING": "warn", "ERROR": "error", "CRASH": "error",
               "SUPERVISOR": "error", "PROGRESS": "debug"}
_CONNECTION = re.compile(r"\((\d[\d.:a-f\[\]]*:\d+ -> [\d.:a-f\[\]]*:\d+)")
_QUOTED = {name: re.compile(rf"{name}:? '([^']*)'") for name in ("vhost", "user", "queue",
                                                                  "exchange")}
_NODE = re.compile(r"(?<![/\\])\b(rabbit@[\w.-]+)")  # not a log file's path (rabbit@h.log)
# The startup banner RabbitMQ prints to the console, glued to the record before it because its
# lines carry no timestamp ("  ##  ##      RabbitMQ 3.9.13 ... TLS Library: OpenSSL ...").
_BANNER = re.compile(r"^ *##  ##", re.MULTILINE)
_STARTING = re.compile(r"^ *Starting broker\.\.\.", re.MULTILINE)
_VERSION = re.compile(r"RabbitMQ (\d+\.\d+[\w.+-]*)")

# (pattern, condition, error class or None, minimum level); the first match wins.
_CONDITIONS: tuple[tuple[re.Pattern, str, str | None, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), cond, cls, lvl) for p, cond, cls, lvl in (
        (r"access_refused|login refused|invalid credentials|authentication failed|"
         r"HTTP access denied|not allowed to access vhost|login failed", "auth_failed", "auth",
         "warn"),
        (r"(?:memory|disk) resource limit alarm set|(?:Free disk|disk free) space (?:is )?insufficient|"
         r"vm_memory_high_watermark set", "resource_alarm", "resource", "error"),
        (r"resource limit alarm cleared", "resource_alarm_cleared", None, "info"),
        (r"\bTLS\b|\bSSL\b|certificate|handshake_failure|unknown ca", "tls_error", "certificate",
         "warn"),
        (r"missed heartbeats", "missed_heartbeats", "timeout", "warn"),
        (r"client unexpectedly closed TCP connection|connection_closed_abruptly|"
         r"econnrefused|connection refused|node .* down|nodedown|partial partition|"
         r"Network partition", "connection_lost", "connectivity", "warn"),
        (r"PRECONDITION_FAILED|NOT_FOUND|inequivalent arg|channel exception|Channel error",
         "channel_error", "validation", "warn"),
        (r"accepting AMQP connection", "connection_accepted", None, "info"),
        (r"closing AMQP connection", "connection_closed", None, "info"),
        (r"Server startup complete|Starting RabbitMQ", "node_started", None, "info"),
        (r"stopping|RabbitMQ is asked to stop", "node_stopping", None, "info"),
    )
)
_ORDER = ("debug", "info", "warn", "error", "fatal")


# The first characters of a line ``detect`` may claim (JSON, ``=REPORT====`` or a date; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '{=0'
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
DETECT_NEEDS = {"{": ('"routed_queues"', '"exchange_name"', '"routing_keys"', '"pid":"<')}


def detect(line: str) -> bool:
    if line[:1] == "{":
        # The keys of a message trace within the first 600 characters (searched in place,
        # not in a copy of them). A JSON log record: the Erlang pid is what no other JSON log
        # has; searched in the whole line because ``msg`` comes first and may be kilobytes of
        # supervisor report.
        find = line.find
        return find('"routed_queues"', 0, 600) >= 0 or find('"exchange_name"', 0, 600) >= 0 or (
            find('"routing_keys"', 0, 600) >= 0 and find('"properties"', 0, 600) >= 0) or (
            '"pid":"<' in line and '"msg"' in line)
    return START.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    own, banner = _split_banner(record.text)
    if banner is None:
        return [_record(own, ctx)]
    before = [_record(own, ctx)] if own.strip() else []
    banner, glued = _glued(banner)
    after = [_record(glued, ctx)] if glued else []
    near = before[0] if before else after[0] if after else None
    return [*before, _banner_event(banner, near, ctx), *after]


def _record(text: str, ctx: ParseContext) -> Event:
    """One log record (a plain-text line and its continuation lines, or a JSON record)."""
    if text.lstrip().startswith("{"):
        return _json_record(text, ctx)
    head, _, rest = text.partition("\n")
    m = _NEW.match(head)
    if m:
        ts = civil_to_ms(int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"]), int(m["mi"]),
                         int(m["s"]), int((m["frac"] + "00")[:3]), m["zone"], ctx.tz)
        level, body = normalize_level(m["level"]), m["msg"]
        prefix = _REPEATED.match(head) if rest else None
        if prefix is not None:  # the message's own lines, each behind its prefix
            rest = "\n".join(ln.removeprefix(prefix.group()) for ln in rest.split("\n"))
        if rest:
            body = f"{body}\n{rest}" if body else rest
        ev = _log_event(ts, level, body.strip(), ctx)
        set_label(ev, "erlang_pid", m["pid"])
        return ev
    m = _OLD.match(head.strip())
    if m:
        month = MONTHS.get(m["mon"].lower())
        ts = civil_to_ms(int(m["y"]), month, int(m["d"]), int(m["h"]), int(m["mi"]),
                         int(m["s"]), 0, None, ctx.tz) if month else None
        return _log_event(ts, _OLD_LEVELS.get(m["level"], "info"), rest.strip(), ctx)
    raise ParseError("not a RabbitMQ log line (expected 'yyyy-MM-dd HH:mm:ss.ffffff+00:00 "
                     "[level] <pid> message' or '=INFO REPORT==== d-Mon-yyyy::HH:mm:ss ===')")


def _json_record(text: str, ctx: ParseContext) -> Event:
    """A JSON record: one object per line from the JSON formatter, perhaps followed by what the
    broker prints to the console without a timestamp (" completed with 3 plugins." after
    "Server startup complete"), which joins its message as it would a plain-text record's. A
    trace message pretty-printed over several lines is read whole."""
    head, _, tail = text.strip().partition("\n")
    if not tail.strip() or not head.rstrip().endswith("}"):
        return _trace(text, ctx)
    ev = _trace(head, ctx)
    ev.message = f"{ev.message}\n{tail.strip()}"
    return ev


def _split_banner(text: str) -> tuple[str, str | None]:
    """(the record before the startup banner, the banner and what follows it, or None)."""
    found = _BANNER.search(text)
    if found is None:
        return text, None
    start = text.rfind("\n\n", 0, found.start())
    start = found.start() if start < 0 else start
    return text[:start], text[start:].strip("\n")


def _glued(banner: str) -> tuple[str, str]:
    """(the banner, the record written onto its last line). The banner ends with
    ``Starting broker...`` and no line break (``io:format`` in rabbit.erl), so the first log
    record after it, JSON or plain text, continues that line (rabbitmq-server issue 17563)."""
    found = _STARTING.search(banner)
    if found is None or START.match(banner, found.end()) is None:
        return banner, ""
    return banner[:found.end()], banner[found.end():]


def _banner_event(banner: str, near: Event | None, ctx: ParseContext) -> Event:
    """The banner as an event of its own: it says which version started, and its text (``TLS
    Library``, log file paths) must not be read as the trouble of the record before it. It
    carries no time: that of the record before it, or else after it, stands in."""
    stamp = (near.timestamp_ms, near.timestamp_estimated) if near else to_ms(None, ctx)
    ev = Event(timestamp_ms=stamp[0], timestamp_estimated=stamp[1],
               dataset=LOG_DATASET, platform="rabbitmq", level="info", message=banner,
               service="rabbitmq", action="logged")
    version = _VERSION.search(banner)
    if version:
        set_label(ev, "rabbitmq_version", version.group(1))
        ev.action = "started"
    return ev


def _log_event(ts: int | None, level: str, body: str, ctx: ParseContext) -> Event:
    stamp = (ts, False) if ts is not None else to_ms(None, ctx)
    first, _, more = body.partition("\n")
    ev = Event(timestamp_ms=stamp[0], timestamp_estimated=stamp[1], dataset=LOG_DATASET,
               platform="rabbitmq", level=level, message=body, service="rabbitmq",
               action="logged")
    connection = _CONNECTION.search(body)
    if connection:
        set_label(ev, "connection", connection.group(1))
    for name, rx in _QUOTED.items():
        found = rx.search(body)
        if found:
            set_label(ev, name, found.group(1))
    node = _NODE.search(body)
    if node:
        ev.host = node.group(1).split("@", 1)[1].rstrip(".")
    for rx, condition, error_class, minimum in _CONDITIONS:
        if rx.search(body):
            set_label(ev, "rabbitmq_condition", condition)
            if _ORDER.index(minimum) > _ORDER.index(ev.level):
                ev.level = minimum
            if error_class:
                ev.error_class = error_class
                ev.error_message = (more.strip() or first)[:2048]
            break
    if ev.level in ("error", "fatal"):
        ev.outcome, ev.action = "failure", None
    return ev


# --- message traces -----------------------------------------------------------------------

def _trace(text: str, ctx: ParseContext) -> Event:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError("a RabbitMQ trace message must be a JSON object")
    if "msg" in doc and "level" in doc:
        return _json_log(doc, ctx)
    if "routing_key" in doc and isinstance(doc.get("headers"), dict):
        return _firehose(doc, ctx)
    if "type" in doc and ("exchange" in doc or "routed_queues" in doc):
        return _tracing_plugin(doc, ctx)
    raise ParseError("JSON is neither a rabbitmq_tracing entry (type, exchange, routed_queues) "
                     "nor a firehose message (routing_key, headers)", field="type")


def _json_log(doc: dict, ctx: ParseContext) -> Event:
    """A record of the JSON log formatter: the same event as its plain-text line."""
    ts = parse_ms(str(doc["time"]), ctx.tz, ctx.now_ms) if doc.get("time") is not None else None
    ev = _log_event(ts, normalize_level(doc["level"]), str(doc["msg"]).strip(), ctx)
    set_label(ev, "erlang_pid", doc.get("pid"))
    set_label(ev, "rabbitmq_domain", doc.get("domain"))
    return ev


def _tracing_time(value: object, ctx: ParseContext) -> int | None:
    """The plugin writes ``2024-03-01 10:15:32:123`` (a colon before the milliseconds)."""
    if value is None:
        return None
    text = re.sub(r"(\d{2}:\d{2}:\d{2}):(\d{3})$", r"\1.\2", str(value))
    return parse_ms(text, ctx.tz, ctx.now_ms)


def _message_event(action: str, exchange: str, routing_keys: object, properties: object,
                   node: object, ts: int | None, ctx: ParseContext) -> Event:
    props = properties if isinstance(properties, dict) else {}
    if ts is None and props.get("timestamp") is not None:
        ts = parse_ms(str(props["timestamp"]), ctx.tz, ctx.now_ms)
    stamp = (ts, False) if ts is not None else to_ms(None, ctx)
    keys = [str(k) for k in routing_keys] if isinstance(routing_keys, list) else []
    ev = Event(timestamp_ms=stamp[0], timestamp_estimated=stamp[1], dataset=TRACE_DATASET,
               platform="rabbitmq", action=action, outcome="success",
               message=f"{action} via exchange '{exchange}' routing key "
                       f"'{','.join(keys) or '-'}'")
    ev.add_id("amqp.msg", props.get("message_id"))
    ev.add_id("correlation", props.get("correlation_id"))
    ev.service = props.get("app_id") or None
    set_label(ev, "exchange", exchange)
    set_label(ev, "routing_keys", ",".join(keys))
    set_label(ev, "content_type", props.get("content_type"))
    set_label(ev, "reply_to", props.get("reply_to"))
    if isinstance(node, str) and "@" in node:
        ev.host = node.split("@", 1)[1]
    headers = props.get("headers")
    if isinstance(headers, dict):
        for key, value in headers.items():
            business_field(ev, str(key), value)
    return ev


def _firehose(doc: dict, ctx: ParseContext) -> Event:
    kind, _, target = str(doc["routing_key"]).partition(".")
    headers = doc["headers"]
    action = "published" if kind == "publish" else "delivered"
    ev = _message_event(action, str(headers.get("exchange_name", target if kind == "publish"
                                                else "")),
                        headers.get("routing_keys"), headers.get("properties"),
                        headers.get("node"), None, ctx)
    if kind == "deliver":
        set_label(ev, "queue", target)
    set_label(ev, "vhost", headers.get("vhost"))
    set_label(ev, "user", headers.get("user"))
    return ev


def _tracing_plugin(doc: dict, ctx: ParseContext) -> Event:
    action = "published" if doc.get("type") == "published" else "delivered"
    ev = _message_event(action, str(doc.get("exchange") or ""), doc.get("routing_keys"),
                        doc.get("properties"), doc.get("node"),
                        _tracing_time(doc.get("timestamp"), ctx), ctx)
    queue = doc.get("queue")
    if queue and queue != "none":
        set_label(ev, "queue", queue)
    routed = doc.get("routed_queues")
    if isinstance(routed, list):
        set_label(ev, "routed_queues", ",".join(map(str, routed)))
        if action == "published" and not routed:
            ev.outcome, ev.level = "failure", "warn"
            ev.error_class = "validation"
            ev.error_message = "unroutable: the message reached no queue"
    set_label(ev, "vhost", doc.get("vhost"))
    set_label(ev, "user", doc.get("user") or doc.get("username"))
    set_label(ev, "connection", doc.get("connection"))
    return ev
