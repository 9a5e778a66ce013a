"""OTLP JSON (traces and logs) as the OpenTelemetry Collector's file exporter writes it.

One ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` per line; every span and log
record becomes an event. ``events_from_export`` is the shared entry point: the OTLP/HTTP
receiver hands it the same dict decoded from protobuf, so both paths must accept what
``google.protobuf.json_format.MessageToDict`` produces as well as the OTLP/JSON encoding:
IDs as hex (OTLP/JSON) or base64 (protobuf ``bytes``), enums as numbers or names
(``2`` / ``STATUS_CODE_ERROR``), 64-bit integers as strings, camelCase or snake_case keys.

Event IDs are set here from the trace and span IDs (logs add their time and a body hash),
not from the record position, so a span replayed from a file and the same span received over
OTLP/HTTP overwrite each other instead of counting twice.

Mapped attributes: ``messaging.message.id`` -> ``msg:``, ``messaging.kafka.message.key`` /
``messaging.kafka.message_key`` -> ``kafka.key:``, correlation headers
(``http.request.header.x-correlation-id``, ``messaging.header.correlation_id``...) ->
``correlation:``, ``midwatch.flow|stage|partner`` -> the midwatch fields, and business names
(``order.id``, ``invoice.number``...) through ``fields.id_kind``. Everything else is a label.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator

import orjson

from collector.event import Event, Record, event_id
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import id_kind, set_label
from collector.timeparse import TIME_RAW_LABEL, in_range, time_text

NAME = "otlp-json"
SPAN_DATASET = "otel.span"
LOG_DATASET = "otel.log"
# A record is one line; indented lines of a pretty-printed export continue it.
START = re.compile(r"[{\[]")

_SPAN_ACTIONS = {1: None, 2: "received", 3: "sent", 4: "published", 5: "consumed"}
_KIND_NAMES = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
               "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_ID_ATTRIBUTES = {
    "messaging.message.id": "msg",
    "messaging.message_id": "msg",
    "messaging.kafka.message.key": "kafka.key",
    "messaging.kafka.message_key": "kafka.key",
    "messaging.rabbitmq.message.correlation_id": "correlation",
    "messaging.message.conversation_id": "correlation",
    "http.request.header.x-correlation-id": "correlation",
    "http.request.header.x_correlation_id": "correlation",
    "messaging.header.correlation_id": "correlation",
    "http.request.header.x-request-id": "http.request",
    "midwatch.message_id": "message",
}
_FIELD_ATTRIBUTES = {"midwatch.flow": "flow", "midwatch.stage": "stage",
                     "midwatch.partner": "partner", "service.name": "service",
                     "host.name": "host"}
_TOP_KEYS = ("resourceSpans", "resource_spans", "resourceLogs", "resource_logs",
             "resourceMetrics", "resource_metrics")
_LEVELS = ((4, "debug"), (8, "debug"), (12, "info"), (16, "warn"), (20, "error"), (24, "fatal"))


# An export on one line, or the second line of a pretty-printed one (the official examples in
# opentelemetry-proto are written that way): the ``{`` alone on the first line claims nothing.
_DETECT = re.compile(r'\s*(?:\{\s*)?"resource(?:Spans|Logs|_spans|_logs)"\s*:')


# The first characters of a line ``detect`` may claim (``\s*(?:\{\s*)?"resource``; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = ' {"'
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
DETECT_NEEDS = dict.fromkeys(DETECT_FIRST, ('"resource',))


def detect(line: str) -> bool:
    return _DETECT.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    try:
        obj = orjson.loads(record.text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ParseError("OTLP JSON export must be an object with resourceSpans or resourceLogs")
    present = [k for k in _TOP_KEYS if k in obj]
    if not present:
        raise ParseError("OTLP JSON export has no resourceSpans or resourceLogs",
                         field="resourceSpans")
    for key in present:
        if not isinstance(obj[key], list):
            raise ParseError(f"{key} must be a list, found {type(obj[key]).__name__}", field=key)
    # Here, not at the top: the limits walk protobuf's descriptors of the OTLP messages, whose
    # import cost every parse worker's start (auto-detection loads this parser) ~10 ms of CPU
    # though most never read an OTLP export.
    from collector import otlp_limits

    try:
        otlp_limits.check_json(obj, otlp_limits.DEFAULT)
    except otlp_limits.LimitExceeded as exc:
        raise ParseError(str(exc), field=exc.limit) from None
    # Metrics exports share the file exporter's output; they carry no message events.
    return events_from_export(obj, ctx)


# --- values -------------------------------------------------------------------------------

def _get(d: dict, camel: str, snake: str) -> object:
    value = d.get(camel)
    return d.get(snake) if value is None else value


def _dict(value: object) -> dict:
    """An object where one is expected; anything else (``"resource": true``) counts as empty."""
    return value if isinstance(value, dict) else {}


def _list(d: dict, camel: str, snake: str) -> list:
    value = _get(d, camel, snake)
    return value if isinstance(value, list) else []


def any_value(value: object) -> object:
    """An OTLP AnyValue as a plain Python value."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "string_value", "boolValue", "bool_value", "doubleValue",
                "double_value"):
        if key in value:
            return value[key]
    for key in ("intValue", "int_value"):
        if key in value:
            try:
                return int(value[key])
            except (TypeError, ValueError):
                return value[key]
    for key in ("arrayValue", "array_value"):
        if key in value:
            values = value[key].get("values", []) if isinstance(value[key], dict) else []
            return [any_value(v) for v in values]
    for key in ("kvlistValue", "kvlist_value"):
        if key in value:
            inner = value[key].get("values", []) if isinstance(value[key], dict) else []
            return attributes(inner)
    for key in ("bytesValue", "bytes_value"):
        if key in value:
            return value[key]
    return None


