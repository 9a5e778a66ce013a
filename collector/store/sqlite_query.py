"""Filters and metric queries as SQLite SQL over the stores' JSON documents.

Pure functions returning ``(sql, params)``. Every field is read with ``json_extract`` from the
stored document (the same document Elasticsearch indexes), except the time fields, which are
integer columns with indexes so every query is bounded by its time window first. JSON paths
and values are always bound parameters, never spliced into the SQL.
"""

from __future__ import annotations

import itertools

import orjson

from collector.event import ms_to_iso
from collector.store import fields
from collector.store.base import Agg, Filter, MetricQuery

TABLES = {"events": "events", "traces": "traces", "alerts": "alerts", "deadletter": "deadletter"}
# Date fields held as integer epoch-ms columns (indexed); other dates are ISO strings in the
# document, which compare correctly as text because every store writes one fixed format.
TIME_COLUMNS: dict[str, dict[str, str]] = {
    "events": {"@timestamp": "ts"},
    "traces": {"started_at": "started", "last_seen": "last_seen", "ended_at": "ended"},
    "alerts": {"@timestamp": "ts"},
    "deadletter": {"@timestamp": "ts"},
}

Sql = tuple[str, list]


def json_path(index: str, field: str) -> str:
    return "$" + "".join(f'."{part}"' for part in fields.split_path(index, field))


def _param(index: str, field: str, value: object) -> object:
    spec = fields.spec(index, field)
    if isinstance(value, bool):
        return int(value)
    if spec.type == "date" and field not in TIME_COLUMNS[index] and isinstance(value, int):
        return ms_to_iso(value)
    return value


def field_expr(index: str, field: str) -> Sql:
    column = TIME_COLUMNS[index].get(field)
    if column:
        return column, []
    return "json_extract(doc, ?)", [json_path(index, field)]


def _condition(index: str, f: Filter, x: str, xp: list) -> Sql:
    """The condition of ``f`` on the SQL value ``x`` (with its own parameters ``xp``: a
    column, a json_extract or json_each's ``value``)."""
    if f.op == "eq":
        return f"{x} = ?", [*xp, _param(index, f.field, f.value)]
    if f.op == "in":
        values = orjson.dumps([_param(index, f.field, v) for v in f.value]).decode()
        return f"{x} IN (SELECT value FROM json_each(?))", [*xp, values]
    if f.op == "prefix":
        return f"substr({x}, 1, ?) = ?", [*xp, len(f.value), f.value]
    if f.op == "range":
        parts, params = [], []
        for bound, op in zip(f.value, (">=", "<"), strict=True):
            if bound is not None:
                parts.append(f"{x} {op} ?")
                params += [*xp, _param(index, f.field, bound)]
        return (" AND ".join(parts) or f"{x} IS NOT NULL"), params or list(xp)
    if f.op == "exists":
        return f"{x} IS NOT NULL", list(xp)
    if f.op == "contains":
        return f"instr(lower({x}), lower(?)) > 0", [*xp, f.value]
    raise ValueError(f"unknown filter op {f.op!r}")


def filter_sql(index: str, f: Filter) -> Sql:
    """One filter; on array fields it holds when any element does (as in Elasticsearch).

    Negation is NOT of a condition that is false (not NULL) for a missing field, so a negated
    filter matches documents without the field, like Elasticsearch's must_not.
    """
    if fields.spec(index, f.field).array:
        path = json_path(index, f.field)
        if f.op == "exists":
            sql, params = "json_array_length(doc, ?) > 0", [path]
        else:
            cond, cparams = _condition(index, f, "value", [])
            sql, params = f"EXISTS (SELECT 1 FROM json_each(doc, ?) WHERE {cond})", [path, *cparams]
    else:
        sql, params = _condition(index, f, *field_expr(index, f.field))
    if f.negate:
        return f"NOT coalesce(({sql}), 0)", params
    return f"({sql})", params


def where_sql(index: str, filters: list[Filter] | tuple[Filter, ...], *, time_field: str | None,
              start_ms: int | None, end_ms: int | None) -> Sql:
    parts: list[str] = []
    params: list = []
    if time_field is not None:
        column = TIME_COLUMNS[index][time_field]
        if start_ms is not None:
            parts.append(f"{column} >= ?")
            params.append(start_ms)
        if end_ms is not None:
            parts.append(f"{column} < ?")
            params.append(end_ms)
    for f in filters:
        sql, fparams = filter_sql(index, f)
        parts.append(sql)
        params.extend(fparams)
    return (" AND ".join(parts) or "1"), params


def _agg_sql(agg: Agg) -> str:
    if agg.kind == "count":
        return "NULL"
    if agg.kind == "ratio":
        return "sum(w)"
    if agg.kind == "percentile":
        return "json_group_array(v) FILTER (WHERE v IS NOT NULL)"
    if agg.kind == "distinct":
        return "count(DISTINCT v)"
    return f"{agg.kind}(v)"


def metric_sql(q: MetricQuery) -> Sql:
    """One statement yielding ``(g0.., b, n, a)`` rows: group keys, bucket start, count and
    the raw aggregate (a JSON array of values for percentiles, finished in Python).

    Only the ``max_groups`` largest groups are aggregated (ties by key), bounding the rows.
    """
    table = TABLES[q.index]
    select: list[str] = []
    params: list = []
    for i, name in enumerate(q.group_by):
        x, xp = field_expr(q.index, name)
        select.append(f"{x} AS g{i}")
        params.extend(xp)
    time_col = TIME_COLUMNS[q.index][q.time_field]
    if q.bucket_ms is not None:
        select.append(f"{time_col} - {time_col} % ? AS b")
        params.append(q.bucket_ms)
    elif q.edges_ms is not None:
        whens = " ".join(f"WHEN {time_col} < ? THEN ?" for _ in q.edges_ms[1:])
        select.append(f"CASE {whens} END AS b")
        for start, end in itertools.pairwise(q.edges_ms):
            params += [end, start]
    else:
        select.append("NULL AS b")
    if q.agg.field:
        x, xp = field_expr(q.index, q.agg.field)
        select.append(f"{x} AS v")
        params.extend(xp)
    if q.agg.kind == "ratio":
        cond, cp = where_sql(q.index, q.agg.where, time_field=None, start_ms=None, end_ms=None)
        select.append(f"coalesce(({cond}), 0) AS w")
        params.extend(cp)
    where, wp = where_sql(
        q.index, q.filters, time_field=q.time_field, start_ms=q.start_ms, end_ms=q.end_ms
    )
    params.extend(wp)
    sql = f"WITH base AS (SELECT {', '.join(select)} FROM {table} WHERE {where})"
    gcols = [f"g{i}" for i in range(len(q.group_by))]
    agg = _agg_sql(q.agg)
    if not gcols:
        group = " GROUP BY b" if q.bucket_ms is not None or q.edges_ms is not None else ""
        return f"{sql} SELECT b, count(*), {agg} FROM base{group}", params
    g = ", ".join(gcols)
    not_null = " AND ".join(f"{c} IS NOT NULL" for c in gcols)
    sql += (
        f", top AS (SELECT {g} FROM base WHERE {not_null} GROUP BY {g}"
        f" ORDER BY count(*) DESC, {g} LIMIT ?)"
        f" SELECT {g}, b, count(*), {agg} FROM base JOIN top USING ({g}) GROUP BY {g}, b"
    )
    params.append(q.max_groups)
    return sql, params
