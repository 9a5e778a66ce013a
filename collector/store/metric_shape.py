"""What both stores must agree on around a metric query: which queries are valid, where time
buckets fall, how percentiles interpolate, and in which order rows come back.

Keeping these here (pure, no I/O) is what lets one contract suite hold the two stores to the
same answers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from collector.store import fields
from collector.store.base import Agg, Filter, MetricQuery, MetricRow

# A rule asking for more buckets than this per group is almost certainly a unit mistake
# (bucket of 1 ms over a day); refusing it keeps memory bounded in both stores.
MAX_BUCKETS = 10_000
_NUMERIC = frozenset({"long", "integer"})
_FIELD_AGGS = frozenset({"percentile", "distinct", "avg", "min", "max", "sum"})


def validate(q: MetricQuery) -> None:
    """Raise ValueError saying what is wrong with ``q`` and how to fix it."""
    if q.source is not None:
        _validate_raw(q)
        return
    if q.index not in fields.SCHEMAS:
        raise ValueError(f"unknown index {q.index!r}; expected one of {sorted(fields.SCHEMAS)}")
    if q.end_ms <= q.start_ms:
        raise ValueError(f"empty time window: start_ms {q.start_ms} >= end_ms {q.end_ms}")
    if q.time_field not in fields.time_fields(q.index):
        raise ValueError(
            f"time_field {q.time_field!r} is not a date of index {q.index!r}; "
            f"use one of {fields.time_fields(q.index)}"
        )
    if q.max_groups < 1:
        raise ValueError(f"max_groups must be at least 1, got {q.max_groups}")
    validate_filters(q.index, q.filters)
    for name in q.group_by:
        s = fields.searchable(q.index, name)
        if s.array or s.type in ("date", "text"):
            raise ValueError(
                f"cannot group by {name!r} ({'array' if s.array else s.type} field); "
                "group by a keyword, number or boolean field such as midwatch.flow"
            )
    _validate_agg(q.index, q.agg)
    if q.edges_ms is not None:
        _validate_edges(q)
    if q.bucket_ms is not None:
        if q.bucket_ms <= 0:
            raise ValueError(f"bucket_ms must be positive, got {q.bucket_ms}")
        n = len(bucket_starts(q.start_ms, q.end_ms, q.bucket_ms, limit=MAX_BUCKETS + 1))
        if n > MAX_BUCKETS:
            raise ValueError(
                f"{q.bucket_ms} ms buckets over {q.end_ms - q.start_ms} ms make more than "
                f"{MAX_BUCKETS} buckets; widen the bucket or shorten the window"
            )


def _validate_raw(q: MetricQuery) -> None:
    """A raw source's fields are the cluster's (checked there, ``Store.check_source``): only
    what needs no mapping is checked here."""
    if q.end_ms <= q.start_ms:
        raise ValueError(f"empty time window: start_ms {q.start_ms} >= end_ms {q.end_ms}")
    if q.filters or q.agg.where or q.agg.kind not in ("count", "avg", "min", "max", "sum"):
        raise ValueError("a raw query takes its conditions in the query and counts or measures "
                         "(avg, min, max, sum) a field; midwatch filters do not apply to it")
    if q.max_groups < 1 or (q.bucket_ms is not None and q.bucket_ms <= 0):
        raise ValueError(f"max_groups and bucket_ms must be positive, got {q.max_groups}, "
                         f"{q.bucket_ms}")


def _validate_edges(q: MetricQuery) -> None:
    edges = q.edges_ms or ()
    if q.bucket_ms is not None:
        raise ValueError("bucket_ms and edges_ms exclude each other: even or uneven buckets")
    if len(edges) < 2 or edges[0] != q.start_ms or edges[-1] != q.end_ms:
        raise ValueError(f"edges_ms must run from start_ms {q.start_ms} to end_ms {q.end_ms}")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError("edges_ms must increase")
    if len(edges) > MAX_BUCKETS + 1:
        raise ValueError(f"more than {MAX_BUCKETS} buckets in edges_ms")


def validate_filters(index: str, filters: Iterable[Filter]) -> None:
    for f in filters:
        s = fields.searchable(index, f.field)
        if f.op == "in" and (isinstance(f.value, str) or not isinstance(f.value, Iterable)):
            raise ValueError(f"filter 'in' on {f.field!r} needs a list of values, got {f.value!r}")
        if f.op == "range":
            if not (isinstance(f.value, Sequence) and len(f.value) == 2):
                raise ValueError(
                    f"filter 'range' on {f.field!r} needs (gte, lt), got {f.value!r}"
                )
            if s.type == "date" and any(
                v is not None and not isinstance(v, int) for v in f.value
            ):
                raise ValueError(
                    f"range on date field {f.field!r} takes epoch milliseconds, got {f.value!r}"
                )
        if f.op == "prefix" and not isinstance(f.value, str):
            raise ValueError(f"filter 'prefix' on {f.field!r} needs a string, got {f.value!r}")
        if f.op == "contains" and not (isinstance(f.value, str) and f.value):
            raise ValueError(f"filter 'contains' on {f.field!r} needs a non-empty string")
        if f.op not in ("eq", "in", "prefix", "range", "exists", "contains"):
            raise ValueError(f"unknown filter op {f.op!r} on {f.field!r}")


def _validate_agg(index: str, agg: Agg) -> None:
    if agg.kind in _FIELD_AGGS:
        if not agg.field:
            raise ValueError(f"aggregation {agg.kind!r} needs a field")
        s = fields.searchable(index, agg.field)
        if s.array:
            raise ValueError(f"aggregation {agg.kind!r} on array field {agg.field!r}")
        if (agg.kind != "distinct" and index != "alerts" and s.type not in _NUMERIC
                and not (agg.kind in ("min", "max") and s.type == "date")):  # first/last seen
            raise ValueError(
                f"aggregation {agg.kind!r} needs a numeric field; {agg.field!r} is {s.type}"
            )
        if agg.kind == "distinct" and s.type == "text":
            raise ValueError(f"distinct of text field {agg.field!r}; use a keyword field")
    elif agg.kind not in ("count", "ratio"):
        raise ValueError(f"unknown aggregation {agg.kind!r}")
    if agg.kind == "percentile" and (agg.q is None or not 0 <= agg.q <= 100):
        raise ValueError(f"percentile needs q between 0 and 100, got {agg.q!r}")
    if agg.kind == "ratio" and not agg.where:
        raise ValueError("ratio needs 'where' filters (the numerator, e.g. event.outcome=failure)")
    validate_filters(index, agg.where)


def bucket_start(ms: int, bucket_ms: int) -> int:
    """Buckets are aligned to the epoch (UTC), as Elasticsearch's fixed_interval aligns them."""
    return ms - ms % bucket_ms


