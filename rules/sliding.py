"""Sliding windows over event time for counting rules (threshold, ratio).

A fixed window ending on each tick misses a burst the tick splits: six failures within 4m50s,
three before 09:05 and three after, never make "more than 5 in 5 minutes". Instead the rule's
span since its previous evaluation is asked for once, as a date histogram of ``window / 30``
buckets, and every run of consecutive buckets that fits in the window is summed (a running
sum over the buckets, per group). A window can start at any bucket boundary, so every burst
that lies within ``window - bucket`` (29/30 of the window: 4m50s of 5m) is inside one of
them, and no summed window is longer than the rule's window, so nothing fires that a
window of that length would not have held. One query per rule as before, over
``window + interval`` instead of ``window``: both stores do the bucketing in the query
(``MetricQuery.bucket_ms``).

Pure functions: the engine supplies ``since_ms`` (the rule's previous evaluation).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from collector.store.base import Agg, MetricQuery, MetricRow
from collector.store.metric_shape import bucket_start
from rules.schema import Rule
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


def query(rule: Rule, at_ms: int, since_ms: int | None, agg: Agg, index: str = "events"
          ) -> MetricQuery:
    """The rule's filters and groups, bucketed, over every window ending in (since, at]."""
    b = bucket_ms(rule)
    since = at_ms - b if since_ms is None or since_ms >= at_ms else since_ms
    since = max(since, at_ms - MAX_LOOKBACK_WINDOWS * rule.window_ms)
    first_end = bucket_start(since, b) + b  # the first window end after the previous tick
    last_end = bucket_start(at_ms - 1, b) + b
    start = min(first_end, last_end) - (rule.window_ms // b) * b
    return MetricQuery(index=index, start_ms=start, end_ms=at_ms, agg=agg,  # type: ignore[arg-type]
                       filters=rule.filters, group_by=rule.group_by, bucket_ms=b,
                       max_groups=rule.max_groups)


def windows(rule: Rule, rows: list[MetricRow], *, ratio: bool = False
            ) -> Iterator[tuple[MetricRow, list[Window]]]:
    """Per group (its first row, in the store's order), every window of consecutive buckets that fits in the
    rule's window, oldest first; the last one ends at the evaluation time. ``ratio``: the
    rows are of a ratio aggregation, whose hits are counted too."""
    b = bucket_ms(rule)
    k = rule.window_ms // b
    groups: dict[tuple, list[MetricRow]] = {}
    for row in rows:
        groups.setdefault(tuple(row.group.get(f) for f in rule.group_by), []).append(row)
    for buckets in groups.values():
        counts = [r.count for r in buckets]
        hits = [round((r.value or 0.0) * r.count) if ratio else 0 for r in buckets]
        out = []
        run_count = run_hits = 0
        for i, row in enumerate(buckets):
            run_count += counts[i]
            run_hits += hits[i]
            if i >= k:
                run_count -= counts[i - k]
                run_hits -= hits[i - k]
            if i >= k - 1 or i == len(buckets) - 1:
                out.append(Window(run_count, run_hits, (row.bucket_ms or 0) + b))
        yield buckets[0], out


def busiest(rule: Rule, rows: list[MetricRow]) -> dict[tuple[str, ...], tuple[dict, int, int]]:
    """Per group key (as ``rules.types.group_key``): its group, its largest window count and
    the count of the window ending at the evaluation."""
    return {group_key(head, rule.group_by): (head.group, max(w.count for w in ws), ws[-1].count)
            for head, ws in windows(rule, rows)}
