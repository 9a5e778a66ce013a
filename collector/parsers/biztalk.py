"""Microsoft BizTalk Server: event log entries and saved message contexts.

What BizTalk operators can actually export, without database access:

- Windows events from the BizTalk sources ("BizTalk Server", "BizTalk Server 20xx",
  "XLANG/s", "BizTalk Server EDI"), as ``wevtutil qe Application /f:xml`` or
  ``Get-WinEvent | ... ToXml()`` write them (one ``<Event>`` each), and as Event Viewer's
  "Save as Text (tab delimited)" (Level, Date and Time, Source, Event ID, Task Category,
  then the quoted description, which spans lines), and as the text "Copy details as text"
  gives (``Log Name:``/``Source:``/``Event ID:``... or the older ``Event Type:`` layout that
  Microsoft's KB articles quote, then ``Description:``), as the "Save All Events As" CSV (the
  tab export's columns, comma-separated), as EVTX converted to JSON lines (``evtx_dump -o
  jsonl`` of the Rust ``evtx`` crate: ``{"Event":{"System":{...},"EventData":{...}}}``, XML
  attributes under ``#attributes``) and as ``Get-WinEvent | ConvertTo-Json`` (EventLogRecord
  objects: ``ProviderName``, ``Id``, ``Level``, ``TimeCreated`` as ``/Date(ms)/`` or ISO
  8601, ``Message``). Suspension events (5753 receive, 5754
  send) carry ``MessageId``/``InstanceID`` in their text; 5743 is a transmission retry.
- The message context saved from the Administration Console ("Save to file" on a suspended
  or tracked message: ``{MessageID}_context.xml`` with ``<MessageInfo><ContextInfo>``
  properties): BTS.InterchangeID, ReceivePortName, SPName, AckID, ErrorReport.* and any
  promoted business properties.

GUIDs are stored lower case without braces (``biztalk.msg:8a1b...``) so that the same message
matches whichever tool printed it.
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from typing import Any

import orjson

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import attrs, business_field, guid, local_name, set_label
from collector.timeparse import to_ms

NAME = "biztalk"
PLATFORM = "biztalk"

# Event Viewer's "Save All Events As" CSV: the same columns, comma-separated and quoted.
_CSV_HEAD = re.compile(r"(?:Error|Warning|Information|Critical|Verbose),[^,]+,"
                       r"(?:BizTalk|XLANG|ENTSSO)[^,]*,\d+,")
START = re.compile(
    r"\s*<(?:\?xml|Event[\s>]|MessageInfo\b)|(?:Error|Warning|Information|Critical|Verbose|"
    r"Level)\t|(?:Log Name|Event Type):|\{\s*\"Event\"\s*:|Level,Date and Time,|"
    rf"{_CSV_HEAD.pattern}|"
    # PowerShell's records one per line (``Get-WinEvent | % { $_ | ConvertTo-Json
    # -Compress }``), or a compressed array of them on one line.
    r"\[?\{\s*\".*\"ProviderName\"\s*:|"
    # A pretty-printed value's opening line (``continues``: not inside a description).
    r"[\[{]\s*$"
)
# An EVTX record as JSON (``{"Event":``): a Windows event when its root carries the event
# schema's namespace, a BizTalk one when its provider is a BizTalk source. The key is
# matched as written, as ``DETECT_NEEDS`` and ``_json_event`` read it; the source as any case.
_JSON_HEAD = re.compile(r"\{\s*\"Event\"\s*:")
_JSON_SOURCE = re.compile(r'"Name"\s*:\s*"(?i:BizTalk|XLANG|ENTSSO)')
_WIN_EVENT_NS = "schemas.microsoft.com/win/2004/08/events"
# PowerShell's ConvertTo-Json of Get-WinEvent records: one object, or an array of them.
_PS_HEAD = re.compile(r"[\[{]\s*(?:\{\s*)?\"")
_PS_SOURCE = re.compile(r'"ProviderName"\s*:\s*"(?i:BizTalk|XLANG|ENTSSO)')
_PS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")
# Event Viewer's "Copy details as text" (Windows Server 2008 on: "Log Name:", "Source:",
# "Date:", "Event ID:", "Level:" ...) and the older layout Microsoft's KB articles quote
# ("Event Type:", "Event Source:", "Event ID:", "Date:", "Time:"); the description follows a
# "Description:" line.
_TEXT_HEAD = re.compile(r"(?:Log Name|Event Type):")
_TAB_HEAD = re.compile(r"(?:Error|Warning|Information|Critical|Verbose)\t[^\t]+\t"
                       r"(?:BizTalk|XLANG|ENTSSO)[^\t]*\t\d+\t")
_SOURCES = ("biztalk", "xlang", "entsso")
_SYSTEM_NS = "http://schemas.microsoft.com/BizTalk/2003/system-properties"
_ERROR_NS = "http://schemas.microsoft.com/BizTalk/2005/error-report"
_FILE_NS = "http://schemas.microsoft.com/BizTalk/2003/file-properties"
_WIN_LEVELS = {"1": "fatal", "2": "error", "3": "warn", "4": "info", "0": "info", "5": "debug"}

_MSG_ID = re.compile(r"MessageId:\s*(\{?[0-9A-Fa-f-]{36}\}?)")
_INSTANCE_ID = re.compile(r"InstanceID:\s*(\{?[0-9A-Fa-f-]{36}\}?)", re.IGNORECASE)
_EXCEPTION_TYPE = re.compile(r"Exception type:\s*([\w.]+)")
_SEND_PORT = re.compile(r"send port \"([^\"]+)\"")
_RECEIVE = re.compile(r"receive location \"([^\"]+)\"")
_ADAPTER = re.compile(r"adapter \"([^\"]+)\"")
_URL = re.compile(r"(?:URI|URL) \"([^\"]+)\"")
_DETAILS = re.compile(r"(?:Error details|Details|Reason|Error Description):\s*(.+)")
_CONTEXT_FILE = re.compile(r"(\{?[0-9A-Fa-f-]{36}\}?)_context\.xml$", re.IGNORECASE)

# Event IDs with a known meaning for the message, beyond their level.
_EVENT_ACTIONS = {
    "5753": ("failed", "failure"), "5754": ("failed", "failure"), "5743": ("retried", "unknown"),
    "5740": ("failed", "failure"), "5719": ("failed", "failure"), "5778": ("failed", "failure"),
    "5813": ("failed", "failure"), "10034": ("failed", "failure"), "10008": ("failed", "failure"),
}


# The first characters of a line ``detect`` may claim (XML, with blanks before it; a level
# then a tab or a comma: the tab and CSV exports; ``Log Name:``/``Event Type:``; JSON ``{``
# and ``[``): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '< EWICVL{['
# A JSON value it claims is an EVTX record (``{"Event":``) or PowerShell's record
# (``"ProviderName"``), keys matched as written: ``collector.detect_prefilter``.
DETECT_NEEDS = {"{": ('"Event"', '"ProviderName"'), "[": ('"ProviderName"',)}


def detect(line: str) -> bool:
    stripped = line.lstrip()
    if stripped.startswith("<MessageInfo"):
        return True
    if _JSON_HEAD.match(stripped):
        # Every Windows event, whatever its source, as the XML export's: one of another
        # source is a dead letter naming it, before the first BizTalk line as after it
        # (``START`` opens a record at each ``{"Event":`` line once the source is biztalk).
        return _WIN_EVENT_NS in line or _JSON_SOURCE.search(line) is not None
    if _PS_HEAD.match(stripped):
        return _PS_SOURCE.search(line) is not None
    if stripped.startswith("<Event") and "schemas.microsoft.com/win/2004/08/events" in line:
        lowered = line.lower()
        return any(f"name='{s}" in lowered or f'name="{s}' in lowered for s in _SOURCES)
    return (_TAB_HEAD.match(line) is not None or _TEXT_HEAD.match(line) is not None
            or _CSV_HEAD.match(line) is not None)


def continues(lines: list[str], line: str) -> bool:
    """A lone ``{`` or ``[`` opens a pretty-printed PowerShell record only after a JSON value
    that has closed: inside a description (a 5754 whose error details hold a response body)
    it is the description's, which goes on to the MessageId and InstanceID."""
    if line.strip() not in ("{", "["):
        return False
    return not (lines[0].lstrip()[:1] in ("{", "[") and lines[-1].rstrip().endswith(("}", "]")))


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if not text or (text.startswith("<?xml") and text.endswith("?>")) or text.startswith(("Level\t", "Level,Date and Time,")):
        return []  # an XML prolog or the export's header row
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[1].strip()
    if text.startswith("<Event"):
        return _win_events(text, ctx)
    if text.startswith("<"):
        root = _xml(text)
        name = local_name(root.tag)
        if name == "MessageInfo":
            return [_context(root, record, ctx)]
        raise ParseError(f"unexpected XML root <{name}>: expected <Event> or <MessageInfo>")
    if _TEXT_HEAD.match(text):
        return [_text_event(text, ctx)]
    if text.startswith(("{", "[")):
        return _json_events(text, ctx)
    return [_tab_event(text, ctx)]


def _text_event(text: str, ctx: ParseContext) -> Event:
    head, found, description = text.partition("\nDescription:")
    if not found:
        raise ParseError("Event Viewer text without a 'Description:' line", field="Description")
    fields: dict[str, str] = {}
    for line in head.splitlines():
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip().lower(), value.strip())
    source = fields.get("source") or fields.get("event source") or ""
    if not source.lower().startswith(_SOURCES):
        raise ParseError(f"event from {source!r}, not a BizTalk source", field="Source")
    time = " ".join(filter(None, (fields.get("date"), fields.get("time")))) or None
    level = fields.get("level") or fields.get("event type") or "Information"
    return _event(ctx, time, normalize_level(level), fields.get("event id", ""), source,
                  description, fields.get("computer"))


def _win_events(text: str, ctx: ParseContext) -> list[Event]:
    """One or more ``<Event>`` elements: ``wevtutil qe /f:xml`` prints them back to back on
    one line. Events of other sources in the batch are not ours; a batch without any
    BizTalk event is an error."""
    batch = _xml(f"<Events>{text}</Events>")
    out: list[Event] = []
    foreign: ParseError | None = None
    for root in batch:
        try:
            out.append(_win_event(root, ctx))
        except ParseError as exc:
            if exc.field != "Provider":
                raise
            foreign = exc
    if not out and foreign is not None:
        raise foreign
    return out


def _xml(text: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ParseError(f"unreadable XML: {exc}") from None


def _event(ctx: ParseContext, time: str | None, level: str, event_id: str, source: str,
           description: str, host: str | None) -> Event:
    ts, estimated = to_ms(time, ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="biztalk.eventlog",
               platform=PLATFORM, level=level, host=host or None)
    ev.message = description.strip()
    set_label(ev, "event_id", event_id)
    set_label(ev, "event_source", source)
    if event_id in _EVENT_ACTIONS:
        ev.action, ev.outcome = _EVENT_ACTIONS[event_id]
    ev.add_id("biztalk.msg", guid(_first(_MSG_ID, description)))
    set_label(ev, "service_instance_id", guid(_first(_INSTANCE_ID, description)))
    send_port = _first(_SEND_PORT, description)
    receive = _first(_RECEIVE, description)
    set_label(ev, "send_port", send_port)
    set_label(ev, "receive_location", receive)
    set_label(ev, "adapter", _first(_ADAPTER, description))
    set_label(ev, "url", _first(_URL, description))
    ev.service = send_port or receive
    if ev.level in ("error", "fatal", "warn") or ev.outcome == "failure":
        details = _first(_DETAILS, description)
        ev.error_message = (details or ev.message.split("\n", 1)[0]).strip()
        ev.error_code = event_id
        ev.error_type = _first(_EXCEPTION_TYPE, description)
    return ev


def _first(rx: re.Pattern, text: str) -> str | None:
    m = rx.search(text)
    if not m:
        return None
    return next((g for g in m.groups() if g), None)


def _win_event(root: ET.Element, ctx: ParseContext) -> Event:
    system = _child(root, "System")
    if system is None:
        raise ParseError("Windows event without <System>", field="System")
    provider = _child(system, "Provider")
    source = attrs(provider).get("Name", "") if provider is not None else ""
    if not source.lower().startswith(_SOURCES):
        raise ParseError(f"event from {source!r}, not a BizTalk source", field="Provider")
    created = _child(system, "TimeCreated")
    time = attrs(created).get("SystemTime") if created is not None else None
    data = _child(root, "EventData")
    parts = [(d.text or "") for d in data if local_name(d.tag) == "Data"] if data is not None else []
    level = _WIN_LEVELS.get(_text(system, "Level"), "info")
    return _event(ctx, time, level, _text(system, "EventID"), source, "\n".join(parts),
                  _text(system, "Computer"))


def _json_events(text: str, ctx: ParseContext) -> list[Event]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"unreadable JSON event: {exc}") from None
    if isinstance(doc, dict) and "Event" in doc:
        return [_json_event(doc, ctx)]
    records = doc if isinstance(doc, list) else [doc]
    sources = [str(r.get("ProviderName") or "") if isinstance(r, dict) else "" for r in records]
    ours = [r for r, source in zip(records, sources, strict=True)
            if source.lower().startswith(_SOURCES)]
    if not ours:
        raise ParseError("JSON without a BizTalk event (expected EVTX JSON {\"Event\": ...} or "
                         "Get-WinEvent records with ProviderName)", field="Provider")
    out = [_ps_event(r, ctx) for r in ours]
    if len(ours) < len(records):
        # Dead-lettered as the XML and EVTX JSON paths do, the BizTalk records kept beside.
        foreign = sorted({s or "?" for s in sources if not s.lower().startswith(_SOURCES)})
        raise ParseError(f"{len(records) - len(ours)} of {len(records)} records not from a "
                         f"BizTalk source ({', '.join(foreign)[:200]})", field="Provider",
                         events=out)
    return out


def _ps_event(record: dict, ctx: ParseContext) -> Event:
    """One ``Get-WinEvent`` record as ``ConvertTo-Json`` writes it; Windows PowerShell gives
    TimeCreated as ``/Date(<epoch ms>)/``, PowerShell 7 as ISO 8601 with its offset. Fluent
    Bit's ``winevtlog`` input (and Winlogbeat's raw record) name the same ``ProviderName``
    but say ``EventID`` and ``Computer`` for ``Id`` and ``MachineName``."""
    time = record.get("TimeCreated")
    if isinstance(time, str) and (epoch := _PS_DATE.fullmatch(time.strip())):
        time = epoch.group(1)
    level = _WIN_LEVELS.get(_json_text(record.get("Level")), "info")
    event_id = _json_text(record.get("Id", record.get("EventID")))
    host = _json_text(record.get("MachineName")) or _json_text(record.get("Computer"))
    return _event(ctx, str(time) if time else None, level, event_id,
                  str(record["ProviderName"]), str(record.get("Message") or ""), host or None)


def _json_event(doc: dict, ctx: ParseContext) -> Event:
    """An EVTX record as JSON (``evtx_dump``): the XML event with attributes under
    ``#attributes`` and an element that has them as ``{"#attributes": ..., "#text": ...}``
    (a classic source's ``EventID`` with its ``Qualifiers``). Unread, such a line went to the
    generic JSON parser and came out an info event without message or time."""
    event = doc.get("Event")
    system = event.get("System") if isinstance(event, dict) else None
    if not isinstance(system, dict):
        raise ParseError("EVTX JSON without Event.System", field="System")
    source = str(_json_attr(system.get("Provider"), "Name") or "")
    if not source.lower().startswith(_SOURCES):
        raise ParseError(f"event from {source!r}, not a BizTalk source", field="Provider")
    level = _WIN_LEVELS.get(_json_text(system.get("Level")), "info")
    time = _json_attr(system.get("TimeCreated"), "SystemTime")
    description = "\n".join(_json_data(event.get("EventData")))
    return _event(ctx, str(time) if time else None, level, _json_text(system.get("EventID")),
                  source, description, _json_text(system.get("Computer")) or None)


def _json_text(value: Any) -> str:
    """An element's text, whether written bare or as ``{"#attributes":..,"#text":..}``."""
    if isinstance(value, dict):
        value = value.get("#text")
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def _json_attr(value: Any, name: str) -> Any:
    attributes = value.get("#attributes") if isinstance(value, dict) else None
    return attributes.get(name) if isinstance(attributes, dict) else None


def _json_data(data: Any) -> list[str]:
    """The ``<Data>`` texts of EventData: a classic source's one unnamed string (``"Data":
    "..."``, ``{"#text": "..."}`` or a list of them); named data as ``Name: value`` lines."""
    if not isinstance(data, dict):
        return []
    out: list[str] = []
    for key, value in data.items():
        if key == "#attributes":
            continue
        if isinstance(value, dict):
            value = value.get("#text")
        values = value if isinstance(value, list) else [value]
        texts = [str(v) for v in values if v is not None and not isinstance(v, dict)]
        out += texts if key == "Data" else [f"{key}: {t}" for t in texts]
    return out


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in elem if local_name(c.tag) == name), None)


