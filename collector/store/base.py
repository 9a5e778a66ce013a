"""The store interface every backend implements, and the metric query model rules run on.

Two implementations share it: ``ElasticsearchStore`` (production) and ``SQLiteStore`` (the
embedded zero-setup default). One contract test suite runs against both, so a rule or a trace
query behaves the same whichever store holds the data.

Documents use dotted field paths from ``collector.event.EVENT_FIELDS`` (index ``events``) and
``collector.trace.TRACE_FIELDS`` (index ``traces``); ``alerts`` holds alert history documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from collector.event import DeadLetter, Event
from collector.trace import Trace

Index = Literal["events", "traces", "alerts", "deadletter"]


class StoreError(Exception):
    """The store refused or could not be reached; the message says what to check."""


class StoreUnavailable(StoreError):
    """The store did not answer, or refused whole requests as overloaded (connection errors,
    timeouts, 429/5xx), through every retry. The writer then spools to disk instead of
    holding the batch in memory; any other StoreError is about the data or the setup."""


class WritesRefused(StoreError):
    """The store answered and took the rest of a write, but kept failing some of its records
    through every retry. Repeated, it points at those records (a poison event), not at the
    store: the writer then tries them one by one and dead-letters the ones still refused."""


class ConflictError(StoreError):
    """An optimistic-concurrency write lost a race: re-read the document and retry.

    ``trace_keys`` names the traces that lost, so the caller re-reads only those.
    """

    def __init__(self, message: str, trace_keys: tuple[str, ...] = ()):
        super().__init__(message)
        self.trace_keys = trace_keys


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition on a document field.

    ops: ``eq`` (value), ``in`` (tuple), ``prefix`` (str), ``range`` (value = (gte, lt), either
    may be None), ``exists`` (value ignored), ``contains`` (substring / query-string word).
    ``negate`` turns any of them into NOT.
    """

    field: str
    op: Literal["eq", "in", "prefix", "range", "exists", "contains"]
    value: Any = None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Agg:
    """What to compute per group (and per time bucket).

    kinds: ``count``; ``ratio`` (share of matching docs that also match ``where``: e.g.
    failure ratio); ``percentile`` (``field``, ``q`` in 0..100); ``distinct`` (approximate
    cardinality of ``field``); ``avg``/``min``/``max``/``sum`` of ``field``.
    """

    kind: Literal["count", "ratio", "percentile", "distinct", "avg", "min", "max", "sum"]
    field: str | None = None
    q: float | None = None
    where: tuple[Filter, ...] = ()


@dataclass(frozen=True, slots=True)
class RawSource:
    """Any index pattern and query of the cluster, not midwatch's own schema (Elasticsearch
    and OpenSearch stores only; SQLite refuses it). ``query`` is canonical JSON, so the
    source stays hashable for batching: a JSON object is query DSL, a JSON string a Lucene
    query string. Field names in such a query are the index's own."""

    pattern: str
    query: str


# Fields a raw source's rule needs, checked against the cluster's mapping: name -> what
# it must be ("date", "aggregatable" for group_by, "numeric" for a measured value).
FieldNeeds = dict[str, str]


@dataclass(frozen=True, slots=True)
class MetricQuery:
    """filter + group by + aggregation over [start_ms, end_ms), optionally bucketed in time."""

    index: Index
    start_ms: int
    end_ms: int
    agg: Agg = Agg("count")
    filters: tuple[Filter, ...] = ()
    group_by: tuple[str, ...] = ()
    bucket_ms: int | None = None
    time_field: str = "@timestamp"
    # Upper bound on groups returned (largest count first), so a typo'd group_by on a
    # high-cardinality field cannot blow memory.
    max_groups: int = 1000
    # Set: ``index`` is ignored and the query runs on this pattern and query instead, with
    # ``time_field``, ``group_by`` and the aggregation's field named as that index has them.
    source: RawSource | None = None
    # Buckets of uneven length instead of ``bucket_ms``: their boundaries, from start_ms to
    # end_ms; a row's ``bucket_ms`` is its bucket's start. Sliding windows ask for fine
    # buckets only where windows start and end, one for the span every window holds.
    edges_ms: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """Which traces ``search_traces`` returns (newest by last_seen first): the one statement
    of the trace search, as ``MetricQuery`` is of the metric one. Unset fields do not filter;
    ``since_ms``/``until_ms`` bound ``last_seen`` as [since, until)."""

    flow: str | None = None
    partner: str | None = None
    status: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    stage: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class MetricRow:
    group: dict[str, Any]
    value: float | None
    count: int
    bucket_ms: int | None = None


