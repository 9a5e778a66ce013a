"""Share of matching events that also match ``where`` (e.g. failures), per group.

``min_events`` keeps a quiet flow from paging on 1 failure out of 2.
``above`` slides (``rules/sliding.py``): the worst window of at least ``min_events`` anywhere
since the previous evaluation; ``below`` is the window ending at the evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from collector.config_values import Section
from collector.store.base import Agg, Filter, MetricQuery, MetricRow
from rules import sliding
from rules.filters import parse_filter
from rules.schema import Rule, Sample
from rules.series import Runs
from rules.types import bounds, breaches, group_key, number, window_query

KEYS = ("where", "above", "below", "min_events")
SLIDING = True  # queries take ``since_ms``: the engine passes the previous evaluation
CONTEXT = ("ratio", "matched", "total", "above", "below", "min_events")
UNIT = "ratio"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    where: tuple[Filter, ...]
    above: float | None
    below: float | None
    min_events: int


def parse(s: Section) -> Spec:
    if not s.has("where"):
        raise s.error("where", "is required: which events count as a hit",
                      "e.g. where: {event.outcome: failure}")
    above, below = bounds(s)
    for key, value in (("above", above), ("below", below)):
        if value is not None and not 0 <= value <= 1:
            raise s.error(key, f"a ratio is between 0 and 1, got {value}", "5% is 0.05")
    return Spec(parse_filter(s, "where", "events"), above, below,
                int(number(s, "min_events", 1, minimum=1)))


def index(spec: Spec) -> str:
    return "events"


def queries(rule: Rule, at_ms: int, since_ms: int | None = None) -> list[MetricQuery]:
    agg = Agg("ratio", where=rule.spec.where)
    out = []
    if rule.spec.above is not None:
        out.append(sliding.query(rule, at_ms, since_ms, agg))
    if rule.spec.below is not None:
        out.append(window_query(rule, at_ms, agg))
    return out


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    rest = iter(results)
    out: dict[tuple[str, ...], Sample] = {}
    if spec.above is not None:
        for key, group, (now_hits, now_count), (hits, count) in _worst(rule, next(rest), at_ms):
            now = _sample(spec, group, now_hits, now_count, above=True)
            # as ``_sample`` judges it: most groups' worst window is quiet, and needs no sample
            burst = count >= spec.min_events and breaches(hits / count if count else 0.0,
                                                          spec.above, None)
            out[key] = replace(_sample(spec, group, hits, count, above=True),
                               current=now) if burst else now
    if spec.below is not None:
        for row in next(rest):
            key = group_key(row, rule.group_by)
            if key not in out or not out[key].active:
                out[key] = _sample(spec, row.group, round((row.value or 0.0) * row.count),
                                   row.count, above=False)
    return list(out.values())


def quiet(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> bool:
    """No window of ``min_events`` above ``above`` (the worst window is then quiet too) and
    no sample below ``below``. The sliding ``above`` is checked on a backfill's ``Runs``
    only: a live evaluation's rows are not quiet (they are evaluated as always)."""
    spec: Spec = rule.spec
    rest = iter(results)
    if spec.above is not None:
        answer = next(rest)
        if not isinstance(answer, Runs):
            return False
        counts, hits = sliding.table(rule, answer, at_ms)
        ratios = np.divide(hits, counts, out=np.zeros(counts.shape), where=counts > 0)
        if ((counts >= spec.min_events) & (ratios > spec.above)).any():
            return False
    return spec.below is None or not any(
        _sample(spec, row.group, round((row.value or 0.0) * row.count), row.count,
                above=False).active for row in next(rest))


def _worst(rule: Rule, answer: list[MetricRow] | Runs, at_ms: int
           ) -> Iterator[tuple[tuple[str, ...], dict, tuple[int, int], tuple[int, int]]]:
    """Per group (its key and group, in the store's order): (hits, events) of the window
    ending at ``at_ms`` and of the worst window (the highest ratio of at least
    ``min_events``, else the highest; the oldest of equals). A backfill's ``Runs`` are
    judged for all groups at once."""
    spec: Spec = rule.spec
    if not isinstance(answer, Runs):
        for head, windows in sliding.windows(rule, answer, at_ms, ratio=True):
            worst = max(windows, key=lambda w: (w.count >= spec.min_events,
                                                w.hits / w.count if w.count else 0.0))
            yield (group_key(head, rule.group_by), head.group,
                   (windows[-1].hits, windows[-1].count), (worst.hits, worst.count))
        return
    counts, hits = sliding.table(rule, answer, at_ms)
    ratios = np.divide(hits, counts, out=np.zeros(counts.shape), where=counts > 0)
    enough = counts >= spec.min_events
    pick = np.where(enough.any(axis=1), np.where(enough, ratios, -1.0).argmax(axis=1),
                    ratios.argmax(axis=1))[:, None]
    rows = zip(answer.keys, answer.groups, hits[:, -1].tolist(), counts[:, -1].tolist(),
               np.take_along_axis(hits, pick, 1)[:, 0].tolist(),
               np.take_along_axis(counts, pick, 1)[:, 0].tolist(), strict=True)
    for key, group, now_hits, now_count, worst_hits, worst_count in rows:
        yield key, group, (now_hits, now_count), (worst_hits, worst_count)


def _sample(spec: Spec, group: dict, hits: int, total: int, *, above: bool) -> Sample:
    """``above``: judged against ``above`` only (the sliding query), else ``below`` only."""
    ratio = hits / total if total else 0.0
    bound = breaches(ratio, spec.above, None) if above else breaches(ratio, None, spec.below)
    return Sample(group, ratio, total >= spec.min_events and bound,
                  {"ratio": ratio, "matched": hits, "total": total, "above": spec.above,
                   "below": spec.below, "min_events": spec.min_events},
                  example_filters=spec.where)
