"""Filters and metric queries as Elasticsearch query DSL, and aggregation responses as rows.

Pure functions so the translation can be read and tested without a cluster; the store only
sends what these build. The shapes follow what Grafana sends for the same panels (size 0,
``bool.filter`` with an epoch-millis range, terms > date_histogram > metric).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from collector.store import fields
from collector.store.base import Agg, Filter, MetricQuery, MetricRow, RawSource
from collector.store.es_mappings import field_name
from collector.store.metric_shape import empty_value, order_rows, typed_key

# Exact below this many distinct values (Elasticsearch's maximum precision threshold).
CARDINALITY_PRECISION = 40_000
_WILDCARD_SPECIAL = str.maketrans({"*": r"\*", "?": r"\?", "\\": r"\\"})


def filter_clause(index: str, f: Filter) -> dict:
    """One Filter as a query clause (negation is applied by ``bool_query``)."""
    name = field_name(index, f.field, exact=True)
    spec = fields.spec(index, f.field)
    if f.op == "eq":
        return {"term": {name: f.value}}
    if f.op == "in":
        return {"terms": {name: list(f.value)}}
    if f.op == "prefix":
        return {"prefix": {name: f.value}}
    if f.op == "exists":
        return {"exists": {"field": f.field}}
    if f.op == "range":
        gte, lt = f.value
        bounds: dict[str, Any] = {}
        if gte is not None:
            bounds["gte"] = gte
        if lt is not None:
            bounds["lt"] = lt
        if spec.type == "date":
            bounds["format"] = "epoch_millis"
        return {"range": {f.field: bounds}}
    if f.op == "contains":
        if spec.type == "text":
            return {"match_phrase": {f.field: f.value}}
        pattern = f"*{str(f.value).translate(_WILDCARD_SPECIAL)}*"
        return {"wildcard": {name: {"value": pattern, "case_insensitive": True}}}
    raise ValueError(f"unknown filter op {f.op!r}")


def bool_query(index: str, filters: Iterable[Filter], *extra: dict) -> dict:
    must: list[dict] = list(extra)
    must_not: list[dict] = []
    for f in filters:
        (must_not if f.negate else must).append(filter_clause(index, f))
    body: dict = {"filter": must}
    if must_not:
        body["must_not"] = must_not
    return {"bool": body}


def time_range(field: str, start_ms: int | None, end_ms: int | None) -> dict:
    bounds: dict[str, Any] = {"format": "epoch_millis"}
    if start_ms is not None:
        bounds["gte"] = start_ms
    if end_ms is not None:
        bounds["lt"] = end_ms
    return {"range": {field: bounds}}


def rank_percents(q: float, count: int) -> tuple[float, float, float]:
    """(percent of the value at rank k, percent of rank k + 1, fraction between them) for the
    q-th percentile of ``count`` values as SQLite and Elasticsearch define it: linear between
    ranks, rank q/100*(count-1) = k + fraction.

    OpenSearch's t-digest answers another number for small sets: 2.x interpolates between rank
    midpoints (p95 of 1..12: 11.9), 3.x steps from value to value (12). Both answer the value at
    rank k exactly when asked for the middle of its rank, (k + 0.5)/count; the store asks for
    both neighbours and interpolates itself (for large sets the percents tend to q)."""
    if count <= 1:
        return q, q, 0.0
    rank = q / 100 * (count - 1)
    k = min(int(rank), count - 2)
    return (k + 0.5) / count * 100, (k + 1.5) / count * 100, rank - k


def _metric_aggs(index: str, agg: Agg, percents: Sequence[float] = ()) -> dict:
    if agg.kind == "count":
        return {}
    if agg.kind == "ratio":
        return {"hit": {"filter": bool_query(index, agg.where)}}
    if agg.kind == "percentile":
        return {"m": {"percentiles": {"field": agg.field, "percents": list(percents) or [agg.q],
                                      "keyed": False}}}
    if agg.kind == "distinct":
        name = field_name(index, agg.field, exact=True)
        return {"m": {"cardinality": {"field": name, "precision_threshold": CARDINALITY_PRECISION}}}
    return {"m": {agg.kind: {"field": agg.field}}}


def raw_clause(source: RawSource) -> dict:
    """A raw source's query as a clause: DSL as written, a Lucene string as query_string."""
    query = json.loads(source.query)
    return {"query_string": {"query": query}} if isinstance(query, str) else query


def _group_field(q: MetricQuery, name: str) -> str:
    return name if q.source is not None else field_name(q.index, name, exact=True)


