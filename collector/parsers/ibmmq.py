"""IBM MQ queue manager error logs: where ACE, BizTalk and Mule integrations learn why a
channel ended, a queue filled up or a connection was refused.

Both layouts the queue manager writes:

- ``AMQERR01.LOG`` (text; ``errors/`` of the queue manager, or of the installation when no
  queue manager is known). A record is a header line ``03/22/2019 08:17:30 AM -
  Process(16296.7) User(mqm) Program(amqrmppa)``, indented ``Name(value)`` lines (Host, VRMF,
  QMgr, and since 9.0 ``Time(2022-06-28T18:23:34.836Z)`` in UTC, RemoteHost, inserts), the
  message ``AMQ9999E: ...`` (wrapped over lines), ``EXPLANATION:``, ``ACTION:`` and a
  closing ``----- amqccita.c : 4482 -----`` line naming the source module. The header's date
  is the queue manager's local time in the US layout (two- or four-digit year); ``Time()``
  wins when present.
- ``AMQERR01.json`` and the MQ container's console (``"type":"mq_log"``, IBM's JSON log
  format, as ACE's ``ibmjson``): ``ibm_messageId``, ``ibm_datetime``, ``ibm_serverName``,
  ``loglevel``, ``module``, ``ibm_remoteHost``... The container's own lines
  (``mq_containerlog``) have no AMQ code and keep their log level.
- The MQ container's ``LOG_FORMAT=basic`` console: each JSON record as ``ibm_datetime
  message`` (``2024-03-01T10:15:32.000Z AMQ9209E: Connection to host ...``); the container's
  own lines there have no level.

The message identifier's suffix (MQ 9.0.3+) is the severity: I, W, E, S, T. Older releases
write none; the wording then tells an error from a notice. The channel, queue, remote host
and MQ reason code (``2035``, ``MQRC_NOT_AUTHORIZED``) are kept as labels (``channel``,
``queue``, ``mq_object``, ``remote_host``, ``mq_reason``) so broker trouble lines up with the flows using
that channel; the queue manager is the service.
"""

from __future__ import annotations

import re

from collector import datasets
from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import set_label
from collector.parsers.ace import CONTAINER_TS, container_line, ibm_json
from collector.timeparse import civil_to_ms, to_ms

NAME = "ibmmq"
DATASET = datasets.IBMMQ_ERROR_LOG
PLATFORM = "ibmmq"

_HEADER = re.compile(
    r"(?P<mo>\d{2})/(?P<d>\d{2})/(?P<y>\d{2}|\d{4}) (?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?: (?P<ampm>[AP]M))? - (?P<attrs>Process\(.*)$")
START = re.compile(r"\d{2}/\d{2}/\d{2,4} \d{1,2}:\d{2}:\d{2}(?: [AP]M)? - Process\(|\{.*\"type\":"
                   r"\s*\"mq_|" + CONTAINER_TS.pattern)
