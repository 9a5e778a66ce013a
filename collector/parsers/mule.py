"""Mule 4 runtime logs (``mule_ee.log`` and the per-application logs), as log4j2 writes them.

Layouts read:

- ``%-5p %d [%t] [processor: %X{processorPath}; event: %X{correlationId}] %c: %m%n``, the
  default of new projects, and its ``[event: %X{correlationId}]`` variant (docs example);
- ``%-5p %d [%t] [%MDC] %c: %m%n``, the logging-context layout of the Mule 4.4 docs, which
  prints the whole MDC (``[{correlationId=..., processorPath=..., myVar=...}]``);
- ``%-5p %d [%t] %c: %m%n``, lines written outside an event (deployment, start-up);
- ``%d [%t] %-5p %c - %m%n``, the classic layout found in older ``mule_ee.log`` setups;
- ``[%d{MM-dd HH:mm:ss}] %-5p %c{1} [%t]: %m%n``, the layout of the appenders that apps on
  CloudHub configure to ship their logs elsewhere (no year: the latest one that does not put
  the line in the future, as for BSD syslog).

Mule 3's lines (``%-5p %d [%t] %c: %m%n``) name their app only in the thread's ``[app].``.

A record is the log line plus its continuation lines: Java stack traces, Mule's
``Message : ... Error type : HTTP:CONNECTIVITY`` error blocks, ``****`` deployment banners
and the pretty-printed JSON of the JSON Logger (handed to ``mule_json.apply_doc``).
Banners become platform-health events (``labels.mule_lifecycle``): a started or deployed
application is a success, not an error; only failed deployments are failures.
"""

from __future__ import annotations

import re

import orjson

from collector.event import Event, Record
from collector.normalize import normalize_level
from collector.parsers import _apikit as apikit
from collector.parsers import mule_json, text
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._fields import MAX_LABEL_VALUE, business_field, set_label
from collector.timeparse import second_ms, to_ms

NAME = "mule"
DATASET = "mulesoft.runtime"

