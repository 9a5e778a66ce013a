"""Dead letters as an analyst reads them (``midwatch deadletters``, ``GET /api/deadletters``):
which ones to ask the store for, and their counts by reason and input over a window.

Pure except for the two store calls; the store keeps each dead letter as
``DeadLetter.to_doc`` wrote it. Dead letters written before the ``input`` and ``kind``
fields existed are listed (input "-") but not matched by --input/--reason, and the summary
counts them under "-" on SQLite only (Elasticsearch's terms leave them out).
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.apidoc import MAX_LIMIT
from collector.store.base import Filter, MetricQuery, Store

DEFAULT_LIMIT = 50
# A listed record's ``raw`` is cut to its first RAW_HEAD_BYTES (UTF-8) with ``raw_truncated``:
# 1,000 records of up to 64 KiB each would make a 64 MB answer. Whole records (``--whole``)
# come at most WHOLE_LIMIT at a time.
RAW_HEAD_BYTES = 4096
WHOLE_LIMIT = 10
# The window when none is asked for (CLI --since, API since).
DEFAULT_SINCE = "1d"


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """Unset fields do not filter; ``reason`` is a reason's kind, e.g. line_too_long;
    ``source`` a record's file:line (or topic:partition:offset)."""

    start_ms: int
    end_ms: int
    input: str | None = None
    reason: str | None = None
    limit: int = DEFAULT_LIMIT
    source: str | None = None


def filters(q: DeadLetterQuery) -> tuple[Filter, ...]:
    found = []
    if q.input is not None:
        found.append(Filter("input", "eq", q.input))
    if q.reason is not None:
        found.append(Filter("kind", "eq", q.reason))
    if q.source is not None:
        found.append(Filter("source", "eq", q.source))
    return tuple(found)


def newest(store: Store, q: DeadLetterQuery, *, whole: bool = False) -> list[dict]:
    """Newest first, ties by source (file:line, as text), stage and kind on every store; at
    most ``MAX_LIMIT`` whatever ``q.limit`` says (SQLite took -1 for no limit), each ``raw``
    cut to ``RAW_HEAD_BYTES``, or whole and at most ``WHOLE_LIMIT``."""
    if q.start_ms >= q.end_ms:  # a window starting in the future holds none
        return []
    limit = max(0, min(q.limit, WHOLE_LIMIT if whole else MAX_LIMIT))
    docs = store.search_deadletters(filters(q), q.start_ms, q.end_ms, limit)
    return docs if whole else [_head(d) for d in docs]


def _head(doc: dict) -> dict:
    """The document with ``raw`` cut to its first ``RAW_HEAD_BYTES`` in UTF-8, at a character
    boundary, and ``raw_truncated`` set when it was cut."""
    raw = doc.get("raw")
    if not isinstance(raw, str) or len(raw) * 4 <= RAW_HEAD_BYTES:
        return doc
    encoded = raw.encode("utf-8", "surrogatepass")
    if len(encoded) <= RAW_HEAD_BYTES:
        return doc
    end = RAW_HEAD_BYTES
    while encoded[end] & 0xC0 == 0x80:  # a continuation byte: the character starts before
        end -= 1
    return {**doc, "raw": encoded[:end].decode("utf-8", "surrogatepass"), "raw_truncated": True}


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
    record's newlines cannot break the table; ``--json --whole`` gives it whole)."""
    return [str(doc.get("@timestamp", "")), doc.get("input") or "-",
            str(doc.get("source", "")), str(doc.get("reason", "")), str(doc.get("raw", ""))]