def _text(elem: ET.Element, name: str) -> str:
    child = _child(elem, name)
    return (child.text or "").strip() if child is not None else ""


def _tab_event(text: str, ctx: ParseContext) -> Event:
    """A row of Event Viewer's tab-delimited text or CSV export (the same six columns)."""
    delimiter, kind = ("," , "comma") if _CSV_HEAD.match(text) else ("\t", "tab")
    try:
        row = next(csv.reader([text], delimiter=delimiter, quotechar='"', strict=True))
    except (csv.Error, StopIteration) as exc:
        raise ParseError(f"unreadable {kind}-delimited event row: {exc}") from None
    if len(row) < 6:
        raise ParseError(f"expected 6 {kind}-separated columns (Level, Date and Time, Source, "
                         f"Event ID, Task Category, Description), got {len(row)}",
                         field="columns")
    level_text, time, source, event_id, _category, description = row[:6]
    if not source.lower().startswith(_SOURCES):
        raise ParseError(f"event from {source!r}, not a BizTalk source", field="Source")
    return _event(ctx, time, normalize_level(level_text), event_id.strip(), source,
                  description, None)


def _context(root: ET.Element, record: Record, ctx: ParseContext) -> Event:
    info = _child(root, "ContextInfo")
    if info is None:
        raise ParseError("<MessageInfo> without <ContextInfo>", field="ContextInfo")
    props: dict[tuple[str, str], str] = {}
    for prop in info:
        a = attrs(prop)
        if a.get("Name"):
            props[(a.get("Namespace", ""), a["Name"])] = a.get("Value", "")

    def system(name: str) -> str | None:
        return props.get((_SYSTEM_NS, name)) or None

    failure_time = props.get((_ERROR_NS, "FailureTime"))
    ts, estimated = to_ms(failure_time or props.get((_FILE_NS, "FileCreationTime")), ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="biztalk.context",
               platform=PLATFORM)
    file_match = _CONTEXT_FILE.search(record.source)
    ev.add_id("biztalk.msg", guid(file_match.group(1)) if file_match else None)
    ev.add_id("biztalk.msg", guid(props.get((_ERROR_NS, "FailureMessageID"))))
    ev.add_id("biztalk.interchange", guid(system("InterchangeID")))
    ack_of = guid(system("AckID"))
    if ack_of:
        ev.add_id("biztalk.msg", ack_of)
        ack_type = (system("AckType") or "").upper()
        nack = ack_type == "NACK"
        ev.action = "rejected" if nack else "acknowledged"
        ev.outcome = "failure" if nack else "success"
        ev.level = "warn" if nack else "info"
        ev.error_message = system("AckDescription")
        ev.error_code = system("AckFailureCode")
    receive = system("ReceivePortName") or props.get((_ERROR_NS, "ReceivePortName"))
    send = system("SPName") or props.get((_ERROR_NS, "SendPortName"))
    set_label(ev, "receive_port", receive)
    set_label(ev, "send_port", send)
    set_label(ev, "inbound_transport", system("InboundTransportLocation"))
    set_label(ev, "outbound_transport", system("OutboundTransportLocation"))
    set_label(ev, "message_type", system("MessageType"))
    set_label(ev, "service_instance_id", guid(system("WorkflowInstanceID")))
    set_label(ev, "interchange_sequence", system("InterchangeSequenceNumber"))
    ev.service = send or receive
    ev.partner = system("SourcePartyID") or system("DestinationPartyName") or None
    error_type = props.get((_ERROR_NS, "ErrorType"))
    if error_type or props.get((_ERROR_NS, "FailureCode")):
        ev.action, ev.outcome, ev.level = "failed", "failure", "error"
        ev.error_type = error_type
        ev.error_code = props.get((_ERROR_NS, "FailureCode"))
        ev.error_message = props.get((_ERROR_NS, "Description"))
    elif ev.action is None:
        ev.action = "sent" if send else "received"
    for (namespace, name), value in props.items():
        if namespace not in (_SYSTEM_NS, _ERROR_NS, _FILE_NS) and "schemas.microsoft.com" not in namespace:
            business_field(ev, name, value)
    kind = "NACK" if ev.action == "rejected" else ev.action
    ev.message = ev.error_message or f"message {kind} on {ev.service or 'unknown port'}"
    return ev
