"""Running sums over a bucketed metric answer, from which the answers of the windows inside
it are read without asking the store again (backfill's histograms, shared sliding windows).

Pure: rows in, rows out, in the order ``collector.store.metric_shape.order_rows`` gives (the
stores' order), so a window read here equals the store's own answer to it. The sums are
numpy arrays (groups x edges): a day of backfill at 1-minute steps reads ~10M window cells,
which as Python lists and tuples were half of its CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

from collector.store.base import MetricQuery, MetricRow
from collector.store.metric_shape import MAX_BUCKETS, bucket_starts, empty_value, key_order
from rules.types import text_key

_count, _value = attrgetter("count"), attrgetter("value")


@dataclass(frozen=True, slots=True, eq=False)
class Runs:
    """A sliding window's answer as running sums: per group (``groups``, in the store's
    order), the events (``counts``) and, of a ratio, the hits (``hits``) summed from the
    first edge up to each edge of ``edges`` (arrays of groups x edges, the first column 0)."""

    edges: tuple[int, ...]
    groups: list[dict[str, Any]]
    keys: list[tuple[str, ...]]  # each group's ``rules.types.group_key``
    counts: np.ndarray
    hits: np.ndarray


class Series:
    """One bucketed answer's buckets per group as running sums, so each window inside it is
    read in O(1) per group (min and max: O(window)) instead of scanning every bucket: a day
    of backfill at 1-minute steps asks for ~1,400 windows of each histogram.

    ``h`` is the query answered: even buckets (``bucket_ms``, a backfill chunk's histogram)
    or uneven ones (``edges_ms``, several sliding windows asked as one, ``rules.sharing``);
    every window read must start and end on its bucket edges. ``rows`` are as the stores
    give them (``order_rows``): every group every bucket, in time order, group after group."""

    def __init__(self, h: MetricQuery, rows: Sequence[MetricRow]):
        edges = h.edges_ms or [*bucket_starts(h.start_ms, h.end_ms, h.bucket_ms or 0,  # type: ignore[arg-type]
                                              MAX_BUCKETS), h.end_ms]
        self.at = {e: i for i, e in enumerate(edges)}
        n = len(edges) - 1
        if len(rows) % n:
            raise ValueError(f"{len(rows)} rows are not {n} buckets per group: not a store's "
                             "answer to this bucketed query")
        self.kind = kind = h.agg.kind
        heads = rows[::n]
        keys = [tuple(r.group.get(f) for f in h.group_by) for r in heads]
        order = sorted(range(len(keys)), key=lambda g: key_order(keys[g]))  # as the stores tie
        self.groups = [dict(zip(h.group_by, keys[g], strict=True)) for g in order]
        self.keys = [text_key(keys[g]) for g in order]
        shape = (len(keys), n)
        c = np.fromiter(map(_count, rows), np.int64, len(rows)).reshape(shape)[order]
        self.slots: list[Sequence[MetricRow]] = []
        if kind == "count":
            w = np.zeros(shape, np.int64)
            f = c
        else:
            v = np.array(list(map(_value, rows)), np.float64).reshape(shape)[order]  # None: nan
            valid = (c > 0) & ~np.isnan(v)
            f = np.where(valid, c, 0)
            v = np.where(valid, v, 0.0)
            # per bucket: a ratio's hits, a sum's sum, an average's sum (value x count)
            w = (np.round(v * c).astype(np.int64) if kind == "ratio" else
                 v if kind == "sum" else v * c)
            if kind in ("min", "max"):
                self.slots = [rows[g * n:(g + 1) * n] for g in order]
        zero = np.zeros((len(keys), 1), np.int64)
        self.counts = np.concatenate([zero, np.cumsum(c, axis=1)], axis=1)
        self.filled = np.concatenate([zero, np.cumsum(f, axis=1)], axis=1)
        self.weights = np.concatenate([zero.astype(w.dtype), np.cumsum(w, axis=1)], axis=1)

    def window(self, q: MetricQuery) -> list[MetricRow]:
        """The rows the window query ``q`` would have returned (its span on bucket edges).
        Rows of one group share its group mapping: readers only read it."""
        if q.edges_ms is not None:
            return self._uneven(q)
        i0, i1 = self.at[q.start_ms], self.at[q.end_ms]
        counts = (self.counts[:, i1] - self.counts[:, i0]).tolist()
        if q.agg.kind == "count":  # most windows (absence, fixed thresholds): counts only
            rows = [MetricRow(group, float(count), count)
                    for group, count in zip(self.groups, counts, strict=True)
                    if count or not q.group_by]
        else:
            weights = (self.weights[:, i1] - self.weights[:, i0]).tolist()
            filled = (self.filled[:, i1] - self.filled[:, i0]).tolist()
            rows = [MetricRow(group, self._value(q, count, weights[g], filled[g],
                                                 self.slots[g][i0:i1] if self.slots else ()),
                              count)
                    for g, (group, count) in enumerate(zip(self.groups, counts, strict=True))
                    if count or not q.group_by]
        if not rows and not q.group_by:
            return [MetricRow({}, empty_value(q.agg), 0)]
        rows.sort(key=lambda r: -r.count)  # stable: equal counts stay in key order
        return rows[:q.max_groups]

    def _picked(self, q: MetricQuery, at: list[int]) -> list[int]:
        """The groups (indices) an uneven query over bucket indices ``at`` answers, as
        ``metric_shape.order_rows`` orders them (by their count over the whole span, ties by
        key; a query without groups always has its one group, -1 when the answer has none)."""
        totals = self.counts[:, at[-1]] - self.counts[:, at[0]]
        picked = np.argsort(-totals, kind="stable")  # equal counts stay in key order
        if q.group_by:
            picked = picked[totals[picked] > 0]
        elif not len(picked):
            return [-1]
        return picked[:q.max_groups].tolist()

    def _uneven(self, q: MetricQuery) -> list[MetricRow]:
        """A sliding window's answer (``rules.sliding.query``): per group, one row per pair of
        ``edges_ms``, every group given every bucket."""
        assert q.edges_ms is not None
        at = [self.at[e] for e in q.edges_ms]
        a, b = at[:-1], at[1:]
        picked = self._picked(q, at)
        if picked == [-1]:
            return [MetricRow({}, empty_value(q.agg), 0, start) for start in q.edges_ms[:-1]]
        # every picked group's buckets in one array operation each (the live engine's shared
        # windows: a numpy call per group would cost more than the sums)
        counts, weights, filled = ((m[np.ix_(picked, b)] - m[np.ix_(picked, a)]).tolist()
                                   for m in (self.counts, self.weights, self.filled))
        rows = []
        for i, g in enumerate(picked):
            group = self.groups[g]
            rows += [MetricRow(group, self._value(q, counts[i][k], weights[i][k], filled[i][k],
                                                  self.slots[g][a[k]:b[k]] if self.slots else ()),
                               counts[i][k], start)
                     for k, start in enumerate(q.edges_ms[:-1])]
        return rows

    def runs(self, q: MetricQuery) -> Runs:
        """A sliding window's answer as the running sums ``rules.sliding.sums`` makes of its
        rows (count, or ratio: then its hits too), without a row per bucket: in a day's
        backfill, building and re-summing those rows was a third of the CPU."""
        assert q.edges_ms is not None and q.agg.kind in ("count", "ratio")
        at = [self.at[e] for e in q.edges_ms]
        picked = self._picked(q, at)
        if picked == [-1]:
            zeros = np.zeros((1, len(at)), np.int64)
            return Runs(q.edges_ms, [{}], [()], zeros, zeros)
        counts = self.counts[np.ix_(picked, at)]
        counts -= counts[:, :1]
        if q.agg.kind == "ratio" and self.kind == "ratio":
            hits = self.weights[np.ix_(picked, at)]
            hits -= hits[:, :1]
        else:
            hits = np.zeros_like(counts)
        return Runs(q.edges_ms, [self.groups[g] for g in picked], [self.keys[g] for g in picked],
                    counts, hits)

    def _value(self, q: MetricQuery, count: int, weight: float, filled: int,
               slots: Sequence[MetricRow]) -> float | None:
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
        values = [r.value for r in slots if r.count and r.value is not None]
        return float(min(values) if kind == "min" else max(values))
