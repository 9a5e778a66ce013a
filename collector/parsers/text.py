"""Timestamped text logs of the services around the platforms, read when no parser of their
own claims them: custom integration services and brokers write Log4j 2, Logback,
java.util.logging or JBoss (WildFly, Red Hat Fuse, Quarkus) layouts, Spring Boot its console layout, Python its ``logging`` default,
Go its ``log`` package, and hosts syslog. Without this parser those lines only reached the
dead-letter index; now they are searchable events (dataset ``generic.text`` or
``generic.syslog``, platform ``generic``) that correlate by the IDs their messages name.

A record starts with a timestamp at the start of a line:

- ``2024-03-01 10:00:00,123``, ISO 8601 with ``T`` and zone (or ``UTC``), ``2024/03/01
  10:00:00``, ``01-Mar-2024 10:00:00.123``, each optionally in brackets;
- Logback's default ``10:00:00.123 [thread] LEVEL``, whose day is the day it is read, or the
  day before for a time later than that;
- Spark's and Hadoop's ``17/06/09 20:10:40 INFO`` and HDFS's ``081109 203615 148 INFO``, taken
  only with the level word after them (Spark's date is yy/MM/dd unless the input's
  ``date_order`` says otherwise); ``31/12/2024 10:00:00 ERROR`` likewise, day and month told
  apart by a value over 12 or by ``date_order``, refused when neither settles them;
- Jetty's ``2024-03-01 10:00:00.123:INFO:oejs.Server:main: message``;
- java.util.logging's SimpleFormatter default, ``Mar 18, 2024 6:52:42 PM class method`` with
  ``SEVERE: message`` on the next line (no zone written: the input's);
- the server layouts of ``collector.parsers._server_layouts`` (Apache httpd error log, klog,
  WebSphere, WebLogic, Oracle ODL);
- a syslog header (RFC 3164 ``Mar  1 10:00:00 host app[pid]:``, whose year is the latest that
  is not in the future, RFC 5424 ``<34>1 2024-03-01T10:00:00Z host app pid msgid -``).

Lines without one continue the record
before them: a stack trace gives the error type and message, other lines extend the message.

The layouts differ in where the level, logger and thread sit, so the first line is read by
landmarks rather than one pattern per layout: the first level word near the start (``INFO``,
``[WARN]``, ``| ERROR |``, java.util.logging's ``SEVERE``), then the Spring Boot separator
``--- [thread] logger : message`` or a Log4j/Logback ``[thread] logger - message`` when they
follow. Business IDs come from ``name=value`` / ``name: value`` pairs in the message whose name
says what they are (``correlationId=``, ``orderId:``, ``x-request-id=``), as for JSON logs.

Ranked last in auto-detection: every specific format is asked first.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import islice

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers import _server_layouts as server_layouts
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import UUID, id_kind, java_tail, set_label
from collector.timeparse import MONTHS, civil_to_ms, to_ms

NAME = "text"
DATASET = "generic.text"
EXECUTION_DATASET = "apigw.aws_execution"
SYSLOG_DATASET = "generic.syslog"
# A catch-all (collector.parse): in auto mode a line it would start a record with goes to any
# specific format that claims it, and it does not cut into an open record of a format with a
# START (a payload line under a Mule line may begin with a timestamp; before this parser no
# one claimed such lines, and they stay where they were).
GENERIC = True

_ISO = (r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?"
        r"(?: ?(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)(?![\w:]))?")
_JUL = r"\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?"
_BSD = r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"
# Logback's default layout has the time of day only: "10:00:00.123 [main] INFO  c.e.Foo - ...";
# taken only with the thread and level after it, since a bare time starts many other lines.
_CLOCK = r"\d{2}:\d{2}:\d{2}[.,]\d{3}"
_LOGBACK_DEFAULT = rf"{_CLOCK} \[[^\]]*\] +(?:TRACE|DEBUG|INFO|WARN|ERROR)\b"
# Jetty's StdErrLog: "2024-03-01 10:00:00.123:INFO:oejs.Server:main: message".
_JETTY_HEAD = rf"{_ISO}:(?:TRACE|DEBUG|INFO|WARN|ERROR) ?:"
# Spark's and Hadoop's log4j default "%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m" and HDFS's
# "yyMMdd HHmmss <thread> LEVEL logger: message": a two-digit year is ambiguous alone, so the
# date is taken only with a level word right after it (the order is the input's date_order).
_SHORT_DATE = r"\d{2}/\d{2}/(?:\d{4}|\d{2}) \d{2}:\d{2}:\d{2}(?:[.,]\d{3})?"
_COMPACT_DATE = r"\d{6} \d{6}"
_BIG_DATA = (rf"(?:{_SHORT_DATE} |{_COMPACT_DATE} (?:\d+ )?)"
             r"(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\b")
# java.util.logging's SimpleFormatter default (the JDK's own format): the time in the JVM's
# zone, unwritten, and the source "class method" on one line; "LEVEL: message" on the next.
_JUL_SIMPLE = (r"(?P<mon>[A-Z][a-z]{2}) (?P<d>\d{1,2}), (?P<y>\d{4}) (?P<h>\d{1,2}):(?P<mi>\d{2}):"
               r"(?P<s>\d{2})[ \u202f](?P<ampm>[AP]M) (?P<logger>[\w.$]+)(?: (?P<method>[\w$<>]+))?")
_JUL_SIMPLE_HEAD = re.compile(rf"{_JUL_SIMPLE}\s*$")
_JUL_SIMPLE_LEVEL = re.compile(r"(SEVERE|WARNING|INFO|CONFIG|FINEST|FINER|FINE): (.*)$")
# AWS API Gateway's execution log (CloudWatch group API-Gateway-Execution-Logs_<api>/<stage>):
# "(<request id>) Method request path: {...}", one line per step of a request, the time in
# CloudWatch's metadata (written before the line where it was exported: "<ISO time> (<id>)
# ..."). The ID is the access log's $context.requestId: ``aws.request``, so both join.
_EXECUTION = re.compile(rf"\((?P<request>{UUID.pattern})\) (?P<msg>.*)$")
_EXTENDED_ID = re.compile(r"Extended Request Id: ([\w+/=-]{8,44})\s*$")
_COMPLETED = re.compile(r"Method completed with status: (\d{3})\b")
_FAILED = ("Execution failed", "Lambda execution failed", "Endpoint request timed out")
# ActiveMQ Artemis's audit log ("%d [AUDIT](%t) %s%E%n"): the thread in parentheses (they hold
# parentheses of their own), then the AMQ601xxx message: "User guest(guest)@10.0.0.5:51234 is
# creating a core session ...". The user and where from are labels.
_AUDIT = re.compile(r"\[AUDIT\]\((?P<thread>(?:[^()]|\([^()]*\))*)\) (?P<msg>.*)$")
_AUDIT_USER = re.compile(r"AMQ\d{6}: User (?P<user>[^\s(]+)(?:\([^)]*\))?@(?P<client>[^\s:]+(?::\d+)?)")
START = re.compile(rf"\[?(?:{_ISO}|{_JUL})\]?(?:\s|$)|(?:<\d{{1,3}}>)?(?:1 {_ISO}|{_BSD}) \S|"
                   rf"\({UUID.pattern}\) |"
                   rf"{_LOGBACK_DEFAULT}|{_JETTY_HEAD}|{_BIG_DATA}|"
                   rf"{server_layouts.START}|{_JUL_SIMPLE}\s*$")
_JETTY = re.compile(r":(?P<level>[A-Z]+) ?:(?P<logger>[^:\s]+):(?P<thread>[^:]*): ?(?P<msg>.*)$")

_STAMP = re.compile(rf"\[?(?P<ts>{_ISO}|{_JUL})\]?\s*|(?P<clock>{_CLOCK}) (?=\[)|"
                    rf"(?P<short>{_SHORT_DATE}) |(?P<compact>{_COMPACT_DATE}) (?:(?P<pid>\d+) )?")
_RFC5424 = re.compile(
    rf"<(?P<pri>\d{{1,3}})>1 (?P<ts>{_ISO}|-) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    r"(?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$")
_RFC3164 = re.compile(
    rf"(?:<(?P<pri>\d{{1,3}})>)?(?P<ts>{_BSD}) (?P<host>\S+) (?P<app>[^\s:\[]+)"
    r"(?:\[(?P<procid>[^\]]*)\])?: ?(?P<msg>.*)$")
# A level word near the start of the line, bare or in brackets or pipes.
_LEVEL = re.compile(
    r"(?<![\w-])(TRACE|DEBUG|FINEST|FINER|FINE|CONFIG|INFO|NOTICE|WARNING|WARN|ERROR|ERR|"
    r"SEVERE|CRITICAL|FATAL)(?![\w-])\]?\s*")
_LEVEL_WINDOW = 64
# Spring Boot: "12345 --- [app] [thread] [traceId-spanId] logger   : message" (the app name
# since 3.2, the trace context when Micrometer Tracing is on; both optional). Spring Cloud
# Sleuth's level pattern puts "[app,traceId,spanId,exportable]" before the PID instead (Sleuth
# 3 and services that copied it: "[app,traceId,spanId]"; "[app,,]" outside a span).
_SPRING = re.compile(
    r"(?:\[(?P<sleuth_app>[^,\]]*),(?P<sleuth_trace>[0-9a-fA-F]{16}|[0-9a-fA-F]{32})?,"
    r"(?P<sleuth_span>[0-9a-fA-F]{16})?(?:,[^\]]*)?\]\s+)?"
    r"(?:\d+\s+)?---\s+(?:\[(?P<app>[^\]]*)\]\s+)?\[\s*(?P<thread>(?!\s*[0-9a-fA-F]{32}-)[^\]]*)\]\s+"
    r"(?:\[\s*(?:(?P<trace>[0-9a-fA-F]{32})-(?P<span>[0-9a-fA-F]{16}))?\s*\]\s+)?"
    r"(?P<logger>\S+)\s+:\s(?P<msg>.*)$")
# Log4j / Logback: "[thread] logger - message", "logger:42 - message", "logger: message"
# (Hadoop, Kafka clients); java.util.logging (Tomcat): "[thread] logger message".
_JAVA = re.compile(r"(?:\[(?P<thread>[^\]]*)\]\s+)?(?P<logger>[\w.$]+(?::\d+)?)(?:\s+[-:|]|:)\s"
                   r"(?P<msg>.*)$")
_JUL_TAIL = re.compile(r"\[(?P<thread>[^\]]*)\]\s+(?P<logger>[\w.$]+)\s(?P<msg>.*)$")
# JBoss / WildFly / Red Hat Fuse and Quarkus (Camel Quarkus): "[logger] (thread) message";
# ActiveMQ Artemis's "%d %-5p [%c] %s%e%n" (log4j2 since 2.27: "%d %-5p [%c] %m%n") leaves the
# thread out: "[org.apache.activemq.artemis.core.server] AMQ221007: Server is now live", its
# bracket a package or class name (dotted, lower case first), never a thread's.
_JBOSS_TAIL = re.compile(r"\[(?P<logger>[\w.$]+)\]\s+\((?P<thread>(?:[^()]|\([^()]*\))*)\)\s"
                         r"(?P<msg>.*)$")
_BRACKETED_LOGGER = re.compile(r"\[(?P<logger>[a-z_$][\w$]*(?:\.[\w$]+)+)\]\s+(?P<thread>)"
                               r"(?P<msg>.*)$")
_LEADING_SEPARATORS = re.compile(r"^[\s|:-]+")
# "name=value" or "name: value"; a value that is itself "name=" is the next pair's name
# ("rejected: orderId=PO-1" names an order, not a rejection).
_PAIR = re.compile(r"(?<![\w.-])([A-Za-z][\w.-]{1,40})\s*[=:]\s*[\"']?"
                   r"(?![\w.-]+\s*=)([\w.:@/+-]{1,128})")
# The last line of a Python traceback: "PermissionError: [Errno 13] Permission denied".
_PYTHON_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))"
                           r"(?::\s*(.*))?$", re.MULTILINE)
_SEVERITIES = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")
_JUL_MONTH = re.compile(r"(\d{2})-([A-Z][a-z]{2})-(\d{4}) ")
_MAX_PAIRS = 32
_CLOCK_SKEW_MS = 300_000  # a clock this far ahead of the reader is still today
_NOT_MINE = ("not a timestamped log line (expected a date and time, or an RFC 3164 / RFC 5424 "
             "syslog header, at its start)")


def detect(line: str) -> bool:
    return START.match(line) is not None


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    head, _, rest = record.text.partition("\n")
    head = head.rstrip()
    jul = _JUL_SIMPLE_HEAD.match(head)
    if jul:
        ev, rest = _jul_simple(jul, rest, ctx)
    else:
        ev = server_layouts.read(head, ctx) or _timestamped(head, ctx)
    wrapped = ev.message == "[["  # ODL (Payara, GlassFish) puts a long message in [[ ... ]]
    if wrapped:
        ev.message, rest = "", rest.rstrip().removesuffix("]]")
    if rest.startswith("Traceback (most recent call last):"):
        _python_traceback(ev, rest)
    else:
        java_tail(ev, ev.message, rest)
    if wrapped:
        ev.message = ev.message.strip()
    _pairs(ev, ev.message)
    if ev.level in ("error", "fatal") and ev.error_message is None:
        ev.error_message = ev.message.split("\n", 1)[0]
    return [ev]


def _timestamped(head: str, ctx: ParseContext) -> Event:
    if head[:1] == "<" or head[:1].isalpha():  # timestamps start with a digit or "["
        return _syslog(head, ctx)
    if head[:1] == "(" and (step := _EXECUTION.match(head)):
        return _execution(step, to_ms(None, ctx))
    return _application(head, ctx)


def _execution(step: re.Match, stamp: tuple[int, bool]) -> Event:
    """A line of API Gateway's execution log: the request's ID (and its extended ID) as the
    access log names them; a step that failed, or a 4xx/5xx completion, is a failure."""
    message = step["msg"].strip()
    ev = Event(timestamp_ms=stamp[0], timestamp_estimated=stamp[1], dataset=EXECUTION_DATASET,
               platform="apigw", action="logged", message=message)
    ev.add_id("aws.request", step["request"])
    extended = _EXTENDED_ID.match(message)
    if extended:
        ev.add_id("aws.request", extended.group(1))
    completed = _COMPLETED.match(message)
    if completed:
        set_label(ev, "http_status", completed.group(1))
        ev.outcome = "failure" if completed.group(1) >= "400" else "success"
        ev.action = "completed"
    if message.startswith(_FAILED):
        ev.level, ev.outcome, ev.action = "error", "failure", None
    return ev


def _audit(audit: re.Match, ev: Event) -> Event:
    """Artemis's audit line: who did what (``AMQ601xxx`` as the event code), on which thread."""
    ev.message = audit["msg"].strip()
    set_label(ev, "thread", audit["thread"].strip())
    user = _AUDIT_USER.match(ev.message)
    if user:
        set_label(ev, "user", user["user"])
        set_label(ev, "client", user["client"])
    if "security check failure" in ev.message:  # AMQ601264: refused, not an error of the log
        ev.outcome, ev.error_class = "failure", "auth"
    server_layouts.message_code(ev)
    return ev


