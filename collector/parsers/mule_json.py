"""MuleSoft JSON Logger output (the ``json-logger`` connector for Mule 4).

The connector writes one JSON object per log call: ``correlationId``, ``tracePoint`` (START,
BEFORE_REQUEST, AFTER_REQUEST, BEFORE_TRANSFORM, AFTER_TRANSFORM, FLOW, END, EXCEPTION),
``priority``, ``elapsed`` (ms since the flow started), ``message``, ``content``,
``applicationName``/``applicationVersion``, ``environment``, ``threadName``,
``locationInfo`` and ``timestamp``. This module reads the bare objects (CloudHub log exports,
``prettyPrint=false`` appenders, one per line or pretty-printed over several lines, which the
parse core hands over as one record); the runtime-log form, where log4j puts its own prefix
before the object, is read by ``collector.parsers.mule`` through ``apply_doc``.

Mule 4 runtime lines written by Log4j 2's ``JsonLayout`` (``loggerName``, ``thread``,
``contextMap`` with the ``correlationId`` and ``processorPath`` Mule puts in the MDC) or its
``JsonTemplateLayout`` ECS template (``log.logger``, ``process.thread.name``, the MDC as
top-level keys) are the runtime log itself: read as ``collector.parsers.mule`` reads its text
lines (the app and flow from the thread's ``[MuleRuntime].uber.03: [app].flow.CPU_LITE``,
the error block in the message), not as generic JSON, which knew neither app nor flow.

Records of the CloudHub logs API (``recordId``, ``deploymentId``, ``event``) come one per line
from exporters, or as the JSON array the API itself returns, saved as is: every element of an
array is an event, and an unreadable element is named by its index.
"""

from __future__ import annotations

import orjson

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers import _apikit as apikit
from collector.parsers import json_lines, mule
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import as_int, business_field, elements, lookup, set_label
from collector.timeparse import to_ms

NAME = "mule-json"
DATASET = "mulesoft.jsonlogger"
CLOUDHUB_DATASET = "mulesoft.cloudhub"
START = None

# tracePoint -> (event.action, event.outcome)
TRACE_POINTS = {
    "START": ("received", "unknown"),
    "BEFORE_REQUEST": ("sent", "unknown"),
    # A response came back; whether it says success is in the content (``_verdict``).
    "AFTER_REQUEST": ("delivered", "unknown"),
    "BEFORE_TRANSFORM": ("logged", "unknown"),
    "AFTER_TRANSFORM": ("transformed", "success"),
    "FLOW": ("logged", "unknown"),
    "END": ("completed", "success"),
    "EXCEPTION": ("failed", "failure"),
}
_CONTENT_SCAN = 50
_VERDICT_NODES = 500


# The first characters of a line ``detect`` may claim (a JSON object or array; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '{['
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
DETECT_NEEDS = dict.fromkeys(DETECT_FIRST, ('"tracePoint"', '"recordId"', "[MuleRuntime].",
                                            '"org.mule.'))
# Where Log4j 2's JSON layouts put the thread and the logger (JsonLayout; the ECS template of
# JsonTemplateLayout, flat or nested) and the MDC.
_THREAD_KEYS = ("thread", "threadName", "process.thread.name")
_LOGGER_KEYS = ("loggerName", "log.logger")
_MDC_KEYS = ("contextMap", "mdc")


def detect(line: str) -> bool:
    return line.startswith(("{", "[")) and (
        ('"tracePoint"' in line and '"correlationId"' in line)
        or ('"recordId"' in line and '"deploymentId"' in line)
        or (("[MuleRuntime]." in line or '"org.mule.' in line)
            and ('"loggerName"' in line or '"log.logger"' in line or '"logger"' in line)))


def _content(ev: Event, content: object) -> None:
    """Business IDs from the logged content (``{"orderId": ...}``) and its size."""
    if isinstance(content, str):
        ev.payload_bytes = len(content.encode("utf-8", "replace"))
        if content.startswith("{"):
            try:
                content = orjson.loads(content)
            except orjson.JSONDecodeError:
                return
    if not isinstance(content, dict):
        return
    for key, value in list(content.items())[:_CONTENT_SCAN]:
        if isinstance(value, str | int) and not isinstance(value, bool):
            business_field(ev, key, value)
    verdict = _verdict(content)
    if verdict is not None and ev.outcome == "unknown":
        ev.outcome = "success" if verdict else "failure"
    error = content.get("error")
    if isinstance(error, dict):
        ev.error_type = ev.error_type or _str(error.get("errorType") or error.get("type"))
        ev.error_message = ev.error_message or _str(error.get("description") or error.get("message"))


def _verdict(content: object) -> bool | None:
    """What a logged response says of itself: a ``successful``/``success`` flag (Salesforce and
    most connectors' results), any false one winning, searched a few levels deep and into the
    first items of lists (``items: [{"successful": false, ...}]``). At most ``_VERDICT_NODES``
    values are looked at: this runs on every logged content, however large."""
    found: bool | None = None
    todo: list[tuple[object, int]] = [(content, 4)]
    seen = 0
    while todo and seen < _VERDICT_NODES:
        node, depth = todo.pop()
        items = (enumerate(node[:10]) if isinstance(node, list)
                 else list(node.items())[:_CONTENT_SCAN] if isinstance(node, dict) else ())
        for key, value in items:
            seen += 1
            if key in ("successful", "success") and isinstance(value, bool):
                if not value:
                    return False
                found = True
            elif isinstance(value, dict | list) and depth > 1:
                todo.append((value, depth - 1))
    return found