def metric_body(q: MetricQuery, percents: Sequence[float] = ()) -> dict:
    """A size-0 search: time range + filters, terms per group_by, date_histogram, metric.
    ``percents`` replaces a percentile's own (see ``rank_percents``). A raw source's query
    joins the filters and its field names are used as they are."""
    inner = _metric_aggs(q.index, q.agg, percents)
    if q.bucket_ms is not None:
        # Empty buckets are not sent: ``order_rows`` gives every group every bucket anyway,
        # and a day's backfill histograms (10 s buckets, 50 groups) are two thirds empty.
        histogram = {
            "field": q.time_field,
            "fixed_interval": f"{q.bucket_ms}ms",
            "min_doc_count": 1,
        }
        inner = {"b": {"date_histogram": histogram, **({"aggs": inner} if inner else {})}}
    for name in reversed(q.group_by):
        terms = {
            "field": _group_field(q, name),
            "size": q.max_groups,
            "order": [{"_count": "desc"}, {"_key": "asc"}],
        }
        inner = {"g": {"terms": terms, **({"aggs": inner} if inner else {})}}
    if q.edges_ms is not None:
        # Uneven buckets outermost: measured on 1M events, a third less Elasticsearch time
        # than under the terms, and a fifth of the bytes (one range key per bucket, not per
        # group and bucket).
        ranges = [{"from": a, "to": b} for a, b in itertools.pairwise(q.edges_ms)]
        inner = {"r": {"range": {"field": q.time_field, "ranges": ranges},
                       **({"aggs": inner} if inner else {})}}
    body: dict = {
        "size": 0,
        "track_total_hits": True,
        "query": bool_query(q.index, q.filters, time_range(q.time_field, q.start_ms, q.end_ms),
                            *([raw_clause(q.source)] if q.source is not None else [])),
    }
    if inner:
        body["aggs"] = inner
    return body


def _value(agg: Agg, node: dict, count: int, by_rank: bool) -> float | None:
    if agg.kind == "count":
        return float(count)
    if agg.kind == "ratio":
        return node["hit"]["doc_count"] / count if count else None
    m = node["m"]
    if agg.kind == "percentile":
        if not by_rank:
            value = m["values"][0]["value"]
        else:
            low, high, frac = rank_percents(agg.q, count)
            at = {v["key"]: v["value"] for v in m["values"]}
            lo = at[min(at, key=lambda p: abs(p - low))]
            hi = at[min(at, key=lambda p: abs(p - high))]
            value = None if lo is None or hi is None else lo + (hi - lo) * frac
    else:
        value = m["value"]
    if value is None:
        return empty_value(agg)
    return float(value)


def _leaves(q: MetricQuery, node: dict, depth: int, group: dict, by_rank: bool,
            bucket: int | None = None) -> Iterator[MetricRow]:
    if depth < len(q.group_by):
        name = q.group_by[depth]
        for b in node["g"]["buckets"]:
            key = typed_key(q.index, name, b["key"])
            yield from _leaves(q, b, depth + 1, {**group, name: key}, by_rank, bucket)
        return
    if q.bucket_ms is not None:
        counting = q.agg.kind == "count"  # a backfill's histograms: ~1M buckets a day
        for b in node["b"]["buckets"]:
            n = b["doc_count"]
            value = float(n) if counting else _value(q.agg, b, n, by_rank)
            yield MetricRow(dict(group), value, n, b["key"])
        return
    yield MetricRow(dict(group), _value(q.agg, node, node["doc_count"], by_rank),
                    node["doc_count"], bucket)


def metric_rows(q: MetricQuery, response: dict, by_rank: bool = False) -> list[MetricRow]:
    """Rows in the order ``metric_shape.order_rows`` defines (the same as the SQLite store).
    ``by_rank``: the response answers ``rank_percents`` percents (OpenSearch)."""
    if "aggregations" not in response and (q.group_by or q.bucket_ms or q.edges_ms
                                           or q.agg.kind != "count"):
        return order_rows(q, [])  # no index matched: nothing was written yet
    root = dict(response.get("aggregations") or {})
    root["doc_count"] = response["hits"]["total"]["value"]
    if q.edges_ms is not None:
        return order_rows(q, [row for b in root["r"]["buckets"]
                              for row in _leaves(q, b, 0, {}, by_rank, int(b["from"]))])
    return order_rows(q, list(_leaves(q, root, 0, {}, by_rank)))
