"""The Java Service Wrapper's own lines (Tanuki), in the logs of the runtimes it keeps
running: Mule standalone (``mule_ee.log``), ActiveMQ, SAP Commerce. The JVM's lines in the
same file are unwrapped by ``collector.envelopes`` and read by their own parser; these are
the wrapper speaking for itself::

    STATUS | wrapper  | 2024/03/01 10:00:00 | --> Wrapper Started as Daemon
    ERROR  | wrapper  | 2024/03/01 11:42:17 | JVM appears hung: Timed out waiting for signal from JVM.
    STATUS | wrapper  | 2024/03/01 11:42:23 | Launching a JVM...

They are when the runtime stopped, hung, crashed or was restarted, which no line of the
runtime's own says (it is gone by then). The time is the wrapper's local time. A hung or
crashed JVM is an error whatever column it was logged in, with error class ``resource``
(an out-of-memory JVM is the usual cause of both).
"""

from __future__ import annotations

import re

from collector.envelopes import WRAPPER
from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.timeparse import to_ms

NAME = "java-wrapper"
DATASET = "java_wrapper.log"
START = re.compile(r"[A-Z]+ *\| wrapper *\|")
_LEVELS = {"STATUS": "info", "ADVICE": "warn", "NOTICE": "info"}
_TROUBLE = re.compile(r"JVM (?:appears hung|exited unexpectedly|exited while loading|did not "
                      r"exit|process is gone)|Timed out waiting for signal|restart(?:ing)? "
                      r"(?:the )?JVM|OutOfMemoryError", re.IGNORECASE)


# The first characters of a line ``detect`` may claim (START: ``[A-Z]+ *|``; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'


def detect(line: str) -> bool:
    return START.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    m = WRAPPER.match(record.text)
    if m is None or m["source"] != "wrapper":
        raise ParseError("not a Java Service Wrapper line (expected 'LEVEL | wrapper | "
                         "yyyy/MM/dd HH:mm:ss | message')")
    stamp = m["time"].replace("/", "-", 2)
    ts, estimated = to_ms(stamp, ctx)
    message = record.text[m.end():].strip()
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=DATASET,
               platform="generic", service="java-service-wrapper", message=message,
               level=_LEVELS.get(m["level"]) or normalize_level(m["level"]), action="logged")
    if _TROUBLE.search(message):
        ev.level, ev.outcome, ev.action = "error", "failure", None
        ev.error_message, ev.error_class = message, "resource"
    return [ev]
