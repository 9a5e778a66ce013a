"""The flow catalog: which integration (flow) and which hop (stage) an event belongs to.

People describe their integrations once, in YAML, and every later question ("where is order
4711?", "how many orders are stuck past their SLA?") is asked in those terms. The catalog is
read once at start-up and compiled into plain matchers, so ``classify`` costs a few set
look-ups per event on the hot path (the pipeline runs it on every event).

    ids:
      types: [po_number]                # ID types the site's own parsers write (never refused)
      labels: [x12.isa, x12.gs, batch, kafka.key]  # ID types kept on traces but never joining two messages
      max_trace_ids: 200                # a trace refuses merges that would exceed this
      one_per_message: [order]          # two traces with different ones never merge (off)
      join_window: {default: 1d, http.request: 15m}  # how far apart in time an ID still joins
    default_sla: 1h                     # for flows without `sla` and for the `unknown` flow
    flows:
      - name: order-to-cash
        sla: 15m
        match: {partner: ACME}          # optional: ANDed with every stage's match
        stages:
          - name: api.received
            match: {platform: apigw, service: order-api}
          - name: erp.posted
            terminal: success           # success | failure | ack (EDI: the ack's action decides)
            match: {platform: boomi, process: "Order to SAP*", outcome: success}

A match condition is a string (``*``/``?`` globs allowed), or a list meaning any of them;
``message`` is a regular expression; ``labels`` maps label names to globs; ``id`` names an ID
type the event must carry. Shorthands for the labels/fields the parsers fill:
``processor`` (Mule processor path), ``topic`` (Kafka topic), ``process`` (Boomi process name,
i.e. ``service``), ``transaction_set`` (X12 ST01 / EDIFACT message type).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from collector.config_values import Section, describe
from collector.event import Event
from collector.id_types import BUILT_IN_ID_TYPES, near_miss
from collector.trace import Trace
from collector.yamlconf import ConfigError, Doc, KeyPath, did_you_mean, load, parse_duration_ms

UNKNOWN_FLOW = "unknown"
TERMINAL_KINDS = ("success", "failure", "ack")
DEFAULT_SLA_MS = 3_600_000
DEFAULT_MAX_TRACE_IDS = 200
# Envelope-level EDI controls and batch-like IDs are shared by many messages: linking on them
# would fold every purchase order of one interchange into a single trace. BizTalk's
# InterchangeID is one of them: every message a disassembler splits from one interchange
# carries it (with its own MessageID and InterchangeSequenceNumber). So is a Kafka record key:
# producers key by the entity whose records must stay in order (a customer, an account), so
# every order of one customer carried the same ``kafka.key`` and joined one trace.
DEFAULT_LABEL_TYPES = ("x12.isa", "x12.gs", "edifact.unb", "biztalk.interchange", "batch",
                       "kafka.key")
# What sources write when a message has no such ID (a Mule ``event: null``, a gateway's ``-``,
# a JSON logger's "N/A", a zero UUID or W3C trace ID): shared by every message that lacks the
# ID, so linking on it folded unrelated messages into one trace. Such an ID stays on the
# trace (a lookup lists every trace holding it) but never joins two.
PLACEHOLDER_VALUES = frozenset({"", "null", "nil", "none", "n/a", "na", "-", "--", "?",
                                "undefined", "unknown", "(null)", "<null>", "nan", "-1"})

# Quotes and brackets a logger may write around a placeholder word (a header logged as
# ``"null"``, a template's ``[null]``): the same stand-in. Words up to ``_WORD_MAX`` long
# with them ("'undefined'") are looked at; longer values are no placeholder word.
_WRAPPERS = "\"'[]{}()<>"
_WRAPPERS_DASH = _WRAPPERS + "-"
_WORD_MAX = 11
URN_UUID = "urn:uuid:"  # RFC 9562's URN namespace for a UUID, matched in any case

# The shortest all-zero value taken for a placeholder: an empty W3C span ID has 16 zeros, an
# empty trace ID 32, a nil UUID 32 and four dashes; 8 also covers zero-filled fixed fields.
ZERO_ID_MIN = 8

# How far apart in event time two sightings of one ID may be and still join (``join_window``):
# partners hard-code EDI control numbers, clients reuse request IDs, so an ID seen again a day
# later is another message. The gap is measured between the trace's first and last events and
# the new one, so a long journey whose events keep coming stays one trace, and a backfill of
# last month's files joins last month's traces. An acknowledgement (``ack``: 997/999/CONTRL/
# TA1/BizTalk ACK) answers hours to days after its document; request IDs repeat within
# minutes; EDI set control numbers are reused by the next interchange.
JOIN_WINDOW_DEFAULT = "default"
JOIN_WINDOW_ACK = "ack"
DEFAULT_JOIN_WINDOWS_MS = {
    JOIN_WINDOW_DEFAULT: 86_400_000,
    JOIN_WINDOW_ACK: 7 * 86_400_000,
    "request": 900_000, "http.request": 900_000, "aws.request": 900_000, "xray": 900_000,
    "x12.st": 7_200_000, "x12.gs": 7_200_000, "x12.isa": 7_200_000,
    "edifact.unh": 7_200_000, "edifact.unb": 7_200_000,
}
ACK_ACTIONS = frozenset({"acknowledged", "rejected"})
# IDs made of an EDI document's control number (X12 ST02, EDIFACT UNH 0062), which senders
# reuse, and the business keys the EDI parsers read from the documents: two documents under
# one control number tell themselves apart by these (``other_documents``).
EDI_CONTROL_IDS = ("x12.st:", "edifact.unh:")
_X12_ST, _EDIFACT_UNH = EDI_CONTROL_IDS
# ID lists at least this long have ``Catalog._holds_edi`` remembered (shorter ones, an event's,
# cost less to scan than to look up), at most this many lists at a time.
EDI_SCAN_MEMO_MIN = 12
EDI_SCAN_MEMO_MAX = 4096
EDI_DOCUMENT_KINDS = frozenset({"order", "invoice", "shipment", "claim", "payment", "transaction"})
# ID types of which a message has one value (``one_per_message``): two traces holding only
# different ones are two messages, whatever other ID they share. A correlation ID a
# misconfigured app sends on every message (a hard-coded ``X-Correlation-ID``), or a W3C
# trace ID shared by every order a scheduled poll handles in one distributed trace, folded
# all those orders into one trace. A trace may hold several (an X12 940's depositor and
# purchaser order numbers): traces sharing one of them still join. Off unless configured:
# parsers type a PO number and the receiver's order number alike as ``order`` (a Boomi
# execution tracks OrderNumber 4711 and its document PO Number PO-88231: one message, which
# ``[order]`` would split).
DEFAULT_ONE_PER_MESSAGE: tuple[str, ...] = ()
# How far an acknowledgement may read as older than the document it answers and still join
# it: a partner's ISA/GS times are its local time, and UTC offsets reach from -12 h to +14 h,
# so a partner west of the reader stamps its 997 up to 14 h "before" the 850. Further back,
# it is an orphan ack of an earlier interchange (a hard-coded ST02): the acknowledgement
# window (7 days) would let it swallow the next document and hide that one's missing ack.
ACK_SKEW_MS = 14 * 3_600_000

_TOP_KEYS = ("ids", "default_sla", "flows")
_ID_KEYS = ("types", "link", "labels", "max_trace_ids", "join_window", "one_per_message")
_FLOW_KEYS = ("name", "sla", "match", "stages", "description")
_STAGE_KEYS = ("name", "terminal", "match")
# Event attribute read by each plain field condition.
_FIELDS = {
    "dataset": "dataset", "platform": "platform", "service": "service", "process": "service",
    "action": "action", "outcome": "outcome", "partner": "partner", "host": "host",
    "level": "level", "error_class": "error_class",
}
_LABEL_SHORTHANDS = {
    "processor": ("processor",),
    "topic": ("kafka_topic",),
    "transaction_set": ("x12_transaction_set", "edifact_message_type"),
}
_MATCH_KEYS = (*_FIELDS, *_LABEL_SHORTHANDS, "labels", "message", "id")

Matcher = Callable[[Event], bool]
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    terminal: str | None = None  # one of TERMINAL_KINDS


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    sla_ms: int
    stages: tuple[Stage, ...] = ()

    def terminal(self, stage: str | None) -> str | None:
        for s in self.stages:
            if s.name == stage:
                return s.terminal
        return None


@dataclass(frozen=True, slots=True)
class _Rule:
    flow: str
    stage: str
    test: Matcher
    platforms: frozenset[str] | None = None  # the only platforms it can match (None: any)


@dataclass(frozen=True, slots=True)
class _FlowRule:
    """Events matching ``test`` but none of the stages still belong to the flow."""

    flow: str
    test: Matcher | None
    platforms: frozenset[str] | None = None


def _by_platform(rules: tuple[_R, ...]) -> tuple[dict[str, tuple[_R, ...]], tuple[_R, ...]]:
    """Per platform named by a rule, the rules an event of that platform can match, in file
    order; and those for any other platform. Most stage rules name their platform, so an event
    is tried against its own platform's few rules rather than every one (the example catalog:
    4 of 12 for a Mule event)."""
    named = {p for r in rules if r.platforms for p in r.platforms}
    return ({p: tuple(r for r in rules if r.platforms is None or p in r.platforms)
             for p in named},
            tuple(r for r in rules if r.platforms is None))


class Catalog:
    """Compiled flows plus the ID-linking policy; immutable once built."""

    def __init__(self, flows: list[Flow], rules: list[_Rule], flow_rules: list[_FlowRule], *,
                 link_types: frozenset[str] | None, label_types: frozenset[str],
                 max_trace_ids: int, default_sla_ms: int,
                 join_windows_ms: dict[str, int] | None = None,
                 one_per_message: frozenset[str] = frozenset(DEFAULT_ONE_PER_MESSAGE),
                 unknown_types: tuple[str, ...] = ()):
        self.flows = {f.name: f for f in flows}
        self.unknown = Flow(UNKNOWN_FLOW, default_sla_ms)
        self._rules, self._other_rules = _by_platform(tuple(rules))
        self._flow_rules, self._other_flow_rules = _by_platform(
            tuple(fr for fr in flow_rules if fr.test is not None))
        self.link_types, self.label_types = link_types, label_types
        self.max_trace_ids = max_trace_ids
        self._one_prefixes = tuple(f"{kind}:" for kind in sorted(one_per_message))
        self._link_cache: dict[str, bool] = {}
        # Whether an ID list holds an EDI control ID (``_holds_edi``), per list object:
        # id -> (the list, its length then, the answer).
        self._edi_seen: dict[int, tuple[list[str], int, bool]] = {}
        self.join_windows_ms = {**DEFAULT_JOIN_WINDOWS_MS, **(join_windows_ms or {})}
        # Gaps up to the shortest window join whatever the ID (the hot path's one compare);
        # the longest bounds the store look-ups.
        self.min_join_window_ms = min(self.join_windows_ms.values())
        self.max_join_window_ms = max(self.join_windows_ms.values())
        self.unknown_types = unknown_types

    def upgrade_notes(self) -> list[str]:
        """What to warn of once, at start-up and in ``doctor``: a catalog written before
        ``kafka.key`` became a label joins differently from the defaults (an ``ids.labels``
        list, as the old example catalog had, without it keeps joining on record keys, which
        fold a customer's orders into one trace); and each ID type ``ids`` names that no
        parser or configured mapping writes (a site's own parser may: so not an error)."""
        notes = list(self.unknown_types)
        if self.link_types is None and "kafka.key" not in self.label_types:
            notes.insert(0, "ids.labels does not list kafka.key, so Kafka record keys join "
                         "messages (every record of one key into one trace); add kafka.key "
                         "to ids.labels unless the key names one message")
        return notes

    def classify(self, ev: Event) -> tuple[str, str | None]:
        """(flow, stage) of the event: the first stage rule in file order that matches;
        else a flow whose own ``match`` does (stage None); else the flow a parser mapping gave
        the event, or ``unknown``."""
        for rule in self._rules.get(ev.platform, self._other_rules):
            if rule.test(ev):
                return rule.flow, rule.stage
        for fr in self._flow_rules.get(ev.platform, self._other_flow_rules):
            if fr.test(ev):  # type: ignore[misc]
                return fr.flow, None
        return ev.flow or UNKNOWN_FLOW, None

    def flow(self, name: str | None) -> Flow:
        return self.flows.get(name or UNKNOWN_FLOW, self.unknown)

    def is_link(self, typed_id: str) -> bool:
        """Whether this ID joins the messages that carry it (labels and placeholder values
        are only kept for lookup)."""
        kind, _, value = typed_id.partition(":")
        known = self._link_cache.get(kind)
        if known is None:
            if self.link_types is not None:
                known = kind in self.link_types
            else:
                known = kind not in self.label_types
            if len(self._link_cache) < 10_000:  # ID types are few; a bound all the same
                self._link_cache[kind] = known
        return known and not is_placeholder(value)


    def apart(self, a_ids: list[str], b_ids: list[str]) -> bool:
        """Whether these IDs are two messages' (``one_per_message``): both hold a value of
        such a type, and none in common; or two EDI documents under one reused control
        number (``other_documents``)."""
        for prefix in self._one_prefixes:
            mine = [i for i in a_ids if i.startswith(prefix)]
            if mine:
                theirs = [i for i in b_ids if i.startswith(prefix)]
                if theirs and not any(i in theirs for i in mine):
                    return True
        # ``other_documents`` inlined up to its first test: on every link of every event, and
        # most IDs are no EDI document's, so the shorter list must hold an EDI control ID. An
        # event's few IDs are scanned here (a call costs as much), a trace's by _holds_edi.
        short = a_ids if len(a_ids) <= len(b_ids) else b_ids
        n = len(short)
        if n < EDI_SCAN_MEMO_MIN:
            text = "\n".join(short)
            if _X12_ST not in text and _EDIFACT_UNH not in text:
                return False
        else:  # a trace's: remembered (``_holds_edi``), looked up here, a call saved
            seen = self._edi_seen.get(id(short))
            if not (seen[2] if seen is not None and seen[0] is short and seen[1] == n
                    else self._holds_edi(short)):
                return False
        return other_documents(a_ids, b_ids)

    def _holds_edi(self, ids: list[str]) -> bool:
        """Whether ``ids`` (a trace's, at least ``EDI_SCAN_MEMO_MIN``) may hold an EDI control
        ID: one C-speed substring test over them (True may be a value merely containing a
        prefix: ``other_documents`` decides), remembered: a trace's list is met again and
        again (every event joining it, merges, the repair), and ``apart`` takes the answer
        while it is the same list of the same length. Trace ID lists only ever grow
        (appended, extended, or replaced by a new list), so that length says whether it
        changed. Bounded: cleared when full, and the list held so that its id is not reused
        meanwhile."""
        text = "\n".join(ids)
        found = _X12_ST in text or _EDIFACT_UNH in text
        if len(self._edi_seen) >= EDI_SCAN_MEMO_MAX:
            self._edi_seen.clear()
        self._edi_seen[id(ids)] = (ids, len(ids), found)
        return found

    def join_window_ms(self, typed_id: str, ack: bool) -> int:
        """How far in event time a sighting of this ID may be from a trace holding it and
        still join it; ``ack``: the later of the two is an acknowledgement of the earlier."""
        windows = self.join_windows_ms
        kind = typed_id.partition(":")[0]
        own = windows.get(kind, windows[JOIN_WINDOW_DEFAULT])
        return max(own, windows[JOIN_WINDOW_ACK]) if ack else own

    def reach_ms(self, typed_id: str, acks_only: bool) -> tuple[int, int]:
        """How far before and after a trace holding this ID a stored trace can be and still
        join it (``joins``), which bounds the store look-ups by the ID's own type: a
        trace of acknowledgements reaches back to the documents they answer, one with a
        document forward to its acknowledgements and back by ``ACK_SKEW_MS`` or the ID's
        own window, whichever is longer."""
        own = self.join_window_ms(typed_id, False)
        ack, skew = self.join_window_ms(typed_id, True), max(own, ACK_SKEW_MS)
        return (ack, skew) if acks_only else (skew, ack)

    def joins(self, typed_id: str, a: Trace, b: Trace) -> bool:
        """Whether two traces holding this ID are close enough in event time to be one
        message. The acknowledgement window applies where the later one holds only
        acknowledgements and the earlier something they can answer (two acknowledgements
        of a reused control number answer two documents). Acknowledgements that come first
        join a document only within ``ACK_SKEW_MS`` (or the ID's own window, if longer): an
        EDI partner's ISA/GS times are its local time, so west of the reader its 997 can read
        as hours older than the document it answers, but not days."""
        return not self.apart(a.ids, b.ids) and self.within_window(typed_id, a, b)

    def within_window(self, typed_id: str, a: Trace, b: Trace) -> bool:
        """The time half of ``joins``, for a caller that has asked ``apart`` already."""
        earlier, later = (a, b) if a.started_ms <= b.started_ms else (b, a)
        gap = later.started_ms - earlier.last_seen_ms
        if gap <= self.min_join_window_ms:
            return True
        if _answers(later, earlier):
            return gap <= self.join_window_ms(typed_id, True)
        own = self.join_window_ms(typed_id, False)
        return gap <= (max(own, ACK_SKEW_MS) if _answers(earlier, later) else own)


def other_documents(a_ids: list[str], b_ids: list[str]) -> bool:
    """Whether IDs sharing an EDI document's control number (``EDI_CONTROL_IDS``) are two
    documents': both hold business keys of one kind (``EDI_DOCUMENT_KINDS``), and no key of
    any kind in common (an order's 855, 856s and 810s share its order number, not their
    shipment or invoice numbers: one order, one trace).
    A sender that hard-codes its control numbers sends its next purchase order under the
    same ``x12.st`` ID minutes later, inside the ID's join window, and the two orders became
    one trace; the same order re-sent keeps its keys and stays one (a retry). Symmetric, so
    the shorter list is the one scanned."""
    short, other = (a_ids, b_ids) if len(a_ids) <= len(b_ids) else (b_ids, a_ids)
    for i in short:
        if i.startswith(EDI_CONTROL_IDS) and i in other:
            break
    else:
        return False
    mine = _document_keys(a_ids)
    if not mine:
        return False
    theirs = _document_keys(b_ids)
    if any(not values.isdisjoint(theirs.get(kind, ())) for kind, values in mine.items()):
        return False  # one business key in common: one order's documents
    return any(kind in theirs for kind in mine)


def _document_keys(ids: list[str]) -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    for i in ids:
        kind, _, value = i.partition(":")
        if kind in EDI_DOCUMENT_KINDS:
            keys.setdefault(kind, set()).add(value)
    return keys


def _answers(acks: Trace, doc: Trace) -> bool:
    """``acks`` holds only acknowledgements and ``doc`` something else they may answer."""
    return (bool(acks.hops) and all(h.action in ACK_ACTIONS for h in acks.hops)
            and any(h.action not in ACK_ACTIONS for h in doc.hops))


def span_gap_ms(a: Trace, b: Trace) -> int:
    """Event time between two traces' spans (0 where they overlap)."""
    return max(0, a.started_ms - b.last_seen_ms, b.started_ms - a.last_seen_ms)


def is_placeholder(value: str) -> bool:
    """A value that stands for "no ID": a placeholder word, quoted or bracketed or not
    (``"null"``, ``[null]``), a run of dashes, or only zeros and dashes as long as an empty
    span ID, trace ID or UUID (``ZERO_ID_MIN``), also braced or as a URN (.NET's
    ``Guid.Empty.ToString("B")``, a WS-Addressing ``urn:uuid:`` MessageID). A short zero
    ("0", "000") is a counter's first value, such as order 0 of a numbered run: a real ID
    that must join."""
    if len(value) <= _WORD_MAX:
        word = value.strip().lower()
        if word in PLACEHOLDER_VALUES:
            return True
        if word[:1] in _WRAPPERS_DASH:  # most IDs start otherwise: spared the second look
            word = word.strip(_WRAPPERS).strip()
            if word in PLACEHOLDER_VALUES or not word.strip("-"):
                return True
    first = value[:1]  # an ID of zeros starts with one, braced with "{", a URN with "urn:"
    if first == "{" and value[-1:] == "}":
        value = value[1:-1]
    elif first in ("u", "U") and value[:9].lower() == URN_UUID:
        value = value[9:]
    elif first != "0" and first != "-":
        return False
    return len(value) >= ZERO_ID_MIN and value[:1] in ("0", "-") and not value.strip("0-")


def without_placeholders(trace: Trace) -> Trace:
    """The trace to look its events up by: a placeholder it holds is held by every message
    without that ID, whose events would crowd its own out of the answer. (A trace of
    placeholders alone, which the correlator never makes, keeps them.)"""
    ids = [i for i in trace.ids if not is_placeholder(i.partition(":")[2])]
    return replace(trace, ids=ids) if ids else trace


def empty_catalog() -> Catalog:
    return Catalog([], [], [], link_types=None, label_types=frozenset(DEFAULT_LABEL_TYPES),
                   max_trace_ids=DEFAULT_MAX_TRACE_IDS, default_sla_ms=DEFAULT_SLA_MS)


def load_catalog(data: Any, doc: Doc | None = None, path: KeyPath = ("flows",), *,
                 mapped_types: frozenset[str] = frozenset()) -> Catalog:
    """The ``flows:`` section of the config: None (no catalog), a path to a catalog file
    (relative to the working directory), the catalog inline, or just its list of flows.
    ``mapped_types``: the ID types the configured parser mappings write
    (``collector.inputs.mapped_ids.mapped_id_types``), which ``ids`` may name like built-in ones."""
    if data is None:
        return empty_catalog()
    if isinstance(data, str):
        file = Path(data)
        return build_catalog(load(file), mapped_types=mapped_types)
    if doc is None:
        doc = Doc(data=data, file="<catalog>")
    return _Builder(doc, path, mapped_types).catalog(data)


def build_catalog(doc: Doc, *, mapped_types: frozenset[str] = frozenset()) -> Catalog:
    """A catalog file loaded by ``collector.yamlconf.load`` (errors keep its positions)."""
    return _Builder(doc, (), mapped_types).catalog(doc.data)


class _Builder:
    def __init__(self, doc: Doc, root: KeyPath, mapped_types: frozenset[str] = frozenset()):
        self.doc, self.root = doc, root
        self.known_types = BUILT_IN_ID_TYPES | mapped_types
        self.unknown_types: dict[str, str] = {}  # type -> its warning, the first key naming it

    def err(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigError:
        return self.doc.error((*self.root, *path), message, hint)

    def section(self, value: Any, path: KeyPath, allowed: tuple[str, ...]) -> Section:
        """A mapping of the catalog read like every config section (``Section``); unlike an
        optional config section, an entry written empty is an error here."""
        if value is None:
            raise self.err(path, "expected a mapping, got nothing")
        return Section(self.doc, (*self.root, *path), value, allowed)

    def mapping(self, value: Any, path: KeyPath, allowed: tuple[str, ...]) -> dict:
        return self.section(value, path, allowed).data

    def duration(self, value: Any, path: KeyPath) -> int:
        try:
            ms = parse_duration_ms(value)
        except ValueError as exc:
            raise self.err(path, str(exc)) from None
        if ms <= 0:
            raise self.err(path, "must be longer than zero")
        return ms

    def name(self, value: Any, path: KeyPath) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.err(path, "expected a non-empty name")
        return value.strip()

    def catalog(self, data: Any) -> Catalog:
        if isinstance(data, list):  # `flows:` in the config written as just the list
            return self.catalog_of({"flows": data}, flows_path=())
        return self.catalog_of(self.mapping(data, (), _TOP_KEYS), flows_path=("flows",))

    def catalog_of(self, top: dict, flows_path: KeyPath) -> Catalog:
        id_section = self.section(top.get("ids") or {}, ("ids",), _ID_KEYS)
        ids = id_section.data
        if "types" in ids:  # the site's own, named before any key is checked against them
            self.known_types |= self.declared(ids.get("types"), ("ids", "types"))
        link = self.types(ids.get("link"), ("ids", "link")) if "link" in ids else None
        labels = self.types(ids.get("labels"), ("ids", "labels")) if "labels" in ids \
            else frozenset(DEFAULT_LABEL_TYPES)
        if link is not None and link & labels:
            raise self.err(("ids", "labels"), f"{', '.join(sorted(link & labels))} is both a "
                           "link and a label", "an ID type either joins messages or it does not")
        max_ids = id_section.number("max_trace_ids", DEFAULT_MAX_TRACE_IDS, minimum=2)
        one = self.types(ids.get("one_per_message"), ("ids", "one_per_message")) \
            if "one_per_message" in ids else frozenset(DEFAULT_ONE_PER_MESSAGE)
        windows = self.join_windows(ids.get("join_window"), ("ids", "join_window"))
        default_sla = self.duration(top.get("default_sla", "1h"), ("default_sla",))
        raw_flows = top.get("flows") or []
        if not isinstance(raw_flows, list):
            raise self.err(flows_path, f"expected a list of flows, got {describe(raw_flows)}")
        flows: list[Flow] = []
        rules: list[_Rule] = []
        flow_rules: list[_FlowRule] = []
        for i, raw in enumerate(raw_flows):
            flow, stage_rules, flow_rule = self.flow(raw, (*flows_path, i), default_sla)
            if any(f.name == flow.name for f in flows) or flow.name == UNKNOWN_FLOW:
                raise self.err((*flows_path, i, "name"), f"flow {flow.name!r} is defined twice"
                               if flow.name != UNKNOWN_FLOW else "'unknown' is reserved")
            flows.append(flow)
            rules.extend(stage_rules)
            flow_rules.append(flow_rule)
        return Catalog(flows, rules, flow_rules, link_types=link, label_types=labels,
                       max_trace_ids=max_ids, default_sla_ms=default_sla,
                       join_windows_ms=windows, one_per_message=one,
                       unknown_types=tuple(self.unknown_types.values()))

    def join_windows(self, value: Any, path: KeyPath) -> dict[str, int]:
        """``join_window``: one duration (every ID kind; acknowledgements keep theirs), or
        per ID kind with ``default`` and ``ack``, where kinds not named keep the built-in
        windows."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            ms = self.duration(value, path)
            return {kind: ms for kind in DEFAULT_JOIN_WINDOWS_MS if kind != JOIN_WINDOW_ACK}
        for kind in value:
            if not isinstance(kind, str) or not kind or ":" in kind:
                raise self.err((*path, kind), f"{kind!r} is not an ID type",
                               "name an ID type (http.request, x12.st), default or ack")
            if kind not in (JOIN_WINDOW_DEFAULT, JOIN_WINDOW_ACK):
                self.check_type(kind, (*path, kind), (JOIN_WINDOW_DEFAULT, JOIN_WINDOW_ACK))
        return {kind: self.duration(v, (*path, kind)) for kind, v in value.items()}

    def declared(self, value: Any, path: KeyPath) -> frozenset[str]:
        """A list of ID types, each checked for shape only (``ids.types``: what the site's own
        parsers write, taken as known however close to a built-in type)."""
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.err(path, "expected a list of ID types like [correlation, order]")
        bad = [v for v in value if ":" in v]
        if bad:
            raise self.err(path, f"{bad[0]!r} is a typed ID, not a type",
                           f"write {bad[0].partition(':')[0]!r}")
        return frozenset(value)

    def types(self, value: Any, path: KeyPath) -> frozenset[str]:
        self.declared(value, path)
        for i, kind in enumerate(value):
            self.check_type(kind, (*path, i))
        return frozenset(value)

    def check_type(self, kind: str, path: KeyPath, words: tuple[str, ...] = ()) -> None:
        """Refuse a near miss of a known ID type (or of ``words`` the key also takes): it
        would do nothing, or join what it was meant to keep apart (``labels: [x12.iza]``).
        A type like none of them may be a site's own parser's: kept, with a warning."""
        if kind in self.known_types:
            return
        meant = near_miss(kind, (*self.known_types, *words))
        if meant is not None:
            raise self.err(path, f"unknown ID type {kind!r}", f"did you mean {meant!r}? If your "
                           "own parser writes it, declare it in ids.types")
        if kind not in self.unknown_types:
            self.unknown_types[kind] = str(self.err(
                path, f"ID type {kind!r} is written by no midwatch parser and no configured "
                "mapping", "if your own parser writes it, declare it in ids.types; else check "
                "the spelling"))

    def flow(self, raw: Any, path: KeyPath, default_sla: int) -> tuple[Flow, list[_Rule], _FlowRule]:
        f = self.mapping(raw, path, _FLOW_KEYS)
        if "name" not in f:
            raise self.err(path, "a flow needs a name")
        name = self.name(f["name"], (*path, "name"))
        sla = self.duration(f["sla"], (*path, "sla")) if "sla" in f else default_sla
        common = self.match(f["match"], (*path, "match")) if "match" in f else []
        flow_platforms = self.platforms(f.get("match"), (*path, "match"))
        raw_stages = f.get("stages") or []
        if not isinstance(raw_stages, list):
            raise self.err((*path, "stages"), f"expected a list of stages, got {describe(raw_stages)}")
        stages: list[Stage] = []
        rules: list[_Rule] = []
        for j, raw_stage in enumerate(raw_stages):
            spath = (*path, "stages", j)
            s = self.mapping(raw_stage, spath, _STAGE_KEYS)
            if "name" not in s:
                raise self.err(spath, "a stage needs a name")
            sname = self.name(s["name"], (*spath, "name"))
            if any(st.name == sname for st in stages):
                raise self.err((*spath, "name"), f"stage {sname!r} is defined twice in {name}")
            terminal = s.get("terminal")
            if terminal is not None and terminal not in TERMINAL_KINDS:
                raise self.err((*spath, "terminal"), f"unknown terminal kind {terminal!r}",
                               did_you_mean(str(terminal), TERMINAL_KINDS)
                               or f"expected one of {', '.join(TERMINAL_KINDS)}")
            if "match" not in s:
                raise self.err(spath, f"stage {sname!r} needs a match",
                               "e.g. match: {platform: mulesoft, processor: 'orders/*'}")
            stages.append(Stage(sname, terminal))
            test = _all([*common, *self.match(s["match"], (*spath, "match"))])
            platforms = self.platforms(s["match"], (*spath, "match"))
            if flow_platforms is not None:
                platforms = flow_platforms if platforms is None else platforms & flow_platforms
            rules.append(_Rule(name, sname, test, platforms))
        if not any(s.terminal in ("success", "ack") for s in stages) and stages:
            raise self.err((*path, "stages"), f"flow {name!r} has no terminal success stage",
                           "mark the stage that ends the journey with terminal: success (or ack)")
        return (Flow(name, sla, tuple(stages)), rules,
                _FlowRule(name, _all(common) if common else None, flow_platforms))

    def platforms(self, raw: Any, path: KeyPath) -> frozenset[str] | None:
        """The platforms a (validated) match allows, when it names them exactly."""
        if not isinstance(raw, dict) or "platform" not in raw:
            return None
        exact, glob = self.patterns(raw["platform"], (*path, "platform"))
        return exact if glob is None else None

    def match(self, raw: Any, path: KeyPath) -> list[Matcher]:
        m = self.mapping(raw, path, _MATCH_KEYS)
        if not m:
            raise self.err(path, "an empty match would take every event")
        tests: list[Matcher] = []
        costly: list[Matcher] = []  # regular expressions run after the set look-ups
        for key, value in m.items():
            kpath = (*path, key)
            if key in _FIELDS:
                tests.append(_field(_FIELDS[key], self.patterns(value, kpath)))
            elif key in _LABEL_SHORTHANDS:
                tests.append(_labels(_LABEL_SHORTHANDS[key], self.patterns(value, kpath)))
            elif key == "labels":
                labels = value if isinstance(value, dict) else None
                if not labels:
                    raise self.err(kpath, "expected a mapping of label name to pattern")
                tests.extend(_labels((str(k),), self.patterns(v, (*kpath, k)))
                             for k, v in labels.items())
            elif key == "message":
                costly.append(_message(self.regex(value, kpath)))
            else:  # id
                kinds = tuple(f"{k}:" for k in self.strings(value, kpath))
                tests.append(lambda ev, kinds=kinds: any(i.startswith(kinds) for i in ev.ids))
        return tests + costly

    def strings(self, value: Any, path: KeyPath) -> list[str]:
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                 for v in values):
            raise self.err(path, "expected a string or a list of strings")
        return [str(v) for v in values]

    def patterns(self, value: Any, path: KeyPath) -> tuple[frozenset[str], re.Pattern | None]:
        values = self.strings(value, path)
        globs = [v for v in values if any(c in v for c in "*?[")]
        exact = frozenset(v for v in values if v not in globs)
        return exact, re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None

    def regex(self, value: Any, path: KeyPath) -> re.Pattern:
        if not isinstance(value, str):
            raise self.err(path, "expected a regular expression")
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.err(path, f"invalid regular expression: {exc}") from None


def _hit(value: str | None, exact: frozenset[str], glob: re.Pattern | None) -> bool:
    if value is None:
        return False
    return value in exact or (glob is not None and glob.match(value) is not None)


def _field(attr: str, pats: tuple[frozenset[str], re.Pattern | None]) -> Matcher:
    exact, glob = pats
    if glob is None:
        return lambda ev: getattr(ev, attr) in exact
    return lambda ev: _hit(getattr(ev, attr), exact, glob)


def _labels(names: tuple[str, ...], pats: tuple[frozenset[str], re.Pattern | None]) -> Matcher:
    exact, glob = pats
    return lambda ev: any(_hit(ev.labels.get(n), exact, glob) for n in names)


def _message(rx: re.Pattern) -> Matcher:
    return lambda ev: rx.search(ev.message) is not None


def _all(tests: list[Matcher]) -> Matcher:
    """All of the tests, stopping at the first that fails."""
    if len(tests) == 1:
        return tests[0]
    ordered = tuple(tests)
    return lambda ev: all(t(ev) for t in ordered)
