"""Generic JSON lines, for every source without a parser of its own.

Without a mapping the usual names are tried (``@timestamp``/``timestamp``/``time``/``ts``,
``level``/``severity``, ``message``/``msg``, ``action``, ``outcome``/``status``/``result``,
``correlationId``/``traceId``/``orderId``...).
With ``--mapping FILE`` (YAML) a team says where its fields are::

    timestamp: event_time            # dotted paths reach into nested objects
    timestamp_format: "%d.%m.%Y %H:%M:%S"   # strftime layout, or epoch_s / epoch_ms / iso8601
    level: severity
    message: text
    service: app.name
    flow: integration
    stage: step
    partner: partner.id
    outcome: result                  # success/ok/true -> success, failure/error/false -> failure
    action: what
    duration_ms: took_ms
    ids:                             # typed ID -> path
      order: body.orderId
      correlation: headers.x-correlation-id
    labels:
      region: meta.region

``load_mapping`` flattens it into ``ParseContext.mapping`` (``ids.order``, ``labels.region``)
and reports unknown keys with file, line and a suggestion.
"""

from __future__ import annotations

import re
from datetime import datetime

import orjson

from collector.event import Event, Record
from collector.normalize import TRUNCATED, normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import as_int, id_kind, java_tail, lookup, set_label
from collector.timeparse import to_ms
from collector.yamlconf import did_you_mean, load

NAME = "json"
START = None

SCALAR_KEYS = ("timestamp", "timestamp_format", "level", "message", "service", "host", "flow",
               "stage", "partner", "outcome", "action", "duration_ms", "trace_id", "span_id",
               "error_type", "error_message", "platform")
GROUP_KEYS = ("ids", "labels")
_TIME_FORMATS = ("iso8601", "epoch_s", "epoch_ms")

# Java layouts name things their own way: Log4j 2's JsonLayout writes the time as ``instant``
# (epochSecond + nanoOfSecond) or ``timeMillis``, the MDC under ``contextMap`` and the exception
# as ``thrown``; logback-contrib's JsonLayout the MDC under ``mdc``; GELF (Spring Boot's
# ``gelf`` structured format, Log4j 2's GelfLayout) the text as ``short_message`` and each MDC
# entry as ``_<key>``. Without these their lines got the time they were read at and no IDs.
_MDC_OBJECTS = ("contextMap", "mdc")
_DEFAULTS = {
    "timestamp": ("@timestamp", "timestamp", "time", "ts", "date", "datetime", "eventTime",
                  "event_time", "created_at", "instant", "timeMillis"),
    "level": ("level", "log.level", "severity", "levelname", "loglevel", "log_level", "priority"),
    "message": ("message", "msg", "text", "log", "event", "short_message"),
    "service": ("service.name", "service", "app", "application", "applicationName", "logger_name"),
    "host": ("host.name", "host", "hostname"),
    "trace_id": ("trace.id", "traceId", "trace_id", "_traceId", "_trace_id",
                 *(f"{mdc}.traceId" for mdc in _MDC_OBJECTS)),
    "span_id": ("span.id", "spanId", "span_id", "_spanId", "_span_id",
                *(f"{mdc}.spanId" for mdc in _MDC_OBJECTS)),
    "error_type": ("error.type", "exception.type", "error_type", "thrown.name"),
    "error_message": ("error.message", "exception.message", "error_message", "thrown.message"),
    # What happened and how it ended, as services log it at the top level (ECS nests them
    # under event.*): without these a catalog's `action:`/`outcome:` never matched JSON logs.
    "action": ("action", "event.action"),
    "outcome": ("outcome", "event.outcome", "status", "result"),
}
# Where the Java layouts put the logger (Log4j 2's JsonLayout; GELF from logstash-gelf, Spring
# Boot and Log4j 2's GelfLayout; logback-contrib): the ``logger`` label, as the text parsers
# give it.
_LOGGER_KEYS = ("loggerName", "_log_logger", "_logger_name", "logger")
# GELF's long message, which holds the stack trace of an error.
_FULL_MESSAGE = "full_message"
_JAVA_KEYS = frozenset((*_LOGGER_KEYS, _FULL_MESSAGE, "thrown"))
# Causes of a Log4j 2 ``thrown`` rendered at most (each a nested ``cause``).
MAX_CAUSES = 8
_DEFAULT_ID_FIELDS = ("correlationId", "correlation_id", "x-correlation-id", "X-Correlation-ID",
                      "x-request-id", "X-Request-ID",
                      "requestId", "request_id", "orderId", "order_id", "invoiceId",
                      "messageId", "message_id")