_LEVEL = r"(?P<level>TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)"
# Each level ``_LEVEL`` matches, normalized once.
_LEVEL_OF = {name: normalize_level(name)
             for name in ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL")}
_DATE = (r"(?P<date>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:[,.](?P<ms>\d{1,6}))?"
         r"(?P<zone>Z|[+-]\d{2}:?\d{2})?")
# The thread name nests brackets ("[MuleRuntime].uber.03: [app].flow.CPU_LITE @1a2b"), so it
# is matched lazily up to the bracket that a space and the next field follow.
_THREAD = r"\[(?P<thread>.*?)\]"
_EVENT = (r"(?:\[(?:processor: (?P<processor>[^;\]]*); )?event: (?P<event>[^\]]*)\]\s+"
          r"|\[\{(?P<mdc>[^\]]*)\}\]\s+)?")
_CATEGORY = r"(?P<category>[\w.$-]+)"

_LINE_A = re.compile(rf"{_LEVEL}\s+{_DATE}\s+{_THREAD}\s+{_EVENT}{_CATEGORY}: ?(?P<msg>.*)")
_LINE_B = re.compile(rf"{_DATE}\s+{_THREAD}\s+{_LEVEL}\s+{_CATEGORY} - ?(?P<msg>.*)")
# Patterns without the logger (``%-5p %d [%t] [event: %X{correlationId}] %m``, seen from Mule
# 4.2 in Studio): the message follows the thread or the event field directly.
_LINE_C = re.compile(rf"{_LEVEL}\s+{_DATE}\s+{_THREAD}\s+{_EVENT}(?P<msg>.*)")
# ``[%d{MM-dd HH:mm:ss}] %-5p %c{1} [%t]: %m%n`` (see the module doc): the thread ends at the
# first bracket a colon follows.
_CLOUDHUB_STAMP = r"\[(?P<stamp>\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] "
_LINE_D = re.compile(rf"{_CLOUDHUB_STAMP}{_LEVEL}\s+{_CATEGORY} {_THREAD}: ?(?P<msg>.*)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# The heads ``detect`` claims as Mule's.
_HEAD = re.compile(
    r"(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s+\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
    r"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\S*\s+\[.*\]\s+(?:TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\s"
    r"|\[\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] (?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s"
)
# Where a record starts: a Mule head, or a time-first log4j line with its level (``%d %-5p
# [%t] %c - %m%n``, as the application's own loggers and libraries write into a Mule log).
# Such a line between Mule records is a record of its own, read as the text format reads it:
# glued onto the record before as a continuation line, its IDs (an ``orderId=``) were lost.
FOREIGN_START = re.compile(
    r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\S*\s+(?:TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s")
START = re.compile(rf"{_HEAD.pattern}|{FOREIGN_START.pattern}")

# ``[MuleRuntime].uber.03: [app].<flow>.CPU_LITE @5a1b2c3d``: the flow name may hold colons
# and backslashes (APIkit: ``post:\orders:application\json:order-api-config``), not brackets.
_APP_IN_THREAD = re.compile(
    r"(?:^|: )\[([^\[\]\s]+)\]\.([^\[\]]+?)\.(?:CPU_LITE|CPU_INTENSIVE|BLOCKING|IO)\b")
# Mule 3 names an application's threads ``[app].<flow>.stage1.02``,
# ``[app].connector.http.mule.default.receiver.01``, ``[app].HTTP_Listener_Configuration.
# worker.01``: the thread's ``[app].`` prefix is the only place its lines name the app. Mule 4's
# pool threads start ``[MuleRuntime].``, which names no app (``_APP_IN_THREAD`` reads theirs);
# the app after the pool's name is read from threads without a pool suffix too
# (``[MuleRuntime].uber.01: [app].uber@org.mule...ExtensionMessageSource.lambda$..:462 @6548``,
# a source's thread, or ``[MuleRuntime].uber.12: [app].http.requester.config @3a4b``).
_APP_PREFIX = re.compile(r"(?:\[MuleRuntime\]\.[^\[\]:]+: )?\[([^\[\]\s]+)\]\.")
_NO_APP = "MuleRuntime"
# Mule 3 runs a flow's processors on its SEDA stage threads, ``[app].<flow>.stage1.02``: the
# thread names the flow.
_MULE3_STAGE = re.compile(r"\[[^\[\]\s]+\]\.(.+)\.stage\d+\.\d+$")
_BLOCK_FIELD = re.compile(r"(Message|Element|Element DSL|Error type|FlowStack|Payload Type|"
                          r"Payload|Root Exception stack trace)\s*: ?(.*)")
_EXCEPTION = re.compile(r"^(?:Caused by: )?((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|"
                        r"Throwable|Fault))(?:: (.*))?$", re.MULTILINE)
_STARTED = re.compile(r"\*\s*Started (app|domain) '([^']+)'")
_FAILED = re.compile(r"Failed to deploy artifact '?\[?([^'\]\s]+)|"
                     r"DeploymentException: Failed to deploy artifact \[([^\]]+)\]")
_STATUS_ROW = re.compile(r"^\*\s*([\w.-]+)\s*\*\s*([\w.-]*)\s*\*\s*([A-Z_]+)\s*\*\s*$", re.MULTILINE)
_UP = re.compile(r"\*\s*Mule is up and kicking")
_UNDEPLOYED = re.compile(r"\*\s*(?:Undeployed|Stopped) (?:app|domain) '([^']+)'")


# What shows a time-first ``[thread] LEVEL`` line is Mule's: the runtime's pool threads, its
# and MuleSoft's loggers, Mule 3's ``[[app].flow.stage1.02]`` thread.
_MULE_SIGNS = ("[MuleRuntime]", "org.mule.", "com.mulesoft.", " [[")


# The first characters of a line ``detect`` may claim (_HEAD: a level (TRACE ... FATAL), a date
# or CloudHub's bracketed stamp; "0" stands for any digit, " " for any blank): auto-detection
# asks only parsers that may claim a line.
DETECT_FIRST = 'TDIWEF0['
# Substrings, per first character (as ``DETECT_FIRST`` names it), one of which every line
# ``detect`` claims holds: a line without any is not asked (``collector.detect_prefilter``).
# A line starting with its date or stamp names the level after it.
DETECT_NEEDS = dict.fromkeys("0[", ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"))


def detect(line: str) -> bool:
    """A ``[MM-dd HH:mm:ss] LEVEL`` head alone is any logger's: only the whole CloudHub
    layout (class, thread, colon) is Mule's, so a generic line stays unclaimed (``no_parser``)
    instead of dead-lettered as a broken Mule line. Likewise Log4j's classic
    ``%d [%t] %-5p %c - %m%n``, the layout of older ``mule_ee.log`` setups and of countless
    other Java programs (Kafka Connect workers, ActiveMQ clients, Camel): claimed only with a
    sign of Mule in it (``_MULE_SIGNS``), else every such log became ``mulesoft`` events."""
    if line[:1] == "[":
        return _LINE_D.match(line) is not None
    if _HEAD.match(line) is None:
        return False
    return not line[:1].isdigit() or any(sign in line for sign in _MULE_SIGNS)


def _timestamp(m: re.Match, ctx: ParseContext) -> tuple[int, bool]:
    if m.re is _LINE_D:  # "MM-dd HH:mm:ss", read as syslog's "Mon dd HH:mm:ss" for its year
        month, _, rest = m["stamp"].partition("-")
        known = 1 <= int(month) <= 12
        return to_ms(f"{_MONTHS[int(month) - 1]} {rest}" if known else None, ctx)
    date, ms_text, zone = m.group("date", "ms", "zone")
    base = second_ms(date, zone, ctx.tz)
    if base is None:
        return to_ms(None, ctx)
    return base + (int((ms_text + "00")[:3]) if ms_text else 0), False


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    head, _, rest = record.text.partition("\n")
    m = _LINE_A.match(head) or _LINE_B.match(head) or _LINE_C.match(head)
    if m is None and head[:1] == "[":
        m = _LINE_D.match(head)
    if m is None and not _HEAD.match(head) and START.match(head):
        return text.parse(record, ctx)  # a time-first line of another logger (START)
    if m is None:
        expected = ("'[MM-dd HH:mm:ss] LEVEL Class [thread]: message'" if head[:1] == "["
                    else "'LEVEL yyyy-MM-dd HH:mm:ss,SSS [thread] ... category: message'")
        raise ParseError(f"not a Mule log4j line (expected {expected})")
    ts, estimated = _timestamp(m, ctx)
    level = _LEVEL_OF[m.group("level")]
    message = m.group("msg")
    groups = m.groupdict()
    thread, category = groups["thread"], groups.get("category") or ""
    # Hot path: label keys are fixed and safe, values bounded like set_label does.
    labels = {"thread": thread[:MAX_LABEL_VALUE]}
    if category:
        labels["logger"] = category[:MAX_LABEL_VALUE]
    ev = Event(timestamp_ms=ts, timestamp_estimated=estimated, dataset=DATASET,
               platform="mulesoft", level=level, message=message, labels=labels)
    thread_app(ev, thread)
    if groups.get("event"):
        ev.add_id("correlation", groups["event"])
    processor = (groups.get("processor") or "").strip()
    if groups.get("mdc"):
        processor = _mdc(ev, groups["mdc"]) or processor
    return finish(ev, processor, rest, ctx)


def thread_app(ev: Event, thread: str) -> None:
    """The application (``service``) and flow (``labels.mule_flow``) a thread's name says."""
    app = _APP_IN_THREAD.search(thread)
    if app:
        ev.service = app.group(1)
        ev.labels["mule_flow"] = app.group(2)
    elif (prefix := _APP_PREFIX.match(thread)) and prefix.group(1) != _NO_APP:
        ev.service = prefix.group(1)
        stage = _MULE3_STAGE.match(thread)
        if stage:
            ev.labels["mule_flow"] = stage.group(1)


def native_differs(ev: Event) -> bool:
    """Whether the native reader's event (native/src/mule.rs) lacks the flow this module
    reads since from a Mule 3 stage thread or a Mule 3 error block's ``Element : /flow/...``:
    ``collector.native`` then leaves that record to this module."""
    labels = ev.labels
    thread = labels.get("thread", "")
    return (".stage" in thread and _MULE3_STAGE.match(thread) is not None) or (
        "mule_flow" not in labels and labels.get("mule_element", "").startswith("/"))


def finish(ev: Event, processor: str, body: str, ctx: ParseContext) -> list[Event]:
    """The rest of a runtime-log event, whichever layout wrote it (this module's lines,
    ``mule_json``'s Log4j 2 JSON): the processor path, then what the message and the lines
    after it hold (JSON Logger output, a banner, an error block, a stack trace)."""
    labels, message = ev.labels, ev.message
    if processor:
        labels["processor"] = processor[:MAX_LABEL_VALUE]
        labels.setdefault("mule_flow", processor.split("/", 1)[0])
    if ":" in labels.get("mule_flow", ""):
        apikit.label(ev, labels["mule_flow"])
    if labels.get("logger", "").endswith("JsonLogger") and message.lstrip().startswith("{"):
        return [_json_logger(ev, message + "\n" + body, ctx)]
    if "*****" in body or "*****" in message:
        banner = _banner(ev, message + "\n" + body)
        if banner is not None:
            return banner
    if body:
        _body(ev, body)
    if ev.action is None and ev.level not in ("error", "fatal"):
        ev.action = "logged"
    return [ev]


def _mdc(ev: Event, mdc: str) -> str:
    """``correlationId=..., processorPath=..., key=value`` of a ``%MDC`` field: the correlation
    ID and the processor path as in the default layout, logging variables as business fields
    (``set-logging-variable`` is where flows put order numbers). Returns the processor path."""
    processor = ""
    for pair in mdc.split(", "):
        key, sep, value = pair.partition("=")
        if not sep:
            continue
        if key == "correlationId":
            ev.add_id("correlation", value)
        elif key == "processorPath":
            processor = value.strip()
        else:
            business_field(ev, key, value)
    return processor


def _json_logger(ev: Event, text: str, ctx: ParseContext) -> Event:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"JsonLogger line with unreadable JSON: {exc}", field="message") from None
    if not isinstance(doc, dict):
        raise ParseError("JsonLogger line whose JSON is not an object", field="message")
    ev.dataset = mule_json.DATASET
    ev.message = ""
    mule_json.apply_doc(ev, doc, ctx)
    return ev


def _block_fields(body: str) -> dict[str, str]:
    """``Label : value`` fields of a Mule error block; a value runs on to the next label
    (DataWeave errors put the failing script and a caret line inside ``Message``)."""
    fields: dict[str, str] = {}
    current = None
    for line in body.split("\n"):
        m = _BLOCK_FIELD.match(line)
        if m:
            current = m.group(1)
            fields[current] = m.group(2)
        elif line.startswith("*****"):
            current = None
        elif current == "Message":
            fields[current] += "\n" + line
    return {k: v.strip() for k, v in fields.items()}


def _body(ev: Event, body: str) -> None:
    """Continuation lines: a Mule error block and/or a Java stack trace."""
    block = _block_fields(body) if "Error type" in body or "Message " in body else {}
    if block:
        if block.get("Message"):
            ev.error_message = block["Message"]
        error_type = block.get("Error type", "")
        if error_type:
            ev.error_type = error_type
            ev.error_code = error_type.rsplit(":", 1)[-1]
        element = block.get("Element", "")
        if element:
            set_label(ev, "mule_element", element)
            flow = element.lstrip("/").split("/", 1)[0].strip()  # Mule 3: "/flow/processors/2"
            if flow and "mule_flow" not in ev.labels:
                set_label(ev, "mule_flow", flow)
    exc = _EXCEPTION.search(body)
    if exc:
        if not ev.error_type:
            ev.error_type = exc.group(1)
        if not ev.error_message and exc.group(2):
            ev.error_message = exc.group(2).strip()
        ev.error_stack_trace = body.strip("\n")
    elif not block:
        ev.message = (ev.message + "\n" + body).strip("\n")
    if not ev.message.strip() and ev.error_message:
        ev.message = ev.error_message.split("\n", 1)[0]


def _banner(ev: Event, text: str) -> list[Event] | None:
    """``****`` blocks: deployment status tables, 'Started app', failed deployments."""
    rows = _STATUS_ROW.findall(text)
    if rows:
        return [_lifecycle(ev, app, status.lower(), domain) for app, domain, status in rows]
    started = _STARTED.search(text)
    if started:
        return [_lifecycle(ev, started.group(2), "started", None)]
    failed = _FAILED.search(text)
    if failed:
        _body(ev, text)
        return [_lifecycle(ev, failed.group(1) or failed.group(2), "failed", None)]
    if _UP.search(text):
        return [_lifecycle(ev, "mule-runtime", "started", None)]
    stopped = _UNDEPLOYED.search(text)
    if stopped:
        return [_lifecycle(ev, stopped.group(1), "undeployed", None)]
    return None


def _lifecycle(template: Event, artifact: str, status: str, domain: str | None) -> Event:
    ev = Event(timestamp_ms=template.timestamp_ms, timestamp_estimated=template.timestamp_estimated,
               dataset=DATASET, platform="mulesoft", level=template.level,
               labels=dict(template.labels), error_type=template.error_type,
               error_message=template.error_message, error_stack_trace=template.error_stack_trace)
    ev.service = artifact
    set_label(ev, "mule_lifecycle", status)
    set_label(ev, "mule_domain", domain)
    failed = status in ("failed", "deployment_failed")
    if failed:
        ev.action, ev.outcome = "failed", "failure"
        ev.level = "error" if ev.level not in ("error", "fatal") else ev.level
        ev.message = f"Deployment of {artifact} failed"
    else:
        ev.action = "started" if status in ("started", "deployed") else "logged"
        ev.outcome = "success" if status in ("started", "deployed") else "unknown"
        ev.message = f"{artifact}: {status}"
    return ev
