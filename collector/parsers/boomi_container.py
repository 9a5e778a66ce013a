"""Boomi runtime container logs (Atom, Molecule, Atom Cloud: ``logs/container.*.log``).

java.util.logging lines, as the runtime writes them::

    Jan 7, 2020 12:11:08 PM EST SEVERE  [com.boomi.container.core.FeatureManagerImpl
    downloadUpdateArchive] Request to update Atom URI https://... failed with a status of
    Connection Error (1000) Unable to connect to the remote server. Connection refused

(one line), then the lines that belong to it: an exception and its stack trace, blank lines.
Process logs say how one execution went; the container log says how the runtime is doing:
connectivity to the platform, updates, low memory, listeners, connector errors. The class
and method in brackets become ``labels.logger`` and ``labels.method``; an execution ID in the
text (``execution-<uuid>-<date>``) becomes the ``boomi.exec`` ID that process logs carry, so
the runtime's complaint about an execution joins its trace.

The time zone is the runtime JVM's, written as the JDK's short name or, for a zone without
one, as ``GMT+05:30``: offsets and the common North and South American, European, Indian,
Asian and Australian names are read; any other means the configured default. Levels: SEVERE error, WARNING warn, INFO info, CONFIG and FINE* debug.
"""

from __future__ import annotations

import re

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import JAVA_EXCEPTION, head_match, set_label
from collector.timeparse import MONTHS, civil_to_ms

NAME = "boomi-container"
DATASET = "boomi.container"
_LEVEL = r"(?:SEVERE|WARNING|INFO|CONFIG|FINE|FINER|FINEST)"
# Before AM/PM a space, or U+202F as the JDK writes it from JDK 20 (CLDR 42) on.
START = re.compile(rf"[A-Z][a-z]{{2}} \d{{1,2}}, \d{{4}} \d{{1,2}}:\d{{2}}:\d{{2}}[ \u202f][AP]M "
                   rf"(?:\S+ )?{_LEVEL}\s+\[")

_LINE = re.compile(r"(?P<mon>[A-Z][a-z]{2}) (?P<d>\d{1,2}), (?P<y>\d{4}) (?P<h>\d{1,2}):"
                   r"(?P<mi>\d{2}):(?P<s>\d{2})[ \u202f](?P<ampm>[AP]M) (?:(?P<zone>\S+) )?"
                   rf"(?P<level>{_LEVEL})\s+\[(?P<logger>[\w.$]+)(?: (?P<method>[^\]]*))?\] ?"
                   r"(?P<msg>.*)$")
_ZONES = {
    "UTC": "+00:00", "GMT": "+00:00", "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00",
    "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00",
    "CET": "+01:00", "CEST": "+02:00", "BST": "+01:00", "IST": "+05:30", "AEST": "+10:00",
    "AEDT": "+11:00",
    # The JDK's short names of other zones runtimes are often set to (Asia/Singapore,
    # Asia/Tokyo, America/Sao_Paulo...); CST stays North American.
    "SGT": "+08:00", "HKT": "+08:00", "AWST": "+08:00", "JST": "+09:00", "KST": "+09:00",
    "ACST": "+09:30", "ACDT": "+10:30", "NZST": "+12:00", "NZDT": "+13:00", "BRT": "-03:00",
    "ART": "-03:00", "EET": "+02:00", "EEST": "+03:00", "WET": "+00:00", "WEST": "+01:00",
    "MSK": "+03:00", "SAST": "+02:00", "HST": "-10:00", "AKST": "-09:00", "AKDT": "-08:00",
}
# A zone the JDK has no short name for, or a custom offset (-Duser.timezone=GMT+05:30), is
# written as its offset from GMT: ``GMT+05:30``, ``GMT-03:00``.
_GMT_OFFSET = re.compile(r"(?:GMT|UTC)([+-]\d{2}:\d{2})")
_EXEC_ID = re.compile(r"execution-[0-9a-fA-F-]{36}-\d{4}\.\d{2}\.\d{2}")


# The first characters of a line ``detect`` may claim (START: ``[A-Z][a-z]{2}``, a month; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'


def detect(line: str) -> bool:
    return START.match(line) is not None


def _offset(zone: str | None) -> str | None:
    """The offset a JVM's zone name stands for; None (the configured default) if unknown."""
    if not zone:
        return None
    gmt = _GMT_OFFSET.fullmatch(zone)
    return gmt.group(1) if gmt else _ZONES.get(zone)


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    m, rest = head_match(record.text, _LINE, "a Boomi container log line (expected 'MMM d, "
                         "yyyy h:mm:ss AM ZONE LEVEL [class method] message')")
    hour = int(m["h"]) % 12 + (12 if m["ampm"] == "PM" else 0)
    ts = civil_to_ms(int(m["y"]), MONTHS.get(m["mon"].lower(), 0), int(m["d"]), hour, int(m["mi"]),
                     int(m["s"]), 0, _offset(m["zone"]), ctx.tz)
    if ts is None:
        raise ParseError(f"impossible date in {m.group()[:40]!r}", field="@timestamp")
    ev = Event(timestamp_ms=ts, dataset=DATASET, platform="boomi", action="logged",
               level=normalize_level(m["level"]), message=m["msg"].strip(),
               service="boomi-runtime")
    set_label(ev, "logger", m["logger"])
    set_label(ev, "method", m["method"])
    found = _EXEC_ID.search(record.text)
    if found:
        ev.add_id("boomi.exec", found.group())
    rest = rest.strip("\n")
    if rest:
        exc = JAVA_EXCEPTION.search(rest)
        if exc:
            ev.error_type = exc.group(1)
            ev.error_message = (exc.group(2) or "").strip() or None
        ev.error_stack_trace = rest
    if ev.level in ("error", "fatal") and ev.error_message is None:
        ev.error_message = ev.message
    return [ev]