def _str(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def apply_doc(ev: Event, doc: dict, ctx: ParseContext) -> None:
    """Merge JSON Logger fields into ``ev`` (shared with the runtime-log parser)."""
    corr = doc.get("correlationId")
    if corr:
        ev.add_id("correlation", corr)
    for key in ("traceId", "trace_id"):
        if doc.get(key):
            ev.trace_id = str(doc[key])
            ev.add_id("otel.trace", doc[key])
    if doc.get("spanId"):
        ev.span_id = str(doc["spanId"])
    point = str(doc.get("tracePoint") or "").upper()
    if point:
        ev.action, ev.outcome = TRACE_POINTS.get(point, ("logged", "unknown"))
        set_label(ev, "trace_point", point)
    if doc.get("priority"):
        ev.level = normalize_level(doc["priority"])
    if isinstance(doc.get("message"), str):
        ev.message = doc["message"]
    elapsed = as_int(doc.get("elapsed"))
    if elapsed is not None and elapsed >= 0:
        ev.duration_ns = elapsed * 1_000_000
    if doc.get("applicationName"):
        ev.service = str(doc["applicationName"])
    for key in ("applicationVersion", "environment", "threadName"):
        set_label(ev, key, _str(doc.get(key)))
    location = doc.get("locationInfo")
    if isinstance(location, dict):
        set_label(ev, "mule_flow", _str(location.get("rootContainer")))
        if ":" in ev.labels.get("mule_flow", ""):
            apikit.label(ev, ev.labels["mule_flow"])
        set_label(ev, "mule_component", _str(location.get("component")))
        set_label(ev, "mule_doc_name", _str(location.get("docName") or location.get("doc:name")))
        file_name, line = location.get("fileName"), location.get("lineInFile")
        if file_name:
            set_label(ev, "mule_location", f"{file_name}:{line}" if line else file_name)
    if "content" in doc:
        _content(ev, doc["content"])
    if point == "EXCEPTION" and not ev.error_message:
        ev.error_message = ev.message or None
    if doc.get("timestamp"):
        ts, estimated = to_ms(str(doc["timestamp"]), ctx)
        if not estimated:
            ev.timestamp_ms, ev.timestamp_estimated = ts, False


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    try:
        doc = orjson.loads(record.text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not a JSON object: {exc}") from None
    if isinstance(doc, list):
        return elements(doc, lambda d: _events(d, ctx), "array element")
    return _events(doc, ctx)


def _events(doc: object, ctx: ParseContext) -> list[Event]:
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    if "recordId" in doc and isinstance(doc.get("event"), dict):
        return [_cloudhub(doc, ctx)]
    if "tracePoint" not in doc and _first(doc, _LOGGER_KEYS) is not None:
        return _runtime(doc, ctx)
    if "correlationId" not in doc and "tracePoint" not in doc:
        raise ParseError("neither correlationId nor tracePoint: not JSON Logger output",
                         field="correlationId")
    ev = Event(timestamp_ms=ctx.now_ms, dataset=DATASET, platform="mulesoft",
               timestamp_estimated=True)
    apply_doc(ev, doc, ctx)
    return [ev]


def _first(doc: dict, keys: tuple[str, ...]) -> str | None:
    """The first of these keys' text values; a dotted key is looked up flat, then nested."""
    for key in keys:
        value = doc.get(key)
        if value is None and "." in key:
            head, _, tail = key.partition(".")
            outer = doc.get(head)
            value = lookup(outer, tail) if isinstance(outer, dict) else None
        if isinstance(value, str) and value:
            return value
    return None


def _runtime(doc: dict, ctx: ParseContext) -> list[Event]:
    """A Mule runtime log line in a Log4j 2 JSON layout (see the module doc)."""
    ev = json_lines.read(doc, ctx)
    ev.dataset, ev.platform = mule.DATASET, "mulesoft"
    ev.service = None  # the app is the thread's, never a default JSON name's
    thread = _first(doc, _THREAD_KEYS)
    set_label(ev, "thread", thread)
    set_label(ev, "logger", _first(doc, _LOGGER_KEYS))
    if thread:
        mule.thread_app(ev, thread)
    mdc = next((m for key in _MDC_KEYS if isinstance(m := doc.get(key), dict)), doc)
    processor = mdc.get("processorPath")
    ev.message, _, body = ev.message.partition("\n")
    return mule.finish(ev, processor.strip() if isinstance(processor, str) else "", body, ctx)


def _cloudhub(doc: dict, ctx: ParseContext) -> Event:
    """A record of the CloudHub logs API (``recordId``, ``deploymentId``, ``instanceId`` and
    the log4j ``event``): the worker's log line, JSON Logger output read as such."""
    log = doc["event"]
    message = str(log.get("message") or "")
    ev = Event(timestamp_ms=ctx.now_ms, dataset=CLOUDHUB_DATASET, platform="mulesoft",
               timestamp_estimated=True, action="logged")
    if message.startswith("{") and '"correlationId"' in message:
        try:
            inner = orjson.loads(message)
        except orjson.JSONDecodeError:
            inner = None
        if isinstance(inner, dict):
            ev.dataset = DATASET
            apply_doc(ev, inner, ctx)
    if ev.dataset == CLOUDHUB_DATASET:
        ev.message = message.strip()
        ev.level = normalize_level(log.get("priority"))
    stamp = log.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        ev.timestamp_ms, ev.timestamp_estimated = int(stamp), False
    set_label(ev, "logger", log.get("loggerName"))
    set_label(ev, "thread", log.get("threadName"))
    set_label(ev, "cloudhub_deployment", doc.get("deploymentId"))
    set_label(ev, "cloudhub_instance", doc.get("instanceId"))
    return ev
