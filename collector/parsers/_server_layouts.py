"""Server log layouts the text parser reads whose first line is not ``<date> <time> <level>``:
each has its own way of writing the time, and each is read whole or not at all.

- Apache httpd's error log: ``[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid
  4328636416] [client 72.15.99.187] message`` (2.4; 2.2 has ``[error]`` alone).
- klog/glog (Kubernetes components, ingress controllers, Go services): ``I0301
  10:00:00.123456 1 main.go:42] message``; no year, taken as for syslog (the latest that is
  not in the future).
- WebSphere traditional and Liberty: ``[7/12/05 14:46:00:264 EDT] 0000001a ApplicationMg A
  WSVR0221I: message`` (Liberty: ``[3/1/24, 10:00:00:123 UTC]``). The date is in the
  process's locale: en_US ``M/d/yy`` unless the input's ``date_order`` says otherwise.
- WebLogic server and domain logs: ``####<Mar 1, 2024 10:00:00,123 AM UTC> <Notice>
  <WebLogicServer> <host> <server> <thread> <user> <tx> <ctx> <1709287200123> <...>
  <BEA-000365> <message>``, whose raw time value (epoch ms) is the time; and the
  ``<Mar 1, 2024 ...> <Notice> <Subsystem> <BEA-000365> <message>`` of its standard out,
  read from the locale timestamp.

- Oracle Diagnostic Logging (Oracle SOA Suite, OSB and other Fusion Middleware servers;
  GlassFish and Payara write the same shape): ``[2024-03-01T10:00:00.123+00:00] [soa_server1]
  [ERROR] [SOA-20003] [oracle.soa.bpel.engine] [tid: 12] [userId: <anonymous>] [ecid:
  0000Nabc,0:1] [APP: soa-infra] message``. The ECID (execution context ID) follows a request
  through every Fusion Middleware component, so it is an ``oracle.ecid`` ID (without the
  ``,0:1`` position in the call tree); ``timeMillis`` gives the exact time where written.

A zone written as an abbreviation is read from a short table of unambiguous ones (UTC, GMT,
the North American and central/eastern European zones); any other is the input's zone.
"""

from __future__ import annotations

import re
from datetime import UTC, tzinfo

from collector.event import Event
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext
from collector.parsers._fields import set_label
from collector.timeparse import MONTHS, civil_to_ms, to_ms

DATASET = "generic.text"

_CTIME = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4}"
_KLOG_HEAD = r"[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s+\d+ [^\s\]]+:\d+\] "
_WAS_STAMP = r"\d{1,2}/\d{1,2}/\d{2},? \d{1,2}:\d{2}:\d{2}:\d{3} [\w+:-]+"
# Before AM/PM a space, or U+202F as JDK 20+ (CLDR 42) writes it (WebLogic 14.1.2 on JDK 21).
_WLS_STAMP = (r"[A-Z][a-z]{2,3}\.? \d{1,2}, \d{4},? \d{1,2}:\d{2}:\d{2}(?:[,.]\d{1,3})?[ \u202f]?"
              r"(?:[AP]M)? ?[\w+:-]*")
_ODL_HEAD = r"\[\d{4}-\d{2}-\d{2}T[^\]]{8,40}\] \[[^\]]*\] \[[A-Z_]+(?::\d+)?\] \["
# What opens a record in one of these layouts (a fragment of the text parser's START).
START = (rf"\[{_CTIME}\] \[|{_KLOG_HEAD}|\[{_WAS_STAMP}\] [0-9a-fA-F]{{8}} |"
         rf"(?:####)?<{_WLS_STAMP}> <|{_ODL_HEAD}")

_APACHE = re.compile(
    rf"\[({_CTIME})\]\s*\[(?:(?P<module>[\w-]+):)?(?P<level>emerg|alert|crit|error|warn|notice|"
    r"info|debug|trace\d)\]\s*(?:\[pid (?P<pid>\d+)(?::tid \d+)?\]\s*)?"
    r"(?:\[client (?P<client>[^\]]+)\]\s*)?(?P<msg>.*)$")
_KLOG = re.compile(r"(?P<sev>[IWEF])(?P<mo>\d{2})(?P<d>\d{2}) (?P<clock>[\d:.]+)\s+(?P<pid>\d+) "
                   r"(?P<src>[^\s\]]+:\d+)\] (?P<msg>.*)$")
_KLOG_LEVELS = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WAS = re.compile(
    r"\[(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{2}),? (?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2}):"
    r"(?P<ms>\d{3}) (?P<zone>[\w+:-]+)\] (?P<thread>[0-9a-fA-F]{8}) (?P<logger>\S+)\s+"
    r"(?P<type>[FEWAICDORZ]) (?P<msg>.*)$")
