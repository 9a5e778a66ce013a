"""Sliding windows of rules that filter and group alike are asked for as one query.

A threshold, a ratio and a spike on the same filter and groups (of any window) each ask
for their own uneven buckets (``rules.sliding.query``): a threshold one window back from every end, a spike
two, a ratio the same edges with a failure count. Elasticsearch's cost is mostly the filter
and the terms per bucket, not the bucket count, so one query over the union of their edges,
measuring the ratio if one of them does (its rows carry the counts too), answers all of
them: each window's rows are sums of the shared buckets (``rules.series.Series``), in the
order the store would have given. When the shared answer's group list came back full
(``max_groups``: a group of a shorter span may be missing), the queries are asked one by one.

Pure: the engine calls ``share`` and ``answers`` (not in a backfill: its chunk histograms
answer every window already).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from collector.store.base import MetricQuery, MetricRow


def share(queries: Iterable[MetricQuery]) -> dict[MetricQuery, MetricQuery]:
    """Each query -> the query to ask for it: itself, or one shared with the sliding windows
    of the same index, filters, groups and group limit (counts, and at most one ratio)."""
    out: dict[MetricQuery, MetricQuery] = {}
    alike: dict[MetricQuery, list[MetricQuery]] = {}
    for q in dict.fromkeys(queries):
        out[q] = q
        if q.edges_ms is not None and q.agg.kind in ("count", "ratio"):
            key = replace(q, agg=replace(q.agg, kind="count", where=()), start_ms=0, end_ms=0,
                          edges_ms=None)
            alike.setdefault(key, []).append(q)
    for qs in alike.values():
        ratios = list(dict.fromkeys(q.agg for q in qs if q.agg.kind == "ratio"))
        members = [q for q in qs if q.agg.kind == "count" or (ratios and q.agg == ratios[0])]
        if len(members) < 2:
            continue
        edges = tuple(sorted({e for q in members for e in q.edges_ms or ()}))
        shared = replace(members[0], agg=ratios[0] if ratios else members[0].agg,
                         start_ms=edges[0], end_ms=edges[-1], edges_ms=edges)
        out.update((q, shared) for q in members)
    return out


def answers(asked: dict[MetricQuery, MetricQuery], results: dict[MetricQuery, list[MetricRow]]
            ) -> tuple[dict[MetricQuery, list[MetricRow]], list[MetricQuery]]:
    """(each query's rows, read out of the answer to the query asked for it; the shared
    queries' members to ask one by one: their shared query failed, or its group list is
    full (``max_groups``) and may lack a group of a shorter span)."""
    out: dict[MetricQuery, list[MetricRow]] = {}
    retry: list[MetricQuery] = []
    series: dict[MetricQuery, Series | None] = {}
    for q, a in asked.items():
        if a not in results:
            if a != q:
                retry.append(q)
            continue
        if a == q:
            out[q] = results[q]
            continue
        if a not in series:
            # Here, not at the top: the engine imports this module at every ``midwatch run``
            # start, and ``rules.series`` brings numpy (~80 ms of CPU), needed only once
            # windows are shared.
            from rules.series import Series

            rows = results[a]
            full = a.group_by and len({tuple(r.group.get(f) for f in a.group_by)
                                       for r in rows}) >= a.max_groups
            series[a] = None if full else Series(a, rows)
        s = series[a]
        if s is None:
            retry.append(q)
        else:
            out[q] = s.window(q)
    return out, retry
