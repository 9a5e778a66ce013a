"""IBM App Connect Enterprise / Integration Bus: BIP messages and monitoring events.

- BIP messages (``BIPnnnnS: text``, S = I/W/E/S) wherever they are written: the integration
  server console (``2024-03-01 10:15:32.123456: BIP2152I: ...``), syslog on Linux/AIX
  (``Mar  1 10:15:32 host ACE[1234]: IBM App Connect Enterprise v120010 (NODE.server)
  [Thread 88] (Msg 1/2) BIP2628W: ...``), exported Windows event text, and the JSON log
  format of IBM's products (``ibmjson``, ACE in containers: ``{"type":"ace_message",
  "ibm_datetime":...,"ibm_messageId":"BIP2152I","message":...,"host":...,
  "ibm_serverName":...}``), whose server, host, process and thread are kept; the
  container's own lines in it (``ace_containerlog``, no BIP code) are ``ace.log`` events.
- Monitoring events, XML in both schemas ACE emits: MonitoringEventV2 (``mon:event``, the
  ACE default) and WMBEvent (``wmb:event``, IIB 10 compatible); namespace prefixes are
  ignored. Pretty-printed events span lines and are framed from their root element.

Transaction IDs become typed IDs: ``ace.gtid:`` for the global transaction ID (set when the
flow propagates one) and ``ace.ltid:`` for the local and parent transaction IDs, because the
global one is often empty and the local one is what ties a flow's events together.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import orjson

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError, first_classes_but
from collector.parsers._fields import attrs, business_field, local_name, set_label
from collector.timeparse import to_ms

NAME = "ace"
PLATFORM = "ace"
MAX_COMPLEX_LEAVES = 50

_BIP = re.compile(r"\bBIP(\d{4,5})([IWES])\b:?\s*")
_EVENT_ROOT = re.compile(r"\s*<(?:\w+:)?event[\s>]")
START = re.compile(
    r"\s*<(?:\?xml|(?:\w+:)?event[\s>])"
    r"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
    r"|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} "
    r"|BIP\d{4}"
    r"|\{.*(?:\"IBM App Connect Enterprise\"|\"type\":\"ace_|\"ibm_messageId\":\"BIP)"  # ibmjson
)
_CONSOLE_TS = re.compile(r"(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
                         r":?\s")
# BSD syslog ("Mar  1 10:15:32 host ACE[1234]: ") or rsyslog's RFC 3339 stamps
# ("2025-10-29T16:20:55.279063-05:00 host ACE[99982]: ", its default on current distributions).
_SYSLOG = re.compile(r"([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|"
                     r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) "
                     r"(\S+) ([\w.-]+)(?:\[\d+\])?: ")
# The stamp of IBM's container logger in text mode (ace-docker, mq-container: Go's
# "2006-01-02T15:04:05.000Z07:00", then a space).
CONTAINER_TS = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(?:Z|[+-]\d{2}:\d{2})) ")
# How the container's logger words a failure (``log.Error``/``Errorf`` and
# ``logTermination`` lines: "Error ...", "Failed to ...", "Cannot ...").
_CONTAINER_FAILURE = re.compile(r"(?:error|failed|fatal|unable|cannot|could not)\b", re.I)
_NODE_SERVER = re.compile(r"\(([\w.-]+?)(?:\.([\w.-]+))?\)\s+\[Thread \d+\]")
_FLOW_NODE = re.compile(r"(?:message flow|node) '([^'.]+\.[^']+)'")
_LEVELS = {"I": "info", "W": "warn", "E": "error", "S": "fatal"}
_TERMINAL_ACTIONS = {
    "transaction.start": ("received", "unknown"), "transaction.end": ("completed", "success"),
    "transaction.rollback": ("failed", "failure"), "terminal.failure": ("failed", "failure"),
    "terminal.catch": ("failed", "failure"), "terminal.error": ("failed", "failure"),
}


# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
# JSON: what ``detect`` looks for in it; any other line but XML (blanks or "<" first): a BIP
# message number.
DETECT_NEEDS = {**dict.fromkeys(first_classes_but(" <{"), ("BIP",)),
                "{": ('"IBM App Connect Enterprise"', '"type":"ace_', '"ibm_messageId":"BIP')}


def detect(line: str) -> bool:
    if _EVENT_ROOT.match(line):
        return "ibm.com/xmlns" in line or "monitoring" in line
    if line[:1] == "{":
        return ('"IBM App Connect Enterprise"' in line or '"type":"ace_' in line
                or '"ibm_messageId":"BIP' in line)
    head = line[:400]
    # The substring test first: auto-detection asks this of every line of every other
    # format, and the regex search alone cost more than all other parsers' detects together.
    return "BIP" in head and _BIP.search(head) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if not text or (text.startswith("<?xml") and text.endswith("?>")):
        return []
    if text.startswith("<"):
        return [_monitoring_event(text, ctx)]
    if text.startswith("{"):
        return [_ibm_json(text, ctx)]
    return [_bip(text, ctx)]


# --- BIP messages ------------------------------------------------------------------------

def _syslog_line(syslog: re.Match, text: str, ctx: ParseContext) -> Event:
    """A syslog line without a BIP code: the integration node's own free text, or another
    program writing to the same syslog file (systemd, cron...). Kept as an event of its program
    rather than dead-lettered, which would count every neighbour's line as a parse failure."""
    ts, estimated = to_ms(syslog.group(1), ctx)
    program = syslog.group(3)
    ours = program.upper().startswith(("ACE", "IIB", "WMB", "MQSI", "BIP"))
    return Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="syslog",
                 platform=PLATFORM if ours else "generic", host=syslog.group(2),
                 service=program, message=text[syslog.end():].strip(), action="logged")