def _jul_simple(head: re.Match, rest: str, ctx: ParseContext) -> tuple[Event, str]:
    """SimpleFormatter's two-line record: the event, and what follows its level line."""
    hour = int(head["h"]) % 12 + (12 if head["ampm"] == "PM" else 0)
    month = MONTHS.get(head["mon"].lower())
    ms = month and civil_to_ms(int(head["y"]), month, int(head["d"]), hour, int(head["mi"]),
                               int(head["s"]), 0, None, ctx.tz)
    ev = Event(timestamp_ms=ms if ms is not None else to_ms(None, ctx)[0],
               timestamp_estimated=ms is None, dataset=DATASET, platform="generic",
               action="logged")
    set_label(ev, "logger", head["logger"])
    set_label(ev, "method", head["method"])
    first, _, after = rest.partition("\n")
    level = _JUL_SIMPLE_LEVEL.match(first.rstrip())
    if level is None:
        return ev, rest
    ev.level = normalize_level(level.group(1))
    ev.message = level.group(2).strip()
    return ev, after


def _python_traceback(ev: Event, rest: str) -> None:
    """A traceback as ``logging.exception`` writes it: the stack, and the exception on its
    last line."""
    ev.error_stack_trace = rest.rstrip()
    found = _PYTHON_ERROR.findall(rest)
    if found:
        ev.error_type, message = found[-1]
        ev.error_message = message.strip() or None