@dataclass(slots=True)
class WriteResult:
    written: int = 0
    # Events the store rejected for the event itself (mapping error, too large): these go
    # to the dead-letter sink. Transient failures raise StoreError instead, so the caller
    # retries and nothing is acknowledged upstream.
    rejected: list[tuple[Event, str]] = field(default_factory=list)


class Store(Protocol):
    def setup(self) -> None:
        """Create schema / index templates (idempotent, versioned)."""

    def close(self) -> None: ...

    def ping(self) -> str:
        """Raise StoreError with a helpful reason if unusable; return a version string."""

    # --- write path -----------------------------------------------------------------
    def write_events(self, events: Sequence[Event]) -> WriteResult:
        """Idempotent by ``event.id``: writing the same event twice stores it once."""

    def write_deadletters(self, items: Sequence[DeadLetter]) -> None: ...

    def get_traces_by_ids(self, ids: Iterable[str], *, since_ms: int | None = None,
                          until_ms: int | None = None) -> list[Trace]:
        """Traces containing any of the typed IDs (with their concurrency ``version``);
        with ``since_ms``/``until_ms``, only those whose span (first to last event) reaches
        into that time, plus any whose key is one of the IDs whatever its time (a key names
        one document: a writer must know it is taken)."""

    def upsert_traces(self, traces: Sequence[Trace], deleted: Sequence[Trace] = ()) -> None:
        """Write traces; a trace with a ``version`` is written only if unchanged since read
        (raise ConflictError otherwise). ``deleted``: traces merged away into others."""

    def refresh(self) -> None:
        """Make recent writes visible to searches (tests, CLI after a run)."""

    # --- read path ------------------------------------------------------------------
    def get_trace(self, any_id: str) -> Trace | None:
        """By trace_key or any typed ID; a bare ID (``4711``) matches any type. The most
        recently seen of ``find_traces`` (a key reused as a later message's ID gives that
        message: the permalink readers, the API, the explorer and ``midwatch trace``, take
        ``tracequery.one_named`` of ``find_traces`` instead)."""

    def find_traces(self, any_id: str, limit: int = 50) -> list[Trace]:
        """Every trace the ID names, most recently seen first: those with that key or
        holding the typed ID, else all holding the bare value. An envelope ID (the ISA
        control number of an interchange carrying two orders) belongs to several traces, and
        so does an ID reused over time (one trace per message, ``ids.join_window``). The
        trace whose key is the ID is always among them, after ``limit`` others if need be: a
        key is a permalink."""

    def search_traces(self, query: TraceQuery) -> list[Trace]:
        """Newest (by last_seen) first."""

    def open_traces(self, last_seen_before_ms: int, limit: int = 1000) -> list[Trace]:
        """In-flight traces not seen since the given time (for the stuck sweep)."""

    def shared_trace_ids(self, last_seen_since_ms: int, limit: int = 500, *,
                         only_kinds: Iterable[str] | None = None,
                         skip_kinds: Iterable[str] = ()) -> list[str]:
        """Typed IDs that more than one trace seen since then holds: one message split by
        collectors writing at the same moment (``collector.correlation.trace_repair`` merges
        them). ``only_kinds``/``skip_kinds``: ID types to count or leave out (envelope IDs
        shared by every order of an interchange would fill the ``limit``)."""

    def trace_events(self, trace: Trace, limit: int = 1000) -> list[Event]:
        """The events of a trace, in time order: holding one of its IDs, within its span
        (first to last event; an ID reused over time names other messages' events too)."""

    def search_events(
        self, filters: Sequence[Filter], start_ms: int, end_ms: int, limit: int = 100
    ) -> list[Event]: ...

    def search_deadletters(
        self, filters: Sequence[Filter], start_ms: int, end_ms: int, limit: int = 100
    ) -> list[dict]:
        """Dead-letter documents (``DeadLetter.to_doc``), newest first."""

    def metric(self, q: MetricQuery) -> list[MetricRow]: ...

    def metrics(self, qs: Sequence[MetricQuery]) -> list[list[MetricRow]]:
        """Many queries at once (ES: one ``_msearch``) for the rule evaluator."""

    def check_source(self, source: RawSource, fields: FieldNeeds) -> list[str]:
        """What is wrong with a raw query rule's source on this store (the query refused,
        a field missing or of the wrong kind), one actionable sentence each; [] when fine.
        StoreUnavailable when the store does not answer (then only the shape is checked)."""

    # --- alert engine state ----------------------------------------------------------
    def append_alert_history(self, docs: Sequence[dict]) -> None:
        """Alert transitions (fired, resolved, notified) into ``midwatch-alerts``."""

    def put_state(self, namespace: str, key: str, doc: dict | None) -> None:
        """Small durable key/value docs (alert states, silences, checkpoints); None deletes."""

    def get_state(self, namespace: str) -> dict[str, dict]: ...