# Typed-ID kind per default field name, for one pass over a document's keys; GELF's ``_``
# before an MDC key names the same ID.
_DEFAULT_ID_KINDS = {key: id_kind(name) for name in _DEFAULT_ID_FIELDS if id_kind(name)
                     for key in (name, f"_{name}")}
_OUTCOMES = {"success": "success", "ok": "success", "true": "success", "succeeded": "success",
             "completed": "success", "failure": "failure", "failed": "failure", "error": "failure",
             "false": "failure", "ko": "failure"}
_STRFTIME = re.compile(r"%[A-Za-z]")
# Schema keys copied to the Event slot of the same name as text.
_TEXT_SLOTS = frozenset({"service", "host", "flow", "stage", "partner", "trace_id", "span_id",
                         "error_type", "error_message"})


# The first characters of a line ``detect`` may claim (JSON, blanks before it; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '{ '


def detect(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("{") and stripped.endswith("}")


def claims_taken(line: str) -> bool:
    """Whether ``detect`` claims a line the native reader made an event of: always, as
    native/src/json.rs takes only a line that is one object between JSON blanks (which
    ``strip`` removes). Auto-detection then asks only the parsers ranked before this one."""
    return True


# Default names inverted once: source key -> (schema key, rank); lower rank wins. Dotted
# defaults are reached through their first part (``service`` -> ``service.name``).
_ALIASES: dict[str, tuple[str, int]] = {}
_NESTED: dict[str, dict[str, tuple[str, int]]] = {}
for _schema, _paths in _DEFAULTS.items():
    for _rank, _path in enumerate(_paths):
        _ALIASES.setdefault(_path, (_schema, _rank))
        if "." in _path:
            _head, _tail = _path.split(".", 1)
            _NESTED.setdefault(_head, {}).setdefault(_tail, (_schema, _rank))


_UNRANKED = (99, None)


def _defaults(doc: dict) -> dict[str, object]:
    """Schema key -> value by the default names, in one pass over the document's keys."""
    best: dict[str, tuple[int, object]] = {}
    ranked = best.get
    for key, value in doc.items():
        if key in _NESTED and isinstance(value, dict):
            for tail, (schema, rank) in _NESTED[key].items():
                sub = value.get(tail)
                if sub is not None and sub != "" and rank < ranked(schema, _UNRANKED)[0]:
                    best[schema] = (rank, sub)
        hit = _ALIASES.get(key)
        if hit is not None and value is not None and value != "":
            schema, rank = hit
            if rank < ranked(schema, _UNRANKED)[0]:
                best[schema] = (rank, value)
    return {schema: value for schema, (_, value) in best.items()}


def _fields(doc: dict, mapping: dict[str, str]) -> dict[str, object]:
    found = _defaults(doc)
    for key, path in mapping.items():
        if key in SCALAR_KEYS:
            found[key] = lookup(doc, path)
    return found


def _timestamp(raw: object, ctx: ParseContext) -> tuple[int, bool]:
    layout = ctx.mapping.get("timestamp_format")
    if raw is None:
        return to_ms(None, ctx)
    if isinstance(raw, dict):  # Log4j 2's instant: {"epochSecond": s, "nanoOfSecond": ns}
        seconds, nanos = as_int(raw.get("epochSecond")), as_int(raw.get("nanoOfSecond")) or 0
        if seconds is None:
            return to_ms(None, ctx)
        return seconds * 1000 + nanos // 1_000_000, False
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
        if layout == "epoch_s" or (layout is None and value < 100_000_000_000):
            return int(value * 1000), False
        return int(value), False
    text = str(raw)
    if layout and _STRFTIME.search(layout):
        try:
            dt = datetime.strptime(text, layout)
        except ValueError:
            return to_ms(None, ctx)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ctx.tz)
        return int(dt.timestamp() * 1000), False
    return to_ms(text, ctx)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    try:
        doc = orjson.loads(record.text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not a JSON object: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object per line, got {type(doc).__name__}")
    ev = read(doc, ctx)
    _transport(ev, record)
    return [ev]


def read(doc: dict, ctx: ParseContext) -> Event:
    """The event of one JSON object by the default names (or the input's mapping): also
    the start of ``mule_json``'s Mule runtime lines in Log4j 2's JSON layouts."""
    mapping = ctx.mapping
    pairs = doc.get("contextMap")
    if isinstance(pairs, list):  # Log4j 2 before 2.8: [{"key": k, "value": v}, ...]
        doc = {**doc, "contextMap": {pair["key"]: pair.get("value") for pair in pairs
                                     if isinstance(pair, dict) and isinstance(pair.get("key"), str)}}
    found = _fields(doc, mapping)
    get = found.get
    ts, estimated = _timestamp(get("timestamp"), ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="generic.json",
               platform=str(mapping.get("platform") or "generic"))
    ev.level = normalize_level(get("level"))
    ev.message = _text(get("message")) or ""
    for key, value in found.items():  # what was found, not every name that might be
        if key in _TEXT_SLOTS and value is not None and not isinstance(value, dict | list):
            setattr(ev, key, value if type(value) is str else str(value))
    if ev.trace_id:
        ev.add_id("otel.trace", ev.trace_id)
    outcome = get("outcome")
    if outcome is not None:
        ev.outcome = _OUTCOMES.get(str(outcome).strip().lower(), "unknown")
    action = get("action")
    if action is not None:
        ev.action = str(action)
    duration = as_int(get("duration_ms"))
    if duration is not None:
        ev.duration_ns = duration * 1_000_000
    _ids(ev, doc, mapping)
    if not _JAVA_KEYS.isdisjoint(doc):  # one C-level pass: most documents have none
        _java(ev, doc)
    return ev


# What a line the native reader (native/src/json.rs) takes shows when this module reads more of
# it than that reader: a logger key, or GELF's long message (nested ``thrown`` and a list
# ``contextMap`` it declines anyway).
_NATIVE_LACKS = re.compile("|".join(f'"{key}"' for key in (*_LOGGER_KEYS, _FULL_MESSAGE)))


def native_differs(ev: Event) -> bool:
    """Whether the native reader's event lacks what ``_java`` reads (a logger, a stack trace),
    judged from its original line; a line cut to ``MAX_ORIGINAL`` may hide it, so is declined
    too. ``collector.native`` then leaves that line to this module."""
    original = ev.original or ""
    # Each of those keys holds "ogger" or "full_": two scans of a line that has neither.
    return (("ogger" in original or "full_" in original)
            and _NATIVE_LACKS.search(original) is not None) or original.endswith(TRUNCATED)


def _java(ev: Event, doc: dict) -> None:
    """What the Java layouts write beside the message: the logger, and the stack trace
    (Log4j 2's ``thrown``, GELF's ``full_message``, whose exception line gives the error type
    and message when the document names none)."""
    for key in _LOGGER_KEYS:
        logger = doc.get(key)
        if isinstance(logger, str) and logger:
            set_label(ev, "logger", logger)
            break
    thrown = doc.get("thrown")
    if isinstance(thrown, dict):
        ev.error_stack_trace = _thrown(thrown) or None
    full = doc.get(_FULL_MESSAGE)
    if isinstance(full, str) and full.strip() and not ev.error_stack_trace:
        named = ev.error_type, ev.error_message
        message = ev.message
        rest = full[len(message):] if message and full.startswith(message) else full
        java_tail(ev, message, rest.strip("\n"))
        if named[0]:
            ev.error_type, ev.error_message = named


def _thrown(thrown: dict) -> str:
    """Log4j 2's ``thrown`` as Java prints a stack trace: ``name: message``, its frames
    (``extendedStackTrace`` as a list of frames, or already as text), then each cause."""
    parts: list[str] = []
    for depth in range(MAX_CAUSES):
        trace = thrown.get("extendedStackTrace")
        if isinstance(trace, str):
            parts.append(trace.rstrip())
        else:
            name, message = thrown.get("name"), thrown.get("message")
            head = f"{name}: {message}" if message else str(name or "")
            if depth:
                head = f"Caused by: {head}"
            parts.append(head)
            if isinstance(trace, list):
                parts.extend(_frame(frame) for frame in trace if isinstance(frame, dict))
        thrown = thrown.get("cause")
        if not isinstance(thrown, dict):
            break
    return "\n".join(part for part in parts if part)


def _frame(frame: dict) -> str:
    where = frame.get("file")
    line = as_int(frame.get("line"))
    if where and line is not None and line >= 0:
        where = f"{where}:{line}"
    elif line == -2:
        where = "Native Method"
    return f"\tat {frame.get('class')}.{frame.get('method')}({where or 'Unknown Source'})"


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def _transport(ev: Event, record: Record) -> None:
    """IDs that ride beside the body: Kafka key and headers (correlation, W3C traceparent)."""
    if record.key:
        ev.add_id("kafka.key", record.key)
    for name, value in record.headers.items():
        if name.lower() == "traceparent":
            m = _TRACEPARENT.match(value.strip())
            if m and not ev.trace_id:
                ev.trace_id, ev.span_id = m.group(1), m.group(2)
                ev.add_id("otel.trace", ev.trace_id)
        elif id_kind(name):
            ev.add_id(id_kind(name), value)


def _ids(ev: Event, doc: dict, mapping: dict[str, str]) -> None:
    mapped = False
    for key, path in mapping.items():
        if key.startswith("ids."):
            mapped = True
            value = lookup(doc, path)
            if value is not None and not isinstance(value, dict | list | bool):
                ev.add_id(key[4:], value)
        elif key.startswith("labels."):
            set_label(ev, key[7:], lookup(doc, path))
    if mapped:
        return
    _default_ids(ev, doc)
    for name in _MDC_OBJECTS:
        mdc = doc.get(name)
        if isinstance(mdc, dict):
            _default_ids(ev, mdc)


def _default_ids(ev: Event, fields: dict) -> None:
    for key, value in fields.items():
        kind = _DEFAULT_ID_KINDS.get(key)
        if kind and value is not None and not isinstance(value, dict | list | bool):
            ev.add_id(kind, value)


def load_mapping(path: str) -> dict[str, str]:
    """Read a ``--mapping`` YAML file into the flat form ParseContext carries.

    Raises ``ConfigError`` naming file, line and key for anything it cannot use.
    """
    doc = load(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "expected a mapping of schema field -> source field path")
    flat: dict[str, str] = {}
    for key, value in doc.data.items():
        if key in GROUP_KEYS:
            if not isinstance(value, dict):
                raise doc.error((key,), f"expected '{key}:' to map names to field paths")
            for name, sub in value.items():
                if not isinstance(sub, str) or not sub:
                    raise doc.error((key, name), "expected a field path (text)")
                flat[f"{key}.{name}"] = sub
        elif key in SCALAR_KEYS:
            if not isinstance(value, str) or not value:
                raise doc.error((key,), "expected a field path (text)")
            flat[key] = value
        else:
            raise doc.error((key,), "unknown mapping key",
                            hint=did_you_mean(key, SCALAR_KEYS + GROUP_KEYS)
                            or f"known keys: {', '.join(SCALAR_KEYS + GROUP_KEYS)}")
    layout = flat.get("timestamp_format")
    if layout and layout not in _TIME_FORMATS and not _STRFTIME.search(layout):
        raise doc.error(("timestamp_format",),
                        f"expected {', '.join(_TIME_FORMATS)} or a strftime layout like "
                        f"'%d.%m.%Y %H:%M:%S', got {layout!r}")
    return flat

