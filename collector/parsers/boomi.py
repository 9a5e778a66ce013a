"""Boomi process logs and execution records.

Three shapes, told apart by their first character:

- ``process_log.xml`` as the runtime keeps it per execution (``ExecutionLogModel`` with one
  ``LogEvent`` per shape step: level, time, shapename, shapetype, shapelabel, message). The
  framer cuts it per ``LogEvent``; the execution ID is taken from the element when present,
  else from the file path the runtime stores it under (``.../execution-<uuid>-<date>/...``).
- The downloaded process log, one tab-separated line per step
  (``TIME<TAB>LEVEL<TAB>SHAPE<TAB>MESSAGE``; the level and time columns are found by content
  because exports differ in their order, and a fifth column means shape type + label).
- Platform API JSON: ``ExecutionRecord`` (status, processName, atomName, executionDuration,
  document counts, ``originalExecutionId`` for retries) and ``GenericConnectorRecord``
  (one document, with tracked fields), alone or inside a ``QueryResult``. The API writes
  longs as ``["Long", 123]``; both forms are read.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import orjson

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import as_int, attrs, business_field, local_name, set_label
from collector.timeparse import to_ms

NAME = "boomi"
PLATFORM = "boomi"

_LEVELS = r"(?:SEVERE|WARNING|INFO|CONFIG|FINE|FINER|FINEST|ERROR|WARN|DEBUG)"
_TS = r"\d{4}-?\d{2}-?\d{2}[T ]\d{2}:?\d{2}:?\d{2}\S*"
START = re.compile(
    rf"\s*<(?:LogEvent|ExecutionLogModel|\?xml)\b|\{{|{_TS}\t{_LEVELS}\t|{_LEVELS}\t{_TS}\t"
)
_TAB_LINE = re.compile(rf"(?:{_TS}\t{_LEVELS}|{_LEVELS}\t{_TS})\t")
_EXEC_ID = re.compile(r"execution-[0-9a-fA-F-]{36}-\d{4}\.\d{2}\.\d{2}")
_TOOK = re.compile(r"\bin (\d+(?:\.\d+)?) ?(ms|s)\b")
# The first step of every process log names the process ("Executing Process Orders to SAP");
# the LogEvents after it name none (the correlator's ``ProcessNames`` hands the name on).
_HEADER = re.compile(r"Executing Process (.+)")

# ExecutionRecord.status -> (action, outcome, level)
_STATUS = {
    "COMPLETE": ("completed", "success", "info"),
    "COMPLETE_WARN": ("completed", "success", "warn"),
    "ERROR": ("failed", "failure", "error"),
    "ABORTED": ("failed", "failure", "error"),
    "DISCARDED": ("failed", "failure", "warn"),
    "INPROCESS": ("started", "unknown", "info"),
    "STARTED": ("started", "unknown", "info"),
}
_DOC_STATUS = {"SUCCESS": ("delivered", "success", "info"), "ERROR": ("failed", "failure", "error")}


# The first characters of a line ``detect`` may claim (XML or JSON, blanks before them, or a tab line's date or level; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '< {0SWICFED'
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
# A JSON record names its execution; a line starting with a digit or a letter is a tab line.
DETECT_NEEDS = {"{": ('"executionId"',), **dict.fromkeys("0SWICFED", ("\t",))}


def detect(line: str) -> bool:
    stripped = line.lstrip()
    if stripped.startswith(("<LogEvent", "<ExecutionLogModel")):
        return True
    if stripped.startswith("{"):
        return '"executionId"' in line and ('"ExecutionRecord"' in line or '"processName"' in line
                                            or '"GenericConnectorRecord"' in line)
    return _TAB_LINE.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if not text:
        return []
    if text.startswith("{"):
        return _api_json(text, ctx)
    if text.startswith("<"):
        return _process_log_xml(text, record, ctx)
    return [_tab_line(text, record, ctx)]


# --- process_log.xml ---------------------------------------------------------------------

def _xml_elements(text: str) -> tuple[list[ET.Element], dict[str, str]]:
    """LogEvent elements of a whole file or of one framed fragment (the closing root tag of
    the last fragment, or a truncated tail, must not lose the events before it)."""
    parser = ET.XMLPullParser(events=("start", "end"))
    events: list[ET.Element] = []
    root_attrs: dict[str, str] | None = None  # a bare <ExecutionLogModel> has none
    error: ET.ParseError | None = None
    try:
        parser.feed(text)
        for kind, elem in parser.read_events():
            name = local_name(elem.tag)
            if kind == "start" and name == "ExecutionLogModel":
                root_attrs = attrs(elem)
            elif kind == "end" and name == "LogEvent":
                events.append(elem)
        parser.close()
    except ET.ParseError as exc:
        error = exc
    if not events and error is not None and root_attrs is None:
        raise ParseError(f"unreadable process log XML: {error}")
    return events, root_attrs or {}


def _process_log_xml(text: str, record: Record, ctx: ParseContext) -> list[Event]:
    if text.startswith("<?xml") and text.endswith("?>"):
        return []
    elements, root = _xml_elements(text)
    exec_id = root.get("executionId") or _exec_from_source(record.source)
    out = []
    for elem in elements:
        a = {k.lower(): v for k, v in attrs(elem).items()}
        message = (elem.text or "").strip() or " ".join(
            (c.text or "").strip() for c in elem if (c.text or "").strip())
        ev = _step_event(ctx, a.get("time"), a.get("level"), message)
        set_label(ev, "shape_name", a.get("shapename"))
        set_label(ev, "shape_type", a.get("shapetype"))
        set_label(ev, "shape_label", a.get("shapelabel"))
        # What the downloaded text log shows for the same step (``_tab_separated``).
        set_label(ev, "shape", a.get("shapelabel") or a.get("shapetype"))
        set_label(ev, "shape_info", a.get("shapeextendedinfo"))
        ev.add_id("boomi.exec", a.get("executionid") or exec_id)
        header = _HEADER.fullmatch(message)
        ev.service = (root.get("processName") or a.get("processname")
                      or (header.group(1).strip() if header else None))
        ev.host = root.get("atomName")
        out.append(ev)
    return out


def _exec_from_source(source: str) -> str | None:
    m = _EXEC_ID.search(source)
    return m.group(0) if m else None


def _step_event(ctx: ParseContext, time: str | None, level: str | None, message: str) -> Event:
    ts, estimated = to_ms(time, ctx)
    lvl = normalize_level(level)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="boomi.process",
               platform=PLATFORM, level=lvl, message=message)
    took = _TOOK.search(message)
    if took:
        value = float(took.group(1))
        ev.duration_ns = int(value * (1_000_000 if took.group(2) == "ms" else 1_000_000_000))
    if lvl in ("error", "fatal"):
        ev.error_message = message.split("\n", 1)[0]
    else:
        ev.action = "logged"
    return ev


# --- downloaded tab-separated log --------------------------------------------------------

_LEVEL_WORD = re.compile(rf"{_LEVELS}$")


def _tab_line(text: str, record: Record, ctx: ParseContext) -> Event:
    head, _, more = text.partition("\n")
    cols = head.split("\t")
    if len(cols) < 3:
        raise ParseError("expected TIME<TAB>LEVEL<TAB>SHAPE<TAB>MESSAGE", field="columns")
    if _LEVEL_WORD.match(cols[0]):
        level, time = cols[0], cols[1]
    elif _LEVEL_WORD.match(cols[1]):
        time, level = cols[0], cols[1]
    else:
        raise ParseError(f"no Boomi level (SEVERE, WARNING, INFO...) in the first two columns: "
                         f"{cols[0][:40]!r}, {cols[1][:40]!r}", field="level")
    # The shape as the process log shows it (its label, or its type when it has none), then
    # the shape's extended information (connection and operation, script step), then the
    # message: ``Start<TAB>NoData`` is shapetype="Start" shapeextendedinfo="NoData" in XML.
    rest = cols[2:]
    shape = shape_info = None
    if len(rest) >= 3:
        shape, shape_info, message = rest[0], rest[1], "\t".join(rest[2:])
    elif len(rest) == 2:
        shape, message = rest
    else:
        message = rest[0]
    if more:
        message = f"{message}\n{more}"
    ev = _step_event(ctx, time, level, message.strip())
    header = _HEADER.fullmatch(ev.message)
    if header:
        ev.service = header.group(1).strip()
    if ev.level in ("error", "fatal") and more:
        ev.error_stack_trace = more
    set_label(ev, "shape", shape)
    set_label(ev, "shape_info", shape_info)
    ev.add_id("boomi.exec", _exec_from_source(record.source))
    return ev


# --- Platform API JSON -------------------------------------------------------------------

def _api_json(text: str, ctx: ParseContext) -> list[Event]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not a JSON object: {exc}") from None
    if not isinstance(doc, dict):
        raise ParseError(f"expected a JSON object, got {type(doc).__name__}")
    items = doc.get("result") if doc.get("@type") == "QueryResult" else [doc]
    if not isinstance(items, list):
        raise ParseError("QueryResult without a result list", field="result")
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("executionId"):
            raise ParseError("Boomi record without executionId", field="executionId")
        if item.get("@type") == "GenericConnectorRecord" or "connectorType" in item:
            out.append(_connector_record(item, ctx))
        else:
            out.append(_execution_record(item, ctx))
    return out


def _execution_record(item: dict, ctx: ParseContext) -> Event:
    status = str(item.get("status") or "").upper()
    action, outcome, level = _STATUS.get(status, (None, "unknown", "info"))
    ts, estimated = to_ms(item.get("executionTime"), ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="boomi.execution",
               platform=PLATFORM, level=level, action=action, outcome=outcome)
    ev.add_id("boomi.exec", item.get("executionId"))
    execution_type = str(item.get("executionType") or "")
    retry_of = item.get("originalExecutionId")
    if (retry_of and retry_of != item.get("executionId")) or execution_type.startswith("retry"):
        ev.action = "retried"
        ev.add_id("boomi.exec", retry_of)
    for key in ("parentExecutionId", "topLevelExecutionId"):
        if item.get(key) and item[key] != item.get("executionId"):
            ev.add_id("boomi.exec", item[key])
    ev.service = item.get("processName") or None
    ev.host = item.get("atomName") or None
    duration = as_int(item.get("executionDuration"))
    if duration is not None:
        ev.duration_ns = duration * 1_000_000
    ev.payload_bytes = as_int(item.get("inboundDocumentSize"))
    for key in ("status", "executionType", "processId", "atomId", "inboundDocumentCount",
                "inboundErrorDocumentCount", "outboundDocumentCount", "account"):
        value = item.get(key)
        set_label(ev, key, as_int(value) if isinstance(value, list) else value)
    message = item.get("message")
    name = ev.service or "process"
    ev.message = f"{name}: {status.lower() or 'unknown status'}"
    if isinstance(message, str) and message:
        ev.message += f": {message}"
        if outcome == "failure":
            ev.error_message = message
    if outcome == "failure" and not ev.error_message:
        ev.error_message = ev.message
    _tracked(ev, item)
    return ev


def _connector_record(item: dict, ctx: ParseContext) -> Event:
    status = str(item.get("status") or "").upper()
    action, outcome, level = _DOC_STATUS.get(status, ("logged", "unknown", "info"))
    ts, estimated = to_ms(item.get("dateProcessed") or item.get("executionTime"), ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="boomi.document",
               platform=PLATFORM, level=level, action=action, outcome=outcome)
    ev.add_id("boomi.exec", item.get("executionId"))
    for key in ("connectorType", "connectorName", "operationName", "actionType", "documentIndex",
                "id"):
        set_label(ev, key, item.get(key))
    ev.payload_bytes = as_int(item.get("size"))
    if item.get("senderID") or item.get("receiverID"):
        ev.partner = item.get("senderID") or item.get("receiverID")
    error = item.get("errorMessage")
    ev.message = f"{item.get('connectorType', 'connector')} {item.get('actionType', '')} " \
                 f"document {item.get('documentIndex', '')}: {status.lower()}".replace("  ", " ")
    if error:
        ev.error_message = str(error)
    _tracked(ev, item)
    return ev


def _tracked(ev: Event, item: dict) -> None:
    """User-defined tracked fields (and connector fields) become typed IDs and labels."""
    for container, entry in (("trackedFields", "trackedField"), ("connectorFields", "field")):
        fields = item.get(container)
        if isinstance(fields, dict):
            fields = fields.get(entry)
        if not isinstance(fields, list):
            continue
        for field_doc in fields:
            if isinstance(field_doc, dict) and field_doc.get("name"):
                business_field(ev, str(field_doc["name"]), field_doc.get("value"))
