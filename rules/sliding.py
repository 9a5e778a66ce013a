"""Sliding windows over event time for counting rules (threshold, ratio, spike).

A fixed window ending on each tick misses a burst the tick splits: six failures within 4m50s,
three before 09:05 and three after, never make "more than 5 in 5 minutes". Instead the rule's
span since its previous evaluation is asked for once, in buckets of ``window / 30`` where
windows end and start and one bucket for the stretch every window holds, and each window is
a difference of running sums over the buckets, per group. A window can start at any bucket boundary, so every burst
that lies within ``window - bucket`` (29/30 of the window: 4m50s of 5m) is inside one of
them, and no summed window is longer than the rule's window, so nothing fires that a
window of that length would not have held. One query per rule as before, over
``window + interval`` instead of ``window``: both stores do the bucketing in the query
(``MetricQuery.edges_ms``: a range aggregation, a CASE in SQLite).

Pure functions: the engine supplies ``since_ms`` (the rule's previous evaluation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from collector.store.base import Agg, MetricQuery, MetricRow
from collector.store.metric_shape import bucket_start
from rules.schema import Rule
from rules.series import Runs
from rules.types import group_key

# Buckets per window: the burst a window is sure to catch spans (BUCKETS - 1) / BUCKETS of it.
BUCKETS = 30
# A rule evaluated after a long pause (restart, lost lease) looks back this many windows at
# most, so one query never asks for an unbounded histogram.
MAX_LOOKBACK_WINDOWS = 10


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window of one group: its events and, for a ratio, those matching ``where``."""

    count: int
    hits: int
    end_ms: int


def bucket_ms(rule: Rule) -> int:
    return max(1, rule.window_ms // BUCKETS)


def length(rule: Rule) -> int:
    """The summed windows' length: whole buckets, never more than the rule's window."""
    b = bucket_ms(rule)
    return rule.window_ms // b * b


def query(rule: Rule, at_ms: int, since_ms: int | None, agg: Agg, index: str = "events", *,
          back: int = 1, shift_ms: int = 0) -> MetricQuery:
    """The rule's filters and groups over every window ending in (since, at], bucketed only
    where those windows end and start (a bucket a window apart from each end); what lies
    between is in every window and is one bucket. At the default 30 s interval a 5-minute
    rule asks for 5 buckets, not 33. ``back``: windows before each window too (a spike's
    baseline); ``shift_ms``: the same edges that much earlier (last week)."""
    b, size = bucket_ms(rule), length(rule)
    since = at_ms - b if since_ms is None or since_ms >= at_ms else since_ms
    since = max(since, at_ms - MAX_LOOKBACK_WINDOWS * rule.window_ms)
    last_end = bucket_start(at_ms - 1, b) + b  # the window ending now, its end rounded up
    ends = range(min(bucket_start(since, b) + b, last_end), last_end + 1, b)
    edges = sorted({min(e, at_ms) for e in ends}
                   | {e - k * size for e in ends for k in range(1, back + 1)})
    edges = [e - shift_ms for e in edges]
    return MetricQuery(index=index, start_ms=edges[0], end_ms=edges[-1], agg=agg,  # type: ignore[arg-type]
                       filters=rule.filters, group_by=rule.group_by, edges_ms=tuple(edges),
                       max_groups=rule.max_groups)


def sums(rule: Rule, rows: list[MetricRow] | Runs, end_ms: int, *, ratio: bool = False
         ) -> Iterator[tuple[MetricRow, dict[int, tuple[int, int]]]]:
    """Per group (its first row, in the store's order; of ``Runs``: a row of its group only):
    the running (count, hits) at each edge of ``query``'s answer, ``end_ms`` its last.
    ``ratio``: the rows are of a ratio aggregation, whose hits are counted too. A backfill
    answers with the sums themselves (``rules.series.Runs``)."""
    if isinstance(rows, Runs):
        counts = rows.counts.tolist()
        hits = rows.hits.tolist() if ratio else [[0] * len(rows.edges)] * len(counts)
        for group, cs, hs in zip(rows.groups, counts, hits, strict=True):
            run = dict(zip(rows.edges[:-1], zip(cs, hs, strict=True), strict=False))
            run[end_ms] = (cs[-1], hs[-1])
            yield MetricRow(group, None, cs[-1]), run
        return
    groups: dict[tuple, list[MetricRow]] = {}
    for row in rows:
        groups.setdefault(tuple(row.group.get(f) for f in rule.group_by), []).append(row)
    for buckets in groups.values():
        count = hits = 0
        run = {}
        for r in buckets:
            run[r.bucket_ms or 0] = (count, hits)
            count += r.count
            hits += round((r.value or 0.0) * r.count) if ratio else 0
        run[end_ms] = (count, hits)
        yield buckets[0], run


def spans(rule: Rule, at_ms: int, run: dict[int, tuple[int, int]], back: int = 1
          ) -> list[tuple[int, int]]:
    """(start, end) of every window in a ``sums`` answer of a ``query`` with ``back``,
    oldest first: each ends on an edge and starts on the edge a window before (with the
    ``back`` windows before it there too); the last one ends at ``at_ms`` and starts where
    the window ending on the bucket boundary after it would."""
    b, size = bucket_ms(rule), length(rule)
    last = (bucket_start(at_ms - 1, b) + b - size, at_ms)
    return [(e - size, e) for e in sorted(run)
            if e < at_ms and e - back * size in run] + [last]


def windows(rule: Rule, rows: list[MetricRow] | Runs, at_ms: int, *, ratio: bool = False
            ) -> Iterator[tuple[MetricRow, list[Window]]]:
    """Per group (its first row, in the store's order), every window of ``query``'s answer,
    oldest first; the last one ends at ``at_ms``."""
    for head, run in sums(rule, rows, at_ms, ratio=ratio):
        yield head, [Window(run[e][0] - run[s][0], run[e][1] - run[s][1], e)
                     for s, e in spans(rule, at_ms, run)]


def table(rule: Rule, runs: Runs, at_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``windows`` of a backfill's ``Runs`` as arrays (groups x windows, oldest first, the
    last ending at ``at_ms``): the events and the hits of each window, summed for all groups
    at once instead of a ``Window`` per group and window (a day's backfill judges ~10M)."""
    col = {e: i for i, e in enumerate(runs.edges[:-1])}
    col[at_ms] = len(runs.edges) - 1
    starts, ends = zip(*((col[s], col[e]) for s, e in spans(rule, at_ms, col)), strict=True)
    return (runs.counts[:, ends] - runs.counts[:, starts],
            runs.hits[:, ends] - runs.hits[:, starts])


def busiest(rule: Rule, rows: list[MetricRow] | Runs, at_ms: int
            ) -> dict[tuple[str, ...], tuple[dict, int, int]]:
    """Per group key (as ``rules.types.group_key``): its group, its largest window count and
    the count of the window ending at the evaluation."""
    if isinstance(rows, Runs):
        counts, _ = table(rule, rows, at_ms)
        top, now = counts.max(axis=1).tolist(), counts[:, -1].tolist()
        return {k: (g, t, n) for k, g, t, n in zip(rows.keys, rows.groups, top, now, strict=True)}
    return {group_key(head, rule.group_by): (head.group, max(w.count for w in ws), ws[-1].count)
            for head, ws in windows(rule, rows, at_ms)}
