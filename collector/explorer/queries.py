"""What the explorer's pages ask of the store, through the same ``Store`` methods as the API.

Each function takes the store and plain values and returns plain values (Traces, counts), so
views stay pure and these can be run against both stores in the contract tests. Every read
is bounded: lists by page size, the funnel and the filters that the store cannot apply itself
(platform, error signature) by ``SCAN_LIMIT`` traces or events.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.since import parse_since
from collector.store.base import Filter, MetricQuery, Store, TraceQuery
from collector.trace import Trace
from collector.tracequery import find_by_id

PAGE_SIZE = 50
# The most traces (or error events) one page scans for filters the store does not index.
SCAN_LIMIT = 2000
# The most traces one ID search lists.
MAX_MATCHES = 100


class BadQuery(ValueError):
    """A filter value the person typed cannot be read; the message says which and how."""


def parse_time(name: str, text: str, now_ms: int) -> int:
    """``1h`` (that long before now) or an RFC 3339 time -> epoch ms (``collector.since``)."""
    try:
        return parse_since(text, now_ms)
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from None


def find(store: Store, any_id: str) -> list[Trace]:
    """Every trace that knows the ID, most recently seen first: the store's own answer
    (``Store.find_traces``), the same the API and ``midwatch trace`` give, so an envelope or
    batch ID lists every message it carried and a bare value every typed ID holding it."""
    text = any_id.strip()
    return find_by_id(store, text, MAX_MATCHES)[1] if text else []


@dataclass(frozen=True, slots=True)
class ListQuery:
    flow: str | None = None
    status: str | None = None
    partner: str | None = None
    platform: str | None = None
    signature: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None  # exclusive; the next page starts below the last row's time


@dataclass(frozen=True, slots=True)
class Page:
    traces: list[Trace]
    next_until_ms: int | None  # the cursor for the next page, None on the last one
    scanned_all: bool  # False when a platform/signature filter stopped at SCAN_LIMIT


def list_traces(store: Store, q: ListQuery, page_size: int = PAGE_SIZE) -> Page:
    """One page of traces, newest (last seen) first, cursor-paginated by last-seen time.

    A page ends at a time, and the next starts strictly before it: traces last seen in the
    very same millisecond as a page's last row may fall between pages.
    """
    keys = None
    if q.signature:
        keys = _signature_keys(store, q)
    wanted = page_size + 1
    needs_scan = bool(q.platform) or keys is not None
    fetched = store.search_traces(TraceQuery(
        flow=q.flow, partner=q.partner, status=q.status, since_ms=q.since_ms,
        until_ms=q.until_ms, limit=SCAN_LIMIT if needs_scan else wanted))
    rows = [t for t in fetched
            if (not q.platform or any(h.platform == q.platform for h in t.hops))
            and (keys is None or t.trace_key in keys)]
    more = len(rows) > page_size
    rows = rows[:page_size]
    return Page(rows, rows[-1].last_seen_ms if more else None,
                scanned_all=not needs_scan or len(fetched) < SCAN_LIMIT)


def _signature_keys(store: Store, q: ListQuery) -> set[str]:
    """Keys of the traces holding an error event with the signature (over the same window)."""
    start = q.since_ms if q.since_ms is not None else 0
    end = q.until_ms if q.until_ms is not None else 2**62
    events = store.search_events([Filter("midwatch.signature", "eq", q.signature)], start, end,
                                 limit=SCAN_LIMIT)
    ids = sorted({i for ev in events for i in ev.ids})
    wanted = {ev.id for ev in events}
    # An ID can be shared by messages; the trace must hold the erring event as a hop.
    return {t.trace_key for t in (store.get_traces_by_ids(ids) if ids else [])
            if any(h.event_id in wanted for h in t.hops)}


def flows(store: Store, since_ms: int, now_ms: int) -> list[tuple[str, int]]:
    """Flow names with how many traces were seen in the window, busiest first."""
    rows = store.metric(MetricQuery("traces", since_ms, now_ms + 1, group_by=("flow",),
                                    time_field="last_seen"))
    return [(str(r.group["flow"]), r.count) for r in rows if r.group.get("flow")]


@dataclass(frozen=True, slots=True)
class Funnel:
    flow: str
    since_ms: int
    traces: int
    stages: list[tuple[str, int]]  # stage, traces that reached it; in the flow's order
    statuses: dict[str, int]
    truncated: bool


def funnel(store: Store, flow: str, since_ms: int) -> Funnel:
    """How many of the flow's traces seen since then reached each stage.

    Stages are ordered by where they usually come in a journey (mean position), which is the
    catalog's order for the stages that traces actually reach.
    """
    found = store.search_traces(TraceQuery(flow=flow, since_ms=since_ms, limit=SCAN_LIMIT))
    reached: dict[str, int] = {}
    position: dict[str, float] = {}
    statuses: dict[str, int] = {}
    for t in found:
        statuses[t.status] = statuses.get(t.status, 0) + 1
        for i, stage in enumerate(t.stages):
            reached[stage] = reached.get(stage, 0) + 1
            position[stage] = position.get(stage, 0.0) + i / max(1, len(t.stages))
    order = sorted(reached, key=lambda s: (position[s] / reached[s], -reached[s], s))
    return Funnel(flow, since_ms, len(found), [(s, reached[s]) for s in order], statuses,
                  truncated=len(found) >= SCAN_LIMIT)