_WAS_LEVELS = {"F": "fatal", "E": "error", "W": "warn", "D": "debug", "R": "warn"}
_WLS = re.compile(rf"(?:####)?<(?P<stamp>{_WLS_STAMP})> <(?P<severity>[^>]*)> <(?P<subsystem>[^>]*)>"
                  r" (?P<rest>.*)$")
_WLS_FIELD = re.compile(r"<((?:[^<>]|<[^<>]*>)*)>")
_WLS_TIME = re.compile(r"(?P<mon>[A-Z][a-z]{2})[a-z]?\.? (?P<d>\d{1,2}), (?P<y>\d{4}),? "
                       r"(?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:[,.](?P<ms>\d{1,3}))?"
                       r"[ \u202f]?(?P<ampm>[AP]M)? ?(?P<zone>[\w+:-]*)")
_ODL = re.compile(r"\[(?P<ts>\d{4}-\d{2}-\d{2}T[^\]]+)\] \[(?P<component>[^\]]*)\] "
                  r"\[(?P<level>[A-Z_]+)(?::\d+)?\] \[(?P<msgid>[^\]]*)\] \[(?P<module>[^\]]*)\]"
                  r"(?P<attrs>(?: \[[\w.-]+: (?:[^\[\]]|\[[^\[\]]*\])*\])*) ?(?P<msg>.*)$")
# "[key: value]"; a value may hold one bracketed part ("[tid: [ACTIVE].ExecuteThread: '7' ...]").
_ODL_ATTR = re.compile(r"\[([\w.-]+): ((?:[^\[\]]|\[[^\[\]]*\])*)\]")
_ODL_LEVELS = {"INCIDENT_ERROR": "fatal", "NOTIFICATION": "info"}
_NUMERIC_ZONE = re.compile(r"[+-]\d{2}:?\d{2}")
_MESSAGE_ID = re.compile(r"[A-Z][A-Z0-9]{2,9}-?\d{4,6}[A-Z]?")
# Zone abbreviations that name one offset; others (IST, CST in China...) are left to the input.
_ZONES = {"UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00", "WET": "+00:00", "WEST": "+01:00",
          "BST": "+01:00", "CET": "+01:00", "CEST": "+02:00", "MET": "+01:00", "MEST": "+02:00",
          "EET": "+02:00", "EEST": "+03:00", "EST": "-05:00", "EDT": "-04:00", "CDT": "-05:00",
          "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00",
          "AKDT": "-08:00", "HST": "-10:00", "JST": "+09:00", "KST": "+09:00",
          "AEST": "+10:00", "AEDT": "+11:00", "NZST": "+12:00", "NZDT": "+13:00"}


def read(head: str, ctx: ParseContext) -> Event | None:
    """The event of a first line in one of these layouts, None for any other line."""
    first = head[:1]
    if first == "[":
        m = _APACHE.match(head)
        if m:
            return _apache(m, ctx)
        m = _ODL.match(head)
        if m:
            return _odl(m, ctx)
        m = _WAS.match(head)
        return _websphere(m, ctx) if m else None
    if first in "IWEF":
        m = _KLOG.match(head)
        return _klog(m, ctx) if m else None
    if first in "#<":
        m = _WLS.match(head)
        return _weblogic(m, ctx) if m else None
    return None


def _event(ts: tuple[int, bool], level: str, message: str) -> Event:
    return Event(timestamp_ms=ts[0], timestamp_estimated=ts[1], dataset=DATASET,
                 platform="generic", action="logged", level=level, message=message.strip())


def _offset(zone: str) -> str | None:
    """The UTC offset a written zone names, None when it names none for sure."""
    return _ZONES.get(zone.upper()) or (zone if _NUMERIC_ZONE.fullmatch(zone) else None)


def _zoned_ms(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int, zone: str,
              ctx: ParseContext) -> tuple[int, bool]:
    """The time in the zone written beside it, or in the input's zone for an unknown one."""
    value = civil_to_ms(y, mo, d, h, mi, s, ms, _offset(zone), ctx.tz)
    return to_ms(None, ctx) if value is None else (value, False)


def _apache(m: re.Match, ctx: ParseContext) -> Event:
    _, mon, day, clock, year = m.group(1).split()
    level = m["level"]
    ev = _event(to_ms(f"{int(day):02d}/{mon}/{year}:{clock}", ctx),
                "debug" if level.startswith("trace") else normalize_level(level), m["msg"])
    ev.service = "httpd"
    set_label(ev, "logger", m["module"])
    set_label(ev, "process_id", m["pid"])
    set_label(ev, "client_ip", m["client"])
    return ev


def _klog(m: re.Match, ctx: ParseContext) -> Event:
    month = int(m["mo"])
    stamp = f"{_MONTH_NAMES[month - 1]} {m['d']} {m['clock']}" if 1 <= month <= 12 else None
    ev = _event(to_ms(stamp, ctx), _KLOG_LEVELS[m["sev"]], m["msg"])
    set_label(ev, "logger", m["src"])
    set_label(ev, "thread", m["pid"])
    return ev


