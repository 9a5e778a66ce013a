"""Dead letters as an analyst reads them (``midwatch deadletters``, ``GET /api/deadletters``):
which ones to ask the store for, and their counts by reason and input over a window.

Pure except for the two store calls; the store keeps each dead letter as
``DeadLetter.to_doc`` wrote it. Dead letters written before the ``input`` and ``kind``
fields existed are listed (input "-") but not matched by --input/--reason, and the summary
counts them under "-" on SQLite only (Elasticsearch's terms leave them out).
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.store.base import Filter, MetricQuery, Store

DEFAULT_LIMIT = 50
# The window when none is asked for (CLI --since, API since).
DEFAULT_SINCE = "1d"


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """Unset fields do not filter; ``reason`` is a reason's kind, e.g. line_too_long."""

    start_ms: int
    end_ms: int
    input: str | None = None
    reason: str | None = None
    limit: int = DEFAULT_LIMIT


def filters(q: DeadLetterQuery) -> tuple[Filter, ...]:
    found = []
    if q.input is not None:
        found.append(Filter("input", "eq", q.input))
    if q.reason is not None:
        found.append(Filter("kind", "eq", q.reason))
    return tuple(found)


def newest(store: Store, q: DeadLetterQuery) -> list[dict]:
    if q.start_ms >= q.end_ms:  # a window starting in the future holds none
        return []
    return store.search_deadletters(filters(q), q.start_ms, q.end_ms, q.limit)


def summary(store: Store, q: DeadLetterQuery) -> list[dict]:
    """Counts by reason kind and input, largest first: every dead letter of the window is
    counted, not only the newest ``limit``. A window that starts in the future holds none
    (the store refuses an empty window)."""
    if q.start_ms >= q.end_ms:
        return []
    rows = store.metric(MetricQuery("deadletter", q.start_ms, q.end_ms, filters=filters(q),
                                    group_by=("kind", "input")))
    found = [{"reason": r.group.get("kind") or "-", "input": r.group.get("input") or "-",
              "count": r.count} for r in rows]
    return sorted(found, key=lambda r: (-r["count"], r["reason"], r["input"]))


def row(doc: dict) -> list[str]:
    """A table line: time, input, source (file:line, or topic:partition:offset), reason,
    raw record (``tracequery.table`` cuts each cell to its width and escapes controls, so a
    record's newlines cannot break the table; --json keeps it whole)."""
    return [str(doc.get("@timestamp", "")), doc.get("input") or "-",
            str(doc.get("source", "")), str(doc.get("reason", "")), str(doc.get("raw", ""))]