def _application(head: str, ctx: ParseContext) -> Event:
    m = _STAMP.match(head)
    if m is None:
        raise ParseError(_NOT_MINE, field="@timestamp")
    if m["ts"]:
        ts, estimated = to_ms(_readable(m["ts"]), ctx)
    elif m["clock"]:
        ts, estimated = _clock_ms(m["clock"], ctx)
    else:
        ts, estimated = _slashed_date_ms(m["short"] or m["compact"], ctx)
    body = head[m.end():]
    if body[:1] == "(" and (step := _EXECUTION.match(body)):
        return _execution(step, (ts, estimated))
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=DATASET,
               platform="generic", action="logged")
    if body[:7] == "[AUDIT]" and (audit := _AUDIT.match(body)):
        return _audit(audit, ev)
    jetty = _JETTY.match(body) if body[:1] == ":" else None
    if jetty:
        ev.level = normalize_level(jetty["level"])
        ev.message = jetty["msg"].strip()
        set_label(ev, "logger", jetty["logger"])
        set_label(ev, "thread", jetty["thread"])
        return ev
    level = _LEVEL.search(body, 0, _LEVEL_WINDOW)
    if level is None:
        ev.message = body.strip()
        return ev
    ev.level = normalize_level(level.group(1))
    before, tail = body[:level.start()].strip(), body[level.end():]
    if before == "|":
        _pipes(ev, tail)
        return ev
    thread = before[1:-1] if before[:1] == "[" and before[-1:] == "]" else None
    layout = _SPRING.match(tail) or (_java_layout(tail) if not before or thread else None)
    if layout is not None:
        ev.message = layout["msg"].strip()
        set_label(ev, "logger", layout["logger"])
        if layout.re is _SPRING:
            ev.service = layout["app"] or layout["sleuth_app"] or None
            trace = layout["trace"] or layout["sleuth_trace"]
            span = layout["span"] or layout["sleuth_span"]
            ev.trace_id = trace and trace.lower()
            ev.span_id = span and span.lower()
        thread = layout["thread"] or thread
    else:
        # Python's "time - logger - LEVEL - message" puts the logger before the level.
        logger = before.strip(" -")
        set_label(ev, "logger", logger if logger and " " not in logger else None)
        ev.message = _LEADING_SEPARATORS.sub("", tail).strip()
    set_label(ev, "thread", thread.strip() if thread else m["pid"])
    server_layouts.message_code(ev)
    return ev