def _odl(m: re.Match, ctx: ParseContext) -> Event:
    attrs = dict(_ODL_ATTR.findall(m["attrs"]))
    millis = attrs.get("timeMillis", "")
    ts = (int(millis), False) if millis.isdigit() else to_ms(m["ts"], ctx)
    level = m["level"]
    message = m["msg"].strip()
    if message.startswith("[[") and message != "[[":  # Payara/GlassFish: [[ text ]]
        message = message[2:].removesuffix("]]").strip()
    ev = _event(ts, _ODL_LEVELS.get(level) or normalize_level(level), message)
    ev.service = attrs.get("APP") or None
    set_label(ev, "component", m["component"])
    set_label(ev, "logger", m["module"])
    set_label(ev, "event_code", m["msgid"])
    set_label(ev, "thread", attrs.get("tid"))
    ecid = attrs.get("ecid", "").split(",", 1)[0].strip()
    ev.add_id("oracle.ecid", ecid or None)
    return ev


def _websphere(m: re.Match, ctx: ParseContext) -> Event:
    a, b = int(m["a"]), int(m["b"])
    month, day = (b, a) if ctx.date_order == "dmy" else (a, b)
    ev = _event(_zoned_ms(2000 + int(m["y"]), month, day, int(m["h"]), int(m["mi"]),
                          int(m["s"]), int(m["ms"]), m["zone"], ctx),
                _WAS_LEVELS.get(m["type"], "info"), m["msg"])
    set_label(ev, "logger", m["logger"])
    set_label(ev, "thread", m["thread"])
    message_code(ev)
    return ev


def message_code(ev: Event) -> None:
    """The message ID a Java server writes before its text (``WSVR0221I:``, ActiveMQ
    Artemis's ``AMQ221007:``, WildFly's ``WFLYSRV0025:``, Hibernate's ``HHH000412:``) as
    ``labels.event_code``, and as the error code of a warning or an error."""
    code = _MESSAGE_ID.match(ev.message)
    if code is None or ev.message[code.end():][:1] != ":":
        return
    set_label(ev, "event_code", code.group(0))
    if ev.level in ("warn", "error", "fatal"):
        ev.error_code = code.group(0)


def _weblogic(m: re.Match, ctx: ParseContext) -> Event:
    fields = _WLS_FIELD.findall(m["rest"])
    raw = next((int(f) for f in fields if f.isdigit() and len(f) == 13), None)
    shown = _weblogic_stamp(m["stamp"], None)
    # The stamp as shown, to the millisecond from the raw time value (epoch ms) when both
    # say the same second; the raw value alone when the stamp's zone or language is unknown;
    # without a raw value (standard out), an unknown zone is the input's.
    if shown is not None and raw is not None and abs(raw - shown) < 1000:
        ts = (raw, False)
    elif shown is not None or raw is not None:
        ts = (shown if shown is not None else raw, False)
    else:
        local = _weblogic_stamp(m["stamp"], ctx.tz)
        ts = (local, False) if local is not None else to_ms(None, ctx)
    rest = m["rest"].rstrip()
    # A message that goes on over the next lines leaves its last field open on this one.
    message = fields[-1] if fields and rest.endswith(">") else rest[rest.rfind("<") + 1:]
    ev = _event(ts, normalize_level(m["severity"]), message)
    set_label(ev, "logger", m["subsystem"])
    code = next((f for f in fields if _MESSAGE_ID.fullmatch(f)), None)
    set_label(ev, "event_code", code)
    if raw and len(fields) >= 4:  # the log file's layout: machine, server, thread first
        ev.host = fields[0] or None
        ev.service = fields[1] or None
        set_label(ev, "thread", fields[2] or None)
    return ev


def _weblogic_stamp(stamp: str, default_tz: tzinfo | None) -> int | None:
    """``Mar 1, 2024 10:00:04,250 AM UTC`` in epoch ms; None unless the month is known and
    the zone is, or ``default_tz`` stands for an unknown one (the stamp is in the server's
    locale and zone)."""
    t = _WLS_TIME.match(stamp)
    month = MONTHS.get(t["mon"].lower()) if t else None
    offset = _offset(t["zone"] or "") if t else None
    if t is None or month is None or (offset is None and default_tz is None):
        return None
    hour = int(t["h"]) % 12 + (12 if t["ampm"] == "PM" else 0) if t["ampm"] else int(t["h"])
    return civil_to_ms(int(t["y"]), month, int(t["d"]), hour, int(t["mi"]), int(t["s"]),
                       int(((t["ms"] or "0") + "00")[:3]), offset, default_tz or UTC)
