"""Helpers the parsers share: business-ID naming, dotted lookups, GUIDs, bounded labels.

Tracked fields (Boomi), promoted properties (BizTalk), applicationData (ACE) and JSON bodies
all carry business keys under names people chose ("OrderNumber", "PO_ID", "invoice-no").
``id_kind`` maps such a name to the typed-ID namespace of event-schema.md so that an order
number seen in Boomi and in BizTalk becomes the same ``order:4711`` and joins one trace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from collector.event import Event
from collector.parsers._base import ParseError

MAX_LABELS = 64
MAX_LABEL_VALUE = 1024

# name fragment -> typed-ID kind; the first match wins, so specific words come first.
_ID_KINDS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), kind)
    for p, kind in (
        (r"^(?:x[-_]?)?correlation[-_ ]?id$|^correlationid$", "correlation"),
        (r"^(?:x[-_]?)?request[-_ ]?id$", "request"),
        (r"^trace[-_ ]?id$", "otel.trace"),
        (r"^(?:purchase[-_ ]?)?order[-_ ]?(?:id|no|num|number|ref|reference)?$|^po[-_ ]?(?:id|no|num|number)?$",
         "order"),
        (r"^invoice[-_ ]?(?:id|no|num|number|ref)?$", "invoice"),
        (r"^(?:shipment|asn|delivery)[-_ ]?(?:id|no|num|number)?$", "shipment"),
        (r"^customer[-_ ]?(?:id|no|num|number)$", "customer"),
        (r"^(?:business[-_ ]?)?(?:message|msg)[-_ ]?(?:id|guid)$", "message"),
        (r"^transaction[-_ ]?(?:id|no)$", "transaction"),
    )
)


@lru_cache(maxsize=4096)
def id_kind(name: str) -> str | None:
    """Typed-ID namespace for a business field name, or None when it is just a label."""
    for rx, kind in _ID_KINDS:
        if rx.search(name):
            return kind
    return None


@lru_cache(maxsize=4096)
def label_key(name: str) -> str:
    """Label keys without dots or spaces: a dot would nest ``labels.*`` in Elasticsearch."""
    return re.sub(r"[^\w-]+", "_", name.strip()).strip("_").lower() or "_"


def set_label(ev: Event, name: str, value: object) -> None:
    """A bounded label: at most MAX_LABELS keys; values longer than MAX_LABEL_VALUE are cut,
    with a marker, by ``collector.normalize`` (which every event passes next)."""
    if value is None:
        return
    if type(value) is str:  # most values; the checks below in the order they are likeliest
        text = value.strip()
    elif isinstance(value, dict | list):
        return
    else:
        text = (value if isinstance(value, str) else str(value)).strip()
    if not text:
        return
    key = label_key(name)
    if key not in ev.labels and len(ev.labels) >= MAX_LABELS:
        return
    ev.labels[key] = text


def business_field(ev: Event, name: str, value: object) -> None:
    """A named business value: a typed ID when the name says so, and always a label."""
    if value is None or isinstance(value, dict | list | bool):
        return
    kind = id_kind(name)
    if kind:
        ev.add_id(kind, value)
    set_label(ev, name, value)


def lookup(doc: object, path: str) -> object:
    """``a.b.c`` in nested dicts; an exact key with dots (``log.level``) wins first."""
    if not isinstance(doc, dict):
        return None
    if path in doc:
        return doc[path]
    node: object = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# A UUID: what correlation headers usually hold when a value has no name to say so.
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_GUID = re.compile(rf"\{{?({UUID.pattern})\}}?")


def guid(text: str | None) -> str | None:
    """BizTalk/.NET GUIDs come braced and upper case; IDs compare lower case, no braces."""
    if not text:
        return None
    m = _GUID.search(text)
    return m.group(1).lower() if m else None


def first_line(text: str, limit: int = 1024) -> str:
    return text.split("\n", 1)[0].strip()[:limit]


# The exception line of a Java stack trace: "java.io.IOException: reason", or a nested class
# of one ("org.springframework.web.client.HttpClientErrorException$NotFound: 404 ...").
JAVA_EXCEPTION = re.compile(
    r"^((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)(?:\$[A-Z][\w$]*)?)(?::\s*(.*))?$",
    re.MULTILINE)


# A stack frame line: "\tat com.example.Foo.bar(Foo.java:42)".
_FRAME = re.compile(r"^\s+at [\w$.<>]+\(", re.MULTILINE)


def java_tail(ev: Event, message: str, rest: str) -> None:
    """The lines after a Java log record's first: a stack trace (its exception line gives the
    error type and message) or, with neither exception nor frames, the rest of a message
    that spans lines."""
    if not rest.strip():
        return
    exc = JAVA_EXCEPTION.search(rest)
    if exc:
        ev.error_type = exc.group(1)
        ev.error_message = (exc.group(2) or "").strip() or None
    if exc or _FRAME.search(rest):
        ev.error_stack_trace = rest
    else:
        ev.message = f"{message}\n{rest.rstrip()}"


NAMED_ELEMENTS = 10  # unreadable elements named in one dead letter's reason


def elements(docs: list, read: Callable[[object], list[Event]], what: str) -> list[Event]:
    """The events of each element of an exported batch (a JSON array, Azure's ``records``).
    Unreadable elements are named by index in one error that carries the events of the
    others: one bad element must not cost the whole export."""
    events: list[Event] = []
    failed: list[tuple[int, ParseError]] = []
    for index, doc in enumerate(docs):
        try:
            events.extend(read(doc))
        except ParseError as exc:
            failed.append((index, exc))
    if not failed:
        return events
    index, first = failed[0]
    reason = f"{what} [{index}] of {len(docs)}: {first.reason}"
    others = [f"[{i}]" for i, _ in failed[1:]]
    if others:
        more = " ..." if len(others) > NAMED_ELEMENTS else ""
        reason += f"; also unreadable: {', '.join(others[:NAMED_ELEMENTS])}{more}"
    field = f"[{index}].{first.field}" if first.field else f"[{index}]"
    raise ParseError(reason, field=field, events=events)


def head_match(text: str, rx: re.Pattern, expected: str) -> tuple[re.Match, str]:
    """(the match of ``rx`` on a record's first line, the lines after it) for the log4j-like
    formats whose first line carries time, level and logger; ParseError saying ``expected``
    when the first line is not one."""
    head, _, rest = text.partition("\n")
    m = rx.match(head.rstrip())
    if m is None:
        raise ParseError(f"not {expected}")
    return m, rest


def as_int(value: object) -> int | None:
    """Numbers as the APIs send them: 12, "12", 12.0, and Boomi's ["Long", 12]."""
    if isinstance(value, list) and len(value) == 2:
        value = value[1]
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return None


def local_name(tag: str) -> str:
    """XML tag or attribute without its ``{namespace}``: the formats use several prefixes."""
    return tag.rsplit("}", 1)[-1]


def attrs(elem) -> dict[str, str]:
    """Element attributes keyed by local name (``mon:name`` and ``wmb:name`` alike)."""
    return {local_name(k): v for k, v in elem.attrib.items()}