def _java_layout(tail: str) -> re.Match | None:
    """What follows the level in a Log4j, Logback, java.util.logging or JBoss layout. A
    bracket before a dotted logger is the thread (``[main.worker] c.e.Foo - message``);
    a dotted bracket before anything else is the logger (JBoss, Artemis): read as a
    ``[thread] logger:`` Artemis's lines had their logger as thread and ``AMQ221007`` as
    logger."""
    java = _JAVA.match(tail)
    if java and "." in java["logger"]:
        return java
    return (_JBOSS_TAIL.match(tail) or _BRACKETED_LOGGER.match(tail) or java
            or _JUL_TAIL.match(tail))


# Karaf's bundle column, "%X{bundle.id} - %X{bundle.name} - %X{bundle.version}" (" -  - "
# on a thread outside any bundle).
_KARAF_BUNDLE = re.compile(r"\s*\d*\s*- .*-\s*\S*\s*")


def _pipes(ev: Event, tail: str) -> None:
    """ActiveMQ's ``time | LEVEL | message | logger | thread``, or Apache Karaf's (Camel on
    Karaf, Red Hat Fuse, ServiceMix) ``time | LEVEL | thread | logger | bundle | message``,
    told apart by Karaf's bundle column."""
    karaf = tail.lstrip("| ").split(" | ", 3)
    if len(karaf) == 4 and _KARAF_BUNDLE.fullmatch(karaf[2]):
        thread, logger, bundle, ev.message = (part.strip() for part in karaf)
        set_label(ev, "thread", thread)
        set_label(ev, "logger", logger)
        set_label(ev, "bundle", bundle if bundle.strip(" -") else None)
        return
    parts = tail.lstrip("| ").rsplit(" | ", 2)
    ev.message = parts[0].strip()
    if len(parts) == 3:
        set_label(ev, "logger", parts[1].strip())
        set_label(ev, "thread", parts[2].strip())