# An MQ message in the container's basic console: the stamp, then the AMQ code.
_BASIC_AMQ = re.compile(CONTAINER_TS.pattern + r"AMQ\d{4,5}[IWEST]?: ")
_ATTR = re.compile(r"(\w+)\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_CODE = re.compile(r"^(AMQ\d{4,5})([IWEST])?: ", re.MULTILINE)
_SECTION = re.compile(r"^(EXPLANATION|ACTION):\s*$", re.MULTILINE)
_MODULE = re.compile(r"^-{3,} (\S+) : (\d+) -+\s*$", re.MULTILINE)
_LEVELS = {"I": "info", "W": "warn", "E": "error", "S": "fatal", "T": "fatal"}
_FAILURE = re.compile(r"ended abnormally|error|fail|timed out|not authori[sz]ed|denied|"
                      r"unable|cannot|could not|rejected|not valid|full", re.IGNORECASE)
_CHANNEL = re.compile(r"\bchannel '([^']+)'", re.IGNORECASE)
_QUEUE = re.compile(r"\bqueue '([^']+)'", re.IGNORECASE)
_OBJECT = re.compile(r"\bobject '([^']+)'", re.IGNORECASE)
_REASON = re.compile(r"\b(MQRC_[A-Z_]+)|\breason code (\d{4})\b|\((\d{4})\) \(X'[0-9A-F]+'\)")


# The first characters of a line ``detect`` may claim (JSON, or START's date; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = '{0'
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
DETECT_NEEDS = {"{": ('"type":"mq_',)}


def detect(line: str) -> bool:
    if line[:1] == "{":
        return '"type":"mq_' in line and '"ibm_' in line
    if not line[:1].isdigit():
        return False
    if line[4:5] == "-":  # the container's basic console: only its AMQ lines are MQ's alone
        return _BASIC_AMQ.match(line) is not None
    return START.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.strip()
    if text.startswith("{"):
        return [_json_record(text, ctx)]
    basic = CONTAINER_TS.match(text)
    if basic is not None:
        return [_basic_record(basic, text, ctx)]
    return [_text_record(text, ctx)]


def _basic_record(stamp: re.Match, text: str, ctx: ParseContext) -> Event:
    """A line of the MQ container's ``LOG_FORMAT=basic`` console: ``ibm_datetime`` and the
    message of the JSON record it mirrors (``formatSimple``), an AMQ message or the
    container's own line. Read as text it lost the AMQ severity (AMQ9209E stored as info);
    with the format named the whole console was one dead letter."""
    message = text[stamp.end():].strip()
    code = _CODE.match(message)
    if code:
        ts, estimated = to_ms(stamp.group(1), ctx)
        return _event(code.group(1), code.group(2), message[code.end():].strip(), ts, estimated)
    return container_line(stamp, text, ctx, dataset="ibmmq.container", platform=PLATFORM)


def _text_record(text: str, ctx: ParseContext) -> Event:
    head, _, rest = text.partition("\n")
    m = _HEADER.match(head)
    if m is None:
        raise ParseError("not an MQ error log entry (expected 'MM/DD/YYYY HH:MM:SS AM - "
                         "Process(pid.tid) User(...) Program(...)')", field="@timestamp")
    code = _CODE.search(rest)
    if code is None:
        raise ParseError("MQ error log entry without an AMQnnnn message", field="code")
    attrs = dict(_ATTR.findall(m["attrs"] + " " + rest[:code.start()]))
    if attrs.get("Time"):
        ts, estimated = to_ms(attrs["Time"], ctx)
    else:
        ts, estimated = _header_ms(m, ctx), False
    body = rest[code.end():]
    sections = _SECTION.search(body)
    message = " ".join((body[:sections.start()] if sections else body).split())
    ev = _event(code.group(1), code.group(2), message, ts, estimated)
    if sections:
        _sections(ev, body[sections.start():])
    module = _MODULE.search(body)
    if module:
        set_label(ev, "mq_module", f"{module.group(1)}:{module.group(2)}")
    _where(ev, qmgr=attrs.get("QMgr"), host=attrs.get("Host"), program=attrs.get("Program"),
           user=attrs.get("User"), process=attrs.get("Process"), version=attrs.get("VRMF"),
           remote=attrs.get("RemoteHost"))
    return ev


def _header_ms(m: re.Match, ctx: ParseContext) -> int:
    """The header's local time: two-digit years are this century's, AM/PM is 12-hour."""
    year = int(m["y"]) + (2000 if len(m["y"]) == 2 else 0)
    hour = int(m["h"])
    if m["ampm"]:
        hour = hour % 12 + (12 if m["ampm"] == "PM" else 0)
    ms = civil_to_ms(year, int(m["mo"]), int(m["d"]), hour, int(m["mi"]), int(m["s"]), 0,
                     None, ctx.tz)
    if ms is None:
        raise ParseError(f"impossible date in {m.group()[:30]!r}", field="@timestamp")
    return ms


def _sections(ev: Event, text: str) -> None:
    """EXPLANATION and ACTION, each up to the next section or the closing module line."""
    parts = _SECTION.split(_MODULE.split(text, 1)[0])
    for name, value in zip(parts[1::2], parts[2::2], strict=False):
        set_label(ev, f"mq_{name.lower()}", " ".join(value.split()))


def _json_record(text: str, ctx: ParseContext) -> Event:
    doc = ibm_json(text)
    ts, estimated = to_ms(doc.get("ibm_datetime"), ctx)
    message = doc["message"].strip()
    code = _CODE.match(message)
    if code:
        ev = _event(code.group(1), code.group(2), message[code.end():].strip(), ts, estimated)
        if doc.get("loglevel") and not code.group(2):
            ev.level = normalize_level(str(doc["loglevel"]))
    else:  # the container's own lines (mq_containerlog)
        ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset="ibmmq.container",
                   platform=PLATFORM, level=normalize_level(str(doc.get("loglevel") or "info")),
                   message=message, action="logged")
    set_label(ev, "mq_module", doc.get("module"))
    _where(ev, qmgr=doc.get("ibm_serverName"), host=doc.get("host"),
           program=doc.get("ibm_processName"), user=doc.get("ibm_userName"),
           process=doc.get("ibm_processId"), version=doc.get("ibm_version"),
           remote=doc.get("ibm_remoteHost"))
    return ev


def _event(code: str, severity: str | None, message: str, ts: int, estimated: bool) -> Event:
    level = _LEVELS[severity] if severity else ("error" if _FAILURE.search(message) else "info")
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=DATASET,
               platform=PLATFORM, level=level, message=f"{code}{severity or ''}: {message}")
    set_label(ev, "mq_message_id", f"{code}{severity or ''}")
    if level in ("warn", "error", "fatal"):
        ev.error_code = code
    if level in ("error", "fatal"):
        ev.error_message = message
    else:
        ev.action = "logged"
    channel = _CHANNEL.search(message)
    set_label(ev, "channel", channel.group(1) if channel else None)
    queue = _QUEUE.search(message)
    set_label(ev, "queue", queue.group(1) if queue else None)
    target = _OBJECT.search(message)  # authority errors name the queue (or topic) as "object"
    set_label(ev, "mq_object", target.group(1) if target else None)
    reason = _REASON.search(message)
    if reason:
        set_label(ev, "mq_reason", next(g for g in reason.groups() if g))
    return ev


def _where(ev: Event, *, qmgr: object, host: object, program: object, user: object,
           process: object, version: object, remote: object) -> None:
    """Where the entry was written, the same labels from both layouts."""
    if qmgr:
        ev.service = str(qmgr)
        set_label(ev, "queue_manager", qmgr)
    ev.host = str(host) if host else None
    set_label(ev, "mq_program", program)
    set_label(ev, "mq_user", user)
    set_label(ev, "process_id", process)
    set_label(ev, "mq_version", version)
    set_label(ev, "remote_host", remote)
