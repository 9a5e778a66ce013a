"""Running sums over a bucketed metric answer, from which the answers of the windows inside
it are read without asking the store again (backfill's histograms, shared sliding windows).

Pure: rows in, rows out, in the order ``collector.store.metric_shape.order_rows`` gives (the
stores' order), so a window read here equals the store's own answer to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collector.store.base import MetricQuery, MetricRow
from collector.store.metric_shape import MAX_BUCKETS, bucket_starts, empty_value, key_order


@dataclass(frozen=True, slots=True)
class Runs:
    """A sliding window's answer as running sums: per group (in the store's order), the
    (count, hits) summed from the first edge up to each edge of ``edges``."""

    edges: tuple[int, ...]
    groups: list[tuple[dict[str, Any], list[tuple[int, int]]]]


class Series:
    """One bucketed answer's buckets per group as running sums, so each window inside it is
    read in O(1) per group (min and max: O(window)) instead of scanning every bucket: a day
    of backfill at 1-minute steps asks for ~1,400 windows of each histogram.

    ``h`` is the query answered: even buckets (``bucket_ms``, a backfill chunk's histogram)
    or uneven ones (``edges_ms``, several sliding windows asked as one, ``rules.sharing``);
    every window read must start and end on its bucket edges."""

    def __init__(self, h: MetricQuery, rows: Sequence[MetricRow]):
        edges = h.edges_ms or [*bucket_starts(h.start_ms, h.end_ms, h.bucket_ms or 0,  # type: ignore[arg-type]
                                              MAX_BUCKETS), h.end_ms]
        self.at = {e: i for i, e in enumerate(edges)}
        n = len(edges) - 1
        kind = h.agg.kind
        by_group: dict[tuple, list[MetricRow | None]] = {}
        for r in rows:
            slots = by_group.setdefault(tuple(r.group.get(f) for f in h.group_by), [None] * n)
            slots[self.at[r.bucket_ms]] = r  # type: ignore[index]
        # per group: (key, then its mapping; running counts, running weights, running
        # filled counts, buckets)
        self.groups: list[tuple[Any, list[int], list[float], list[int], list]] = []
        for key, slots in by_group.items():
            counts, weights, filled = [0], [0.0], [0]
            for r in slots:
                c = r.count if r is not None else 0
                v = r.value if r is not None and c and r.value is not None else None
                counts.append(counts[-1] + c)
                filled.append(filled[-1] + (c if v is not None else 0))
                weights.append(weights[-1] + (0.0 if v is None else
                                              v if kind == "sum" else
                                              round(v * c) if kind == "ratio" else v * c))
            self.groups.append((key, counts, weights, filled, slots))
        self.groups.sort(key=lambda g: key_order(g[0]))  # ties by key, as the stores order
        self.groups = [(dict(zip(h.group_by, key, strict=True)), *rest)
                       for key, *rest in self.groups]

    def window(self, q: MetricQuery) -> list[MetricRow]:
        """The rows the window query ``q`` would have returned (its span on bucket edges).
        Rows of one group share its group mapping: readers only read it."""
        if q.edges_ms is not None:
            return self._uneven(q)
        i0, i1 = self.at[q.start_ms], self.at[q.end_ms]
        counting = q.agg.kind == "count"
        rows = []
        for group, counts, weights, filled, slots in self.groups:
            count = counts[i1] - counts[i0]
            if count == 0 and q.group_by:
                continue
            value = float(count) if counting else self._value(
                q, count, weights[i1] - weights[i0], filled[i1] - filled[i0], slots[i0:i1])
            rows.append(MetricRow(group, value, count))
        if not rows and not q.group_by:
            return [MetricRow({}, empty_value(q.agg), 0)]
        rows.sort(key=lambda r: -r.count)  # stable: equal counts stay in key order
        return rows[:q.max_groups]

    def _picked(self, q: MetricQuery, at: list[int]) -> list[tuple]:
        """The groups an uneven query over bucket indices ``at`` answers, as
        ``metric_shape.order_rows`` orders them (by their count over the whole span, ties by
        key; a query without groups always has its one group)."""
        picked = []
        for group, counts, weights, filled, slots in self.groups:
            total = counts[at[-1]] - counts[at[0]]
            if total or not q.group_by:
                picked.append((total, group, counts, weights, filled, slots))
        picked.sort(key=lambda g: -g[0])  # stable: equal counts stay in key order
        if not picked and not q.group_by:
            zeros = [0] * len(self.at)
            picked.append((0, {}, zeros, [0.0] * len(self.at), zeros, [None] * len(self.at)))
        return picked[:q.max_groups]

    def _uneven(self, q: MetricQuery) -> list[MetricRow]:
        """A sliding window's answer (``rules.sliding.query``): per group, one row per pair of
        ``edges_ms``, every group given every bucket."""
        assert q.edges_ms is not None
        at = [self.at[e] for e in q.edges_ms]
        rows = []
        kind = q.agg.kind
        spans = list(zip(at, at[1:], q.edges_ms, strict=False))
        for _, group, counts, weights, filled, slots in self._picked(q, at):
            for a, b, start in spans:
                count = counts[b] - counts[a]
                # count and ratio (the sliding types' aggregations) inline: a day's backfill
                # reads ~10M of these cells
                value = (float(count) if kind == "count" else
                         (weights[b] - weights[a]) / count if count else None) \
                    if kind in ("count", "ratio") else self._value(
                        q, count, weights[b] - weights[a], filled[b] - filled[a], slots[a:b])
                rows.append(MetricRow(group, value, count, start))
        return rows

    def runs(self, q: MetricQuery) -> Runs:
        """A sliding window's answer as the running sums ``rules.sliding.sums`` makes of its
        rows (count, or ratio: then its hits too), without a row per bucket: in a day's
        backfill, building and re-summing those rows was a third of the CPU."""
        assert q.edges_ms is not None and q.agg.kind in ("count", "ratio")
        at = [self.at[e] for e in q.edges_ms]
        ratio = q.agg.kind == "ratio"
        groups = []
        for _, group, counts, weights, _filled, _slots in self._picked(q, at):
            c0, w0 = counts[at[0]], weights[at[0]]
            groups.append((group, [(counts[i] - c0, int(weights[i] - w0) if ratio else 0)
                                   for i in at]))
        return Runs(q.edges_ms, groups)

    @staticmethod
    def _value(q: MetricQuery, count: int, weight: float, filled: int,
               slots: Sequence[MetricRow | None]) -> float | None:
        kind = q.agg.kind
        if kind == "count":
            return float(count)
        if kind == "ratio":
            return weight / count if count else None
        if not filled:
            return empty_value(q.agg)
        if kind == "sum":
            return float(weight)
        if kind == "avg":
            return weight / filled
        values = [r.value for r in slots if r is not None and r.count and r.value is not None]
        return float(min(values) if kind == "min" else max(values))