def _clock_ms(clock: str, ctx: ParseContext) -> tuple[int, bool]:
    """A time of day on the day it was read (the zone's), or the day before when that would
    be later than the reading: a log written before midnight and read after it."""
    day = datetime.fromtimestamp(ctx.now_ms / 1000, tz=ctx.tz)
    h, mi, rest = clock.split(":")
    ms = civil_to_ms(day.year, day.month, day.day, int(h), int(mi), int(rest[:2]),
                     int(rest[3:6]), None, ctx.tz)
    if ms is None:
        return to_ms(None, ctx)
    return (ms - 86_400_000 if ms > ctx.now_ms + _CLOCK_SKEW_MS else ms), False


_DATE_ORDERS = {"ymd": (0, 1, 2), "dmy": (2, 1, 0), "mdy": (2, 0, 1)}
_YMD = (0, 1, 2)


def _slashed_date_ms(stamp: str, ctx: ParseContext) -> tuple[int, bool]:
    """``17/06/09 20:10:40`` (Spark's yy/MM/dd unless ``ctx.date_order`` says otherwise),
    ``31/12/2024 10:00:00,123`` (day and month in ``date_order``, or told apart by a field
    over 12) or HDFS's ``170609 201040`` (always yyMMdd). Years 69-99 are the 1900s, as POSIX
    ``%y`` reads them. A date whose order nothing settles is refused, never guessed."""
    date, clock = stamp.split(" ")
    if "/" not in date:
        parts, order = [date[0:2], date[2:4], date[4:6]], "ymd"
    else:
        parts = date.split("/")
        order = _year_last(parts, ctx.date_order) if len(parts[2]) == 4 else ctx.date_order
    y, mo, d = (int(parts[i]) for i in _DATE_ORDERS.get(order, _YMD))
    if y < 100:
        y += 1900 if y >= 69 else 2000
    digits = clock.replace(":", "")
    ms = civil_to_ms(y, mo, d, int(digits[0:2]), int(digits[2:4]), int(digits[4:6]),
                     int((digits[7:] + "000")[:3]), None, ctx.tz)
    return to_ms(None, ctx) if ms is None else (ms, False)


