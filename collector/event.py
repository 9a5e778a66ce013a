"""The normalized event: the one schema every stage after the parsers reads.

Events travel as a flat slotted dataclass (cheap to build at 50k/s) and are turned into the
nested ECS document (``to_doc``) only at the edges: the store, ``midwatch parse`` output, the API.
Field names in the document follow ../shared/design/event-schema.md; renaming one is a breaking
change for mappings, boards and rules, so bump ``SCHEMA_VERSION`` when you do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import lru_cache
from operator import attrgetter

SCHEMA_VERSION = 4  # 2: midwatch.probe.value (additive); 3: fields nothing reads unindexed;
# 4: dead letters' input and kind (additive: existing indices gain them at setup)

ACTIONS = frozenset(
    {
        "received", "sent", "transformed", "published", "consumed", "delivered", "retried",
        "dead_lettered", "acknowledged", "rejected", "failed", "started", "completed", "logged",
    }
)
OUTCOMES = frozenset({"success", "failure", "unknown"})
LEVELS = ("debug", "info", "warn", "error", "fatal")
PLATFORMS = frozenset(
    {"mulesoft", "boomi", "biztalk", "ace", "ibmmq", "logicapps", "kafka", "rabbitmq", "edi",
     "tibco", "otel", "apigw", "generic", "midwatch"}
)
ERROR_CLASSES = frozenset(
    {"connectivity", "timeout", "auth", "certificate", "mapping", "validation", "throttling",
     "duplicate", "resource", "unknown"}
)
# Set by the EDI parsers on an acknowledgement that answers a whole functional group (X12 AK9
# without AK2 loops: "group") or interchange (EDIFACT UCI without UCM: "interchange"). Its IDs
# are then envelope IDs (labels, never links), and the correlator applies it to every trace that
# holds them instead of to one trace. Here, not in a parser, so correlation reads labels of the
# event schema and never imports the parse stage.
ACK_SCOPE_LABEL = "ack_scope"
# On such an acknowledgement when the same acknowledgement also answered some documents one by
# one (X12 AK2 loops, EDIFACT UCM segments): their typed IDs, one per line. The scope then
# covers only the rest of the group or interchange ("acknowledged if not explicitly
# rejected"), and the documents answered individually keep their own answer.
ACK_EXCEPT_LABEL = "ack_except"


@dataclass(slots=True)
class Part:
    """Where a record is one part of a longer one that the parse core cut in pieces its
    parser can read one at a time (an EDI interchange of several MB, cut after a document's
    trailer: ``collector.parse.Framer``). ``state`` is the same dict for every part of one
    record, the parser's to carry what it must know across them (counts the trailers check,
    control numbers seen); ``last``: no part follows, so a missing trailer is missing."""

    state: dict
    number: int
    last: bool


@dataclass(slots=True)
class Record:
    """One raw record as an input framed it, with where it came from.

    ``source`` + ``position`` identify the record for all time (file path + inode:offset,
    topic + partition:offset), which is what makes event IDs deterministic across replays.
    """

    text: str
    source: str = "-"
    position: str = "0"
    line: int = 0
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ingested_ms: int = 0
    part: Part | None = None


@dataclass(slots=True)
class Event:
    """A normalized event. Times are epoch milliseconds (UTC); durations nanoseconds (ECS)."""

    timestamp_ms: int
    dataset: str
    platform: str
    message: str = ""
    action: str | None = None
    outcome: str = "unknown"
    level: str = "info"
    id: str = ""
    ingested_ms: int = 0
    duration_ns: int | None = None
    service: str | None = None
    host: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_stack_trace: str | None = None
    flow: str | None = None
    stage: str | None = None
    partner: str | None = None
    message_id: str | None = None
    ids: list[str] = field(default_factory=list)
    error_class: str | None = None
    signature: str | None = None
    payload_bytes: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # A probe's measurement (consumer lag, queue depth, days to certificate expiry): one
    # whole-number field the metric queries can filter and aggregate, whatever was measured.
    probe_value: int | None = None
    # True when the source timestamp could not be read and ingest time stands in for it.
    timestamp_estimated: bool = False
    # When a shipper (Filebeat, rsyslog, the OTel Collector...) read the line, beside the
    # source's own time in ``timestamp_ms``: the gap is the shipping delay.
    created_ms: int = 0
    # The source line (the framed record) the event was parsed from, redacted and bounded
    # like the fields (ECS ``event.original``): stored, not indexed, shown by the explorer.
    # Set only when the record made this one event; a record of many (an EDI interchange,
    # an OTLP export) would repeat itself in each.
    original: str | None = None

    def add_id(self, kind: str, value: object) -> None:
        """Attach a typed ID (``order:4711``) once; empty values are ignored."""
        if value is None:
            return
        text = str(value).strip()
        if not text:
            return
        typed = f"{kind}:{text}"
        if typed not in self.ids:
            self.ids.append(typed)

    def __reduce__(self) -> tuple[type[Event], tuple]:
        """Pickled (to and from the parse worker) as its field values in order: half the
        bytes and half the time of the default (a name -> value dict of the slots)."""
        return Event, _event_values(self)


_event_values = attrgetter(*(f.name for f in fields(Event)))


def lower_keys(labels: dict[str, str]) -> dict[str, str]:
    """Label keys as the store holds them, lower case: a rule names a label one way, and
    ``rules.fields`` refuses an upper-case ``labels.`` key at load. The parsers' ``label_key``
    lower-cases already; a plug-in parser or probe may not. Two keys alike but for case keep
    the later value (a plug-in that sets both is asking for one label)."""
    return {k.lower(): v for k, v in labels.items()}


def event_id(source: str, position: str, index: int = 0) -> str:
    """Deterministic ID from where the event came from, so a replay overwrites, never duplicates."""
    raw = f"{source}\x1f{position}\x1f{index}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


# The first and last millisecond a date can show (0001-01-01 .. 9999-12-31T23:59:59.999).
MIN_ISO_MS = -62_135_596_800_000
MAX_ISO_MS = 253_402_300_799_999


def ms_to_iso(ms: int) -> str:
    """Epoch ms -> ISO-8601 UTC with millisecond precision, the format every store writes.

    Total: a value no date can show is clamped to the first or last one instead of raising.
    Source times are checked where they are read (``collector.timeparse.settle_time``), so
    this is the guard of last resort for a document that must still be written."""
    if not MIN_ISO_MS <= ms <= MAX_ISO_MS:
        ms = MIN_ISO_MS if ms < MIN_ISO_MS else MAX_ISO_MS
    seconds, millis = divmod(int(ms), 1000)
    return _second_iso(seconds) + _MILLIS_Z[millis]


# "000Z" .. "999Z": a concatenation instead of a formatted f-string halves ms_to_iso (0.48 ->
# 0.26 us), called for two stamps per event and three plus one per hop per trace write.
_MILLIS_Z = tuple(f"{i:03d}Z" for i in range(1000))


@lru_cache(maxsize=8192)
def _second_iso(seconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.`` of one epoch second. Cached: every event is written with two
    timestamps, events of one batch share few seconds, and strftime was the largest single
    cost of turning an event into its document."""
    return f"{datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None).isoformat()}."


