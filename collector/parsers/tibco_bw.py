"""TIBCO ActiveMatrix BusinessWorks engine logs (BW 5 and BW 6 / BusinessWorks Container
Edition).

- BW 5 writes its engine log (``<engine>.log``, and the console) as::

      2004 Jun 08 10:59:42:312 GMT -7 BW.Order-Process Info [BW-Core] BWENGINE-300001 Process Engine ...
      2008 Jun 26 13:36:17:734 GMT -5 BW.Order-Process User [BW-User] - Job-48000 [Processes/Log.process/Log]: text

  the time in the engine's zone, its offset written after ``GMT`` (hours, ``-7``); the engine
  (``BW.<process archive>``); the level (Info, Warn, Error, Debug, and User for the Write
  to Log activity); the role; the message code (``-`` for a user message); the job it ran
  in (``Job-7000``, numbered per engine, so its ID is the engine's job: ``tibco.job``
  ``BW.Order-Process/Job-7000``); the activity's path in brackets; the message, an error's
  going on over the lines after it.
- BW 6 AppNodes and BWCE containers log through logback
  (``%d{yyyy-MM-dd HH:mm:ss,SSS} %-5level [%thread] %logger{36} - %msg%n``), a layout the
  ``text`` format reads. Its engine's lines are told by the engine's threads
  (``[bwEngThread:In-Memory Process Worker-1]``) or the product's message codes starting the
  message (``- TIBCO-BW-CORE-500050:``, ``- TIBCO-THOR-FRWK-300006:``), and get the platform, the code,
  the job (``JobId [bw0a10114]``, a ``tibco.job`` ID) and the application
  (``Application [orderapp:1.0]``). Other lines of the same file are the text format's.
"""

from __future__ import annotations

import re

from collector.event import Event, Record
from collector.parsers import text
from collector.parsers._base import ParseContext
from collector.parsers._fields import java_tail, set_label
from collector.timeparse import MONTHS, civil_to_ms, to_ms

NAME = "tibco-bw"
DATASET = "tibco.bw"
PLATFORM = "tibco"

_BW5 = re.compile(
    r"(?P<y>\d{4}) (?P<mon>[A-Z][a-z]{2}) (?P<d>\d{2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2}):"
    r"(?P<ms>\d{3}) GMT (?P<off>[+-]?\d{1,2})(?::?(?P<offmin>\d{2}))? (?P<engine>\S+) "
    r"(?P<level>Info|Warn|Warning|Error|Debug|User) \[(?P<role>[^\]]*)\] (?P<code>\S+)"
    r"(?: (?P<job>Job-\d+))?(?: (?P<msg>.*))?$")
_BW5_HEAD = r"\d{4} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}:\d{3} GMT [+-]?\d"
_LEVELS = {"Info": "info", "User": "info", "Warn": "warn", "Warning": "warn", "Error": "error",
           "Debug": "debug"}
# The activity: "Error in [Processes/Order.process/HTTP Receiver]", or "[Processes/Log.process/
# Log]: " before the text a Write to Log activity wrote.
_ACTIVITY = re.compile(r"\[(?P<path>[^\[\]]*?(?P<process>[^/\[\]]+\.process)(?:/[^\[\]]*)?)\]:? ?")
# BW 6: what marks the engine's lines in a logback layout ("[thread] logger - message"): an
# engine thread, or a product code starting the message. A code quoted further on ("fault
# TIBCO-BW-CORE-500050 from order service" in a Spring or Mule line) is another product's line.
_BW6_MARKS = ("bwEngThread", "TIBCO-BW-", "TIBCO-THOR-")
_BW6_LINE = re.compile(r"\[bwEngThread[:\]]|\]\s+[\w.$]+\s+-\s+TIBCO-(?:BW|THOR)(?:-[A-Z]+)+-\d{5,6}:")
_BW6_CODE = re.compile(r"(TIBCO-[A-Z]+(?:-[A-Z]+)*-\d{5,6}):")
_BW6_JOB = re.compile(r"\bJobId \[([^\]\s]+)\]")
_BW6_APP = re.compile(r"\bApplication \[([^\]:\s]+)(?::[^\]]*)?\]")
_BW6_PROCESS = re.compile(r"\bBW process \[([^\]]+)\]")

# A BW 5 head, or a line the text format starts a record with (BW 6's logback lines, and the
# other loggers of an AppNode's log).
START = re.compile(rf"{_BW5_HEAD}|{text.START.pattern}")

# The first characters of a line ``detect`` may claim: a year ("0" stands for any digit), or
# the bracket the text format allows before a stamp.
DETECT_FIRST = "0["
# Substrings one of which every line ``detect`` claims holds (``collector.detect_prefilter``).
DETECT_NEEDS = {"0": ("GMT", *_BW6_MARKS), "[": _BW6_MARKS}


def detect(line: str) -> bool:
    if _BW5.match(line):
        return True
    return _BW6_LINE.search(line) is not None and text.detect(line)


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    head, _, rest = record.text.partition("\n")
    m = _BW5.match(head.rstrip())
    if m:
        return [_bw5(m, rest, ctx)]
    events = text.parse(record, ctx)  # BW 6, or another logger of the same file
    if _BW6_LINE.search(head):
        for ev in events:
            _bw6(ev)
    return events


def _bw5(m: re.Match, rest: str, ctx: ParseContext) -> Event:
    month = MONTHS.get(m["mon"].lower())
    hours = int(m["off"])
    minutes = int(m["offmin"] or 0)
    offset = f"{'-' if m['off'].startswith('-') else '+'}{abs(hours):02d}:{minutes:02d}"
    ms = month and civil_to_ms(int(m["y"]), month, int(m["d"]), int(m["h"]), int(m["mi"]),
                               int(m["s"]), int(m["ms"]), offset, ctx.tz)
    ts, estimated = (ms, False) if ms is not None else to_ms(None, ctx)
    level = _LEVELS[m["level"]]
    message = (m["msg"] or "").strip()
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=DATASET,
               platform=PLATFORM, level=level, action="logged")
    engine = m["engine"]
    ev.service = engine.removeprefix("BW.") or None
    set_label(ev, "bw_engine", engine)
    set_label(ev, "bw_role", m["role"])
    code = m["code"] if m["code"] != "-" else None
    set_label(ev, "event_code", code)
    if code and level in ("warn", "error", "fatal"):
        ev.error_code = code
    if m["job"]:
        ev.add_id("tibco.job", f"{engine}/{m['job']}")
    activity = _ACTIVITY.search(message)
    if activity:
        set_label(ev, "bw_activity", activity["path"])
        set_label(ev, "bw_process", activity["process"])
        if activity.start() == 0:  # Write to Log: the text after the activity is the message
            message = message[activity.end():]
    ev.message = message
    java_tail(ev, message, rest)
    if level == "error" and ev.error_message is None:
        ev.error_message = rest.strip().split("\n", 1)[0] or message
    return ev


def _bw6(ev: Event) -> None:
    ev.dataset, ev.platform = DATASET, PLATFORM
    code = _BW6_CODE.match(ev.message)
    if code:
        set_label(ev, "event_code", code.group(1))
        if ev.level in ("warn", "error", "fatal"):
            ev.error_code = code.group(1)
    job = _BW6_JOB.search(ev.message)
    if job:
        ev.add_id("tibco.job", job.group(1))
    app = _BW6_APP.search(ev.message)
    if app:
        ev.service = app.group(1)
    process = _BW6_PROCESS.search(ev.message)
    if process:
        set_label(ev, "bw_process", process.group(1))