def bucket_starts(start_ms: int, end_ms: int, bucket_ms: int, limit: int = MAX_BUCKETS) -> list[int]:
    """Start of every bucket that overlaps [start_ms, end_ms), at most ``limit``."""
    first = bucket_start(start_ms, bucket_ms)
    stop = min(end_ms, first + limit * bucket_ms)
    return list(range(first, stop, bucket_ms))


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, which is what Elasticsearch's t-digest
    returns for the small samples a rule window usually holds (p95 of 1..10 = 9.55)."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def empty_value(agg: Agg) -> float | None:
    """The value of a bucket or group with no documents."""
    return 0.0 if agg.kind in ("count", "distinct", "sum") else None


def typed_key(index: str, field: str, value: Any) -> Any:
    """Group keys come back as the field's type in both stores (booleans, not 1/0)."""
    if value is None or index not in fields.SCHEMAS:  # a raw source's keys stay as sent
        return value
    kind = fields.spec(index, field).type
    if kind == "boolean":
        return value in (True, 1, "true")
    if kind in _NUMERIC:
        return int(value)
    return value


def order_rows(q: MetricQuery, rows: list[MetricRow]) -> list[MetricRow]:
    """Largest groups first (ties by key), at most ``max_groups`` groups; buckets in time order.

    With ``bucket_ms`` (or ``edges_ms``) every group gets every bucket of the window, empty
    ones included (count 0), so an absence or spike rule sees the zeros.
    """
    fields = q.group_by
    groups: dict[tuple, list[MetricRow]] = {} if fields else {(): []}
    for row in rows:
        groups.setdefault(tuple([row.group.get(f) for f in fields]), []).append(row)
    totals = {k: sum(r.count for r in rs) for k, rs in groups.items()}
    keys = sorted(groups, key=lambda k: (-totals[k], key_order(k)))[: q.max_groups]
    empty = empty_value(q.agg)
    # a backfill's histograms fill ~50k empty buckets each: the loop below is kept lean
    starts = (q.edges_ms[:-1] if q.edges_ms else bucket_starts(q.start_ms, q.end_ms, q.bucket_ms)
              if q.bucket_ms is not None else None)
    out: list[MetricRow] = []
    for key in keys:
        members = groups[key]
        group = dict(zip(fields, key, strict=True))
        if starts is None:
            out.extend(members or [MetricRow(group, empty, 0)])
            continue
        by_bucket = {r.bucket_ms: r for r in members}
        out += [by_bucket.get(b) or MetricRow(group, empty, 0, b) for b in starts]
    return out


def key_order(key: tuple) -> tuple:
    """How group keys of equal size are ordered: numbers before text, each by value."""
    return tuple(map(_sortable, key))


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