def iso_to_ms(text: str) -> int:
    """ISO-8601 (with Z or offset) -> epoch ms."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def to_doc(ev: Event, *, original: bool = True) -> dict:
    """The nested ECS document stored in Elasticsearch and printed by ``midwatch parse``
    (which leaves ``event.original`` out: its input is right there).

    Empty values are left out. Written as plain tests rather than a helper per field: this
    runs once per event on the writer's hot path.
    """
    doc: dict = {"@timestamp": ms_to_iso(ev.timestamp_ms)}
    event: dict = {"id": ev.id, "dataset": ev.dataset, "outcome": ev.outcome}
    if ev.action:
        event["action"] = ev.action
    if ev.duration_ns is not None:
        event["duration"] = ev.duration_ns
    if ev.ingested_ms:
        event["ingested"] = ms_to_iso(ev.ingested_ms)
    if ev.created_ms:
        event["created"] = ms_to_iso(ev.created_ms)
    if original and ev.original:
        event["original"] = ev.original
    doc["event"] = event
    doc["log"] = {"level": ev.level}
    if ev.message:
        doc["message"] = ev.message
    if ev.service:
        doc["service"] = {"name": ev.service}
    if ev.host:
        doc["host"] = {"name": ev.host}
    if ev.trace_id:
        doc["trace"] = {"id": ev.trace_id}
    if ev.span_id:
        doc["span"] = {"id": ev.span_id}
    if ev.error_type or ev.error_code or ev.error_message or ev.error_stack_trace:
        err: dict = {}
        if ev.error_type:
            err["type"] = ev.error_type
        if ev.error_code:
            err["code"] = ev.error_code
        if ev.error_message:
            err["message"] = ev.error_message
        if ev.error_stack_trace:
            err["stack_trace"] = ev.error_stack_trace
        doc["error"] = err
    mw: dict = {"platform": ev.platform, "ids": list(ev.ids)}
    if ev.flow:
        mw["flow"] = ev.flow
    if ev.stage:
        mw["stage"] = ev.stage
    if ev.partner:
        mw["partner"] = ev.partner
    if ev.message_id:
        mw["message_id"] = ev.message_id
    if ev.error_class:
        mw["error_class"] = ev.error_class
    if ev.signature:
        mw["signature"] = ev.signature
    if ev.payload_bytes is not None:
        mw["payload_bytes"] = ev.payload_bytes
    if ev.timestamp_estimated:
        mw["timestamp_estimated"] = True
    if ev.probe_value is not None:
        mw["probe"] = {"value": ev.probe_value}
    doc["midwatch"] = mw
    if ev.labels:
        doc["labels"] = dict(ev.labels)
    return doc


def from_doc(doc: dict) -> Event:
    """Inverse of ``to_doc`` (stores hand events back to the trace API and rule tests)."""
    event = doc.get("event", {})
    err = doc.get("error", {})
    mw = doc.get("midwatch", {})
    ingested = event.get("ingested")
    created = event.get("created")
    return Event(
        timestamp_ms=iso_to_ms(doc["@timestamp"]),
        dataset=event.get("dataset", ""),
        platform=mw.get("platform", "generic"),
        message=doc.get("message", ""),
        action=event.get("action"),
        outcome=event.get("outcome", "unknown"),
        level=doc.get("log", {}).get("level", "info"),
        id=event.get("id", ""),
        ingested_ms=iso_to_ms(ingested) if ingested else 0,
        duration_ns=event.get("duration"),
        service=doc.get("service", {}).get("name"),
        host=doc.get("host", {}).get("name"),
        trace_id=doc.get("trace", {}).get("id"),
        span_id=doc.get("span", {}).get("id"),
        error_type=err.get("type"),
        error_code=err.get("code"),
        error_message=err.get("message"),
        error_stack_trace=err.get("stack_trace"),
        flow=mw.get("flow"),
        stage=mw.get("stage"),
        partner=mw.get("partner"),
        message_id=mw.get("message_id"),
        ids=list(mw.get("ids", [])),
        error_class=mw.get("error_class"),
        signature=mw.get("signature"),
        payload_bytes=mw.get("payload_bytes"),
        labels=dict(doc.get("labels", {})),
        timestamp_estimated=bool(mw.get("timestamp_estimated", False)),
        probe_value=mw.get("probe", {}).get("value"),
        created_ms=iso_to_ms(created) if created else 0,
        original=event.get("original"),
    )


# Field paths of the document that rules, boards and filters may name (used for validation
# and "did you mean" hints). Keep in step with to_doc and the index template.
EVENT_FIELDS = frozenset(
    {
        "@timestamp", "event.id", "event.ingested", "event.created", "event.dataset", "event.action",
        "event.outcome", "event.duration", "log.level", "message", "service.name", "host.name",
        "trace.id", "span.id", "error.type", "error.code", "error.message", "error.stack_trace",
        "midwatch.platform", "midwatch.flow", "midwatch.stage", "midwatch.partner",
        "midwatch.message_id", "midwatch.ids", "midwatch.error_class", "midwatch.signature",
        "midwatch.payload_bytes", "midwatch.timestamp_estimated", "midwatch.probe.value",
    }
)


@dataclass(slots=True)
class DeadLetter:
    """A record that could not be parsed or stored: kept whole (bounded) with the reason."""

    reason: str
    source: str
    line: int
    raw: str
    stage: str = "parse"  # parse | correlate | store
    field: str | None = None
    ingested_ms: int = 0
    # ``raw`` is only the head of what was read (a line cut at the input's max_line_bytes).
    truncated: bool = False
    # The input that read the record (stamped by the pipeline from its chunk), so an
    # analyst can ask `midwatch deadletters --input`; "" for store-stage dead letters.
    input: str = ""

    MAX_RAW = 64 * 1024

    def to_doc(self) -> dict:
        raw = self.raw if len(self.raw) <= self.MAX_RAW else self.raw[: self.MAX_RAW]
        doc = {
            "@timestamp": ms_to_iso(self.ingested_ms),
            "reason": self.reason,
            # The reason's kind ("line_too_long" of "line_too_long: ..."): what
            # `midwatch deadletters --reason` and its summary match and count by.
            "kind": self.reason.partition(":")[0],
            "source": f"{self.source}:{self.line}" if self.line else self.source,
            "stage": self.stage,
            "raw": raw,
            "raw_truncated": self.truncated or len(self.raw) > self.MAX_RAW,
        }
        if self.field:
            doc["field"] = self.field
        # Always there ("" for store-stage ones): the summary's terms would leave out the
        # documents without it, and a count must not come out short.
        doc["input"] = self.input
        return doc