def _year_last(parts: list[str], date_order: str) -> str:
    """dmy or mdy for ``dd/mm/yyyy``: the input's date_order, or the field over 12."""
    if date_order in ("dmy", "mdy"):
        return date_order
    if int(parts[0]) > 12:
        return "dmy"
    if int(parts[1]) > 12:
        return "mdy"
    raise ParseError(f"ambiguous date {'/'.join(parts)}: day/month or month/day; set the "
                     f"input's date_order to dmy or mdy", field="@timestamp")


def _readable(stamp: str) -> str:
    """The timestamp in a layout ``timeparse`` reads: Go's slashes as dashes, and
    java.util.logging's ``01-Mar-2024 10:00:00`` as the common log format's day/month/year."""
    if stamp[4:5] == "/":
        return f"{stamp[:4]}-{stamp[5:7]}-{stamp[8:]}"
    jul = _JUL_MONTH.match(stamp)
    if jul:
        return f"{jul[1]}/{jul[2]}/{jul[3]}:{stamp[jul.end():]}"
    return stamp


def _syslog(head: str, ctx: ParseContext) -> Event:
    m = _RFC5424.match(head) or _RFC3164.match(head)
    if m is None:
        raise ParseError(_NOT_MINE, field="@timestamp")
    stamp = m["ts"]
    ts, estimated = to_ms(None if stamp == "-" else stamp, ctx)
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=SYSLOG_DATASET,
               platform="generic", action="logged", message=(m["msg"] or "").strip())
    ev.host = _nil(m["host"])
    ev.service = _nil(m["app"])
    set_label(ev, "process_id", _nil(m["procid"]))
    groups = m.groupdict()
    set_label(ev, "syslog_msgid", _nil(groups.get("msgid")))
    if m["pri"] is not None:
        pri = int(m["pri"])
        ev.level = _SEVERITIES[pri % 8]
        set_label(ev, "syslog_facility", pri // 8)
    else:
        level = _LEVEL.search(ev.message, 0, _LEVEL_WINDOW)
        if level:
            ev.level = normalize_level(level.group(1))
    return ev


def _nil(value: str | None) -> str | None:
    """RFC 5424 writes ``-`` for a field it has no value for."""
    return None if value in (None, "-") else value


def _pairs(ev: Event, message: str) -> None:
    """Typed IDs from ``name=value`` pairs whose name says what the value is."""
    if "=" not in message and ":" not in message:
        return
    # The whole message (up to a 1 MiB line): an ID logged after a long payload still joins
    # its trace, even where the stored message is cut (collector.normalize.MAX_MESSAGE).
    for name, value in (m.groups() for m in islice(_PAIR.finditer(message), _MAX_PAIRS)):
        kind = id_kind(name)
        if kind:
            ev.add_id(kind, value.rstrip(".,;:"))