def container_line(stamp: re.Match, text: str, ctx: ParseContext, *, dataset: str,
                   platform: str) -> Event:
    """A container's own line in its ``LOG_FORMAT=basic`` console (IBM's container logger, ACE
    and MQ alike: ``2024-03-01T10:15:30.101Z Starting integration server``): the
    ``*_containerlog`` record of the JSON console without its level, so a failure is told by
    its first word. Such lines were dead-lettered, on every start of every server."""
    ts, estimated = to_ms(stamp.group(1), ctx)
    message = text[stamp.end():].strip()
    failed = _CONTAINER_FAILURE.match(message) is not None
    return Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=dataset,
                 platform=platform, level="error" if failed else "info", message=message,
                 error_message=message.split("\n", 1)[0] if failed else None,
                 action=None if failed else "logged")


def _bip(text: str, ctx: ParseContext) -> Event:
    m = _BIP.search(text)
    if m is None:
        syslog = _SYSLOG.match(text)
        if syslog is not None:
            return _syslog_line(syslog, text, ctx)
        container = CONTAINER_TS.match(text)
        if container is not None:
            return container_line(container, text, ctx, dataset="ace.log", platform=PLATFORM)
        raise ParseError("no BIP message code (BIPnnnnI/W/E/S) in the record", field="code")
    prefix = text[: m.start()]
    time = host = None
    syslog = _SYSLOG.match(prefix)
    console = _CONSOLE_TS.match(prefix)
    if syslog:
        time, host = syslog.group(1), syslog.group(2)
    elif console:
        time = console.group(1)
    ts, estimated = to_ms(time, ctx)
    code = f"BIP{m.group(1)}{m.group(2)}"
    message = text[m.end():].strip()
    level = _LEVELS[m.group(2)]
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="ace.bip",
               platform=PLATFORM, level=level, host=host, message=f"{code}: {message}")
    ev.error_code = code if level in ("warn", "error", "fatal") else None
    set_label(ev, "bip", code)
    node = _NODE_SERVER.search(prefix)
    if node:
        set_label(ev, "integration_node", node.group(1))
        set_label(ev, "integration_server", node.group(2))
        ev.service = node.group(2) or node.group(1)
    flow = _FLOW_NODE.search(message)
    if flow:
        set_label(ev, "message_flow_node", flow.group(1))
    if level in ("error", "fatal"):
        ev.error_message = message.split(" : ", 1)[0].split("\n", 1)[0]
    else:
        ev.action = "logged"
    return ev


def ibm_json(text: str) -> dict:
    """One record of IBM's JSON log format (``ibmjson``: App Connect, MQ) as an object; it
    must carry its message."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("message"), str):
        raise ParseError("an IBM JSON log record needs a message", field="message")
    return doc


def _ibm_json(text: str, ctx: ParseContext) -> Event:
    """One record of IBM's JSON log format: the BIP message as the console writes it, with
    the record's own time, and where it ran."""
    doc = ibm_json(text)
    message, code = doc["message"], str(doc.get("ibm_messageId") or "")
    if code and not message.startswith(code):
        message = f"{code}: {message}"
    if _BIP.search(message):
        ev = _bip(f"{doc.get('ibm_datetime') or ''}: {message}", ctx)
    else:  # the container's own lines (type ace_containerlog): no BIP code, a log level
        ts, estimated = to_ms(doc.get("ibm_datetime"), ctx)
        ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="ace.log",
                   platform=PLATFORM, level=normalize_level(str(doc.get("loglevel") or "info")),
                   message=message.strip(), action="logged")
    ev.host = str(doc["host"]) if doc.get("host") else ev.host
    server = doc.get("ibm_serverName")
    if server:
        ev.service = str(server)
        set_label(ev, "integration_server", server)
    set_label(ev, "process_id", doc.get("ibm_processId"))
    set_label(ev, "thread_id", doc.get("ibm_threadId"))
    return ev