def attributes(items: object) -> dict[str, object]:
    if not isinstance(items, list):
        return {}
    out: dict[str, object] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


def _scalar(value: object) -> str | None:
    """Header attributes are string arrays; take the first value."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"  # as OTLP JSON writes it, not Python's True
    return str(value)


def _label_text(value: object) -> str | None:
    """A label keeps every value of an array attribute, not only the first."""
    if isinstance(value, list):
        return ", ".join(t for t in map(_scalar, value) if t is not None) or None
    return _scalar(value)


def otel_id(value: object, size: int) -> str | None:
    """Trace (16 bytes) or span (8 bytes) ID as lower-case hex, from hex or base64."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == size * 2:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if raw:
            return None if raw == bytes(size) else value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != size or raw == bytes(size):
        return None
    return raw.hex()


def _nanos(value: object, ctx: ParseContext) -> int | None:
    """Epoch nanoseconds inside the sane range (``collector.time_range``), else None: a
    ``timeUnixNano`` of 10^30 or 4,000 digits is read here, at the edge, not past it."""
    try:
        n = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return n if n > 0 and in_range(n // 1_000_000, ctx) else None


def _keep_unbelievable(ev: Event, raw: object, nanos: int | None) -> None:
    """A time the source sent but that was not taken, kept as text beside the fallback."""
    if nanos is None and raw not in (None, "", 0, "0"):
        ev.labels[TIME_RAW_LABEL] = time_text(raw)


def _enum(value: object, names: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        # isascii: '²' passes isdigit but not int; 18 digits stay inside an int64.
        digits = value.isascii() and value.isdigit() and len(value) <= 18
        return names.get(value, int(value) if digits else 0)
    return 0


# --- mapping ------------------------------------------------------------------------------

def _records(obj: dict) -> Iterator[tuple[Callable, dict, dict[str, object]]]:
    """(mapper, span or log record, its resource's attributes) for every record."""
    for rs in _list(obj, "resourceSpans", "resource_spans"):
        if not isinstance(rs, dict):
            continue
        resource = attributes(_list(_dict(rs.get("resource")), "attributes", "attributes"))
        for ss in _list(rs, "scopeSpans", "scope_spans") or _list(rs, "instrumentationLibrarySpans",
                                                                    "instrumentation_library_spans"):
            if isinstance(ss, dict):
                for span in _list(ss, "spans", "spans"):
                    if isinstance(span, dict):
                        yield span_event, span, resource
    for rl in _list(obj, "resourceLogs", "resource_logs"):
        if not isinstance(rl, dict):
            continue
        resource = attributes(_list(_dict(rl.get("resource")), "attributes", "attributes"))
        for sl in _list(rl, "scopeLogs", "scope_logs"):
            if isinstance(sl, dict):
                for record in _list(sl, "logRecords", "log_records"):
                    if isinstance(record, dict):
                        yield log_event, record, resource


def events_from_export(obj: dict, ctx: ParseContext) -> list[Event]:
    """Every span and log record of an OTLP export (JSON, or protobuf turned into a dict).

    A record that cannot be mapped costs itself only: the ``ParseError`` raised at the end
    names the first failure and carries the events of all the other records."""
    events: list[Event] = []
    failed: list[str] = []
    for mapper, record, resource in _records(obj):
        try:
            events.append(mapper(record, resource, ctx))
        except Exception as exc:  # noqa: BLE001 - one record, not the export
            failed.append(f"{type(exc).__name__}: {exc}")
    if failed:
        raise ParseError(f"{len(failed)} record(s) could not be mapped; the first: "
                         f"{failed[0]}"[:500], events=events)
    return events


def _apply_attributes(ev: Event, attrs: dict[str, object]) -> None:
    for key, value in attrs.items():
        if isinstance(value, dict):  # a kvlist: its members as ``key.member``
            _apply_attributes(ev, {f"{key}.{k}": v for k, v in value.items()})
            continue
        text = _scalar(value)
        if text is None:
            continue
        kind = _ID_ATTRIBUTES.get(key)
        if kind:
            ev.add_id(kind, text)
        elif key in _FIELD_ATTRIBUTES:
            setattr(ev, _FIELD_ATTRIBUTES[key], text)
            continue
        elif not key.startswith(("http.", "url.", "net.", "server.", "client.", "messaging.",
                                 "rpc.", "db.", "exception.", "thread.", "code.")):
            kind = id_kind(key.replace(".", "_"))
            if kind and kind != "otel.trace":
                ev.add_id(kind, text)
        set_label(ev, key, _label_text(value))


def _resource(ev: Event, resource: dict[str, object]) -> None:
    ev.service = _scalar(resource.get("service.name"))
    ev.host = _scalar(resource.get("host.name"))
    for key in ("service.namespace", "service.version", "deployment.environment",
                "deployment.environment.name"):
        set_label(ev, key, _scalar(resource.get(key)))


def _exception(ev: Event, attrs: dict[str, object]) -> None:
    ev.error_type = _scalar(attrs.get("exception.type")) or ev.error_type
    ev.error_message = _scalar(attrs.get("exception.message")) or ev.error_message
    ev.error_stack_trace = _scalar(attrs.get("exception.stacktrace")) or ev.error_stack_trace


def span_event(span: dict, resource: dict[str, object], ctx: ParseContext) -> Event:
    trace_id = otel_id(_get(span, "traceId", "trace_id"), 16)
    span_id = otel_id(_get(span, "spanId", "span_id"), 8)
    start_raw = _get(span, "startTimeUnixNano", "start_time_unix_nano")
    start = _nanos(start_raw, ctx)
    end = _nanos(_get(span, "endTimeUnixNano", "end_time_unix_nano"), ctx)
    ev = Event(timestamp_ms=start // 1_000_000 if start else ctx.now_ms,
               timestamp_estimated=start is None, dataset=SPAN_DATASET, platform="otel",
               message=str(span.get("name") or ""), trace_id=trace_id, span_id=span_id)
    _keep_unbelievable(ev, start_raw, start)
    if start and end and end >= start:
        ev.duration_ns = end - start
    _resource(ev, resource)
    parent = otel_id(_get(span, "parentSpanId", "parent_span_id"), 8)
    set_label(ev, "parent_span_id", parent)
    kind = _enum(span.get("kind"), _KIND_NAMES)
    ev.action = _SPAN_ACTIONS.get(kind)
    attrs = attributes(span.get("attributes"))
    _apply_attributes(ev, attrs)
    # Last, so that a business or correlation ID, when present, becomes the message ID.
    ev.add_id("otel.trace", trace_id)
    status = span.get("status") if isinstance(span.get("status"), dict) else {}
    code = _enum(status.get("code"), _STATUS_NAMES)
    ev.outcome = "failure" if code == 2 else "success"
    if code == 2:
        ev.level = "error"
        ev.error_message = str(status.get("message") or "") or None
    for item in _list(span, "events", "events"):
        if isinstance(item, dict) and item.get("name") == "exception":
            _exception(ev, attributes(item.get("attributes")))
    ev.id = event_id(f"otel.span:{trace_id or '-'}", span_id or ev.message)
    return ev


def _level(record: dict) -> str:
    number = _enum(_get(record, "severityNumber", "severity_number"), {})
    if number == 0 and isinstance(_get(record, "severityNumber", "severity_number"), str):
        name = str(_get(record, "severityNumber", "severity_number"))
        text = name.removeprefix("SEVERITY_NUMBER_").rstrip("0123456789").lower()
        return {"trace": "debug", "warn": "warn", "fatal": "fatal"}.get(text, text or "info")
    for bound, level in _LEVELS:
        if 0 < number <= bound:
            return level
    return str(_get(record, "severityText", "severity_text") or "info")


def log_event(record: dict, resource: dict[str, object], ctx: ParseContext) -> Event:
    time_raw = _get(record, "timeUnixNano", "time_unix_nano")
    source_ns = _nanos(time_raw, ctx)
    time_ns = source_ns or _nanos(_get(record, "observedTimeUnixNano",
                                       "observed_time_unix_nano"), ctx)
    body = any_value(record.get("body"))
    message = body if isinstance(body, str) else (
        orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode() if body is not None else "")
    trace_id = otel_id(_get(record, "traceId", "trace_id"), 16)
    span_id = otel_id(_get(record, "spanId", "span_id"), 8)
    ev = Event(timestamp_ms=time_ns // 1_000_000 if time_ns else ctx.now_ms,
               timestamp_estimated=time_ns is None, dataset=LOG_DATASET, platform="otel",
               message=message, level=_level(record), trace_id=trace_id, span_id=span_id)
    _keep_unbelievable(ev, time_raw, source_ns)
    _resource(ev, resource)
    attrs = attributes(record.get("attributes"))
    _apply_attributes(ev, attrs)
    ev.add_id("otel.trace", trace_id)
    if "exception.type" in attrs or "exception.message" in attrs:
        _exception(ev, attrs)
        ev.outcome = "failure"
    if ev.action is None and ev.outcome != "failure":
        ev.action = "logged"
    digest = hashlib.blake2b(message.encode("utf-8", "replace"), digest_size=8).hexdigest()
    ev.id = event_id(f"otel.log:{trace_id or '-'}:{span_id or '-'}", f"{time_ns}:{digest}")
    return ev