# --- monitoring events -------------------------------------------------------------------

def _find(root: ET.Element, name: str) -> ET.Element | None:
    for elem in root.iter():
        if local_name(elem.tag) == name:
            return elem
    return None


def _monitoring_event(text: str, ctx: ParseContext) -> Event:
    if text.startswith("<?xml"):
        text = text.split("?>", 1)[-1]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ParseError(f"unreadable monitoring event XML: {exc}") from None
    if local_name(root.tag) != "event":
        raise ParseError(f"unexpected XML root <{local_name(root.tag)}>: expected a monitoring "
                         f"<event> (MonitoringEventV2 or WMBEvent)")
    data = _find(root, "eventData")
    ident = _find(root, "eventIdentity")
    seq = _find(root, "eventSequence")
    corr = _find(root, "eventCorrelation")
    if ident is None or seq is None:
        raise ParseError("monitoring event without eventIdentity/eventSequence",
                         field="eventSequence")
    seq_a = attrs(seq)
    ts, estimated = to_ms(seq_a.get("creationTime"), ctx)
    ev_name = attrs(ident).get("eventName", "")
    source_address = attrs(data).get("eventSourceAddress", "") if data is not None else ""
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="ace.monitoring",
               platform=PLATFORM, message=ev_name or source_address)
    set_label(ev, "event_name", ev_name)
    set_label(ev, "event_source", source_address)
    set_label(ev, "counter", seq_a.get("counter"))
    if corr is not None:
        c = attrs(corr)
        ev.add_id("ace.gtid", c.get("globalTransactionId"))
        ev.add_id("ace.ltid", c.get("localTransactionId"))
        ev.add_id("ace.ltid", c.get("parentTransactionId"))
    _flow_data(ev, root)
    _actions(ev, source_address)
    app = _find(root, "applicationData")
    if app is not None:
        _application_data(ev, app)
    bits = _find(root, "bitstreamData")
    if bits is not None:
        payload = next((c for c in bits if local_name(c.tag) == "bitstream"), bits)
        if payload.text and payload.text.strip():
            ev.payload_bytes = len(payload.text.strip()) * 3 // 4
    return ev


def _flow_data(ev: Event, root: ET.Element) -> None:
    for name, label in (("broker", "integration_node"), ("integrationNode", "integration_node"),
                        ("executionGroup", "integration_server"),
                        ("integrationServer", "integration_server"),
                        ("application", "application"), ("messageFlow", "message_flow")):
        elem = _find(root, name)
        if elem is not None:
            a = attrs(elem)
            set_label(ev, label, a.get("name"))
            if a.get("hostName"):
                ev.host = a["hostName"]
    node = _find(root, "node")
    if node is not None:
        a = attrs(node)
        set_label(ev, "node_label", a.get("nodeLabel"))
        set_label(ev, "node_type", a.get("nodeType"))
        set_label(ev, "terminal", a.get("terminal"))
        set_label(ev, "node_detail", a.get("detail"))
    ev.service = ev.labels.get("application") or ev.labels.get("message_flow")


def _actions(ev: Event, source_address: str) -> None:
    lowered = source_address.lower()
    for suffix, (action, outcome) in _TERMINAL_ACTIONS.items():
        if lowered.endswith(suffix):
            ev.action, ev.outcome = action, outcome
            break
    else:
        node_type = ev.labels.get("node_type", "")
        terminal = ev.labels.get("terminal", "")
        if "Output" in node_type or ("Request" in node_type and terminal == "in"):
            ev.action = "sent"
        elif "Input" in node_type:
            ev.action = "received"
        else:
            ev.action = "logged"
    if ev.outcome == "failure":
        ev.level = "error"
        ev.error_message = f"{ev.message} ({source_address})"


def _application_data(ev: Event, app: ET.Element) -> None:
    for elem in app.iter():
        name = local_name(elem.tag)
        if name == "simpleContent":
            a = attrs(elem)
            business_field(ev, a.get("name") or a.get("elementName") or "",
                           a.get("value") or a.get("elementValue"))
        elif name == "complexContent":
            _complex(ev, elem)


def _complex(ev: Event, elem: ET.Element) -> None:
    """Leaves of a complexContent subtree, bounded, as business fields by leaf name."""
    seen = 0
    for leaf in elem.iter():
        if leaf is elem or len(leaf):
            continue
        value = (leaf.text or "").strip()
        if value:
            business_field(ev, local_name(leaf.tag), value)
            seen += 1
            if seen >= MAX_COMPLEX_LEAVES:
                return
