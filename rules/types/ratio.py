"""Share of matching events that also match ``where`` (e.g. failures), per group.

``min_events`` keeps a quiet flow from paging on 1 failure out of 2.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import Agg, Filter, MetricQuery, MetricRow
from rules.filters import parse_filter
from rules.schema import Rule, Sample
from rules.types import bounds, breaches, number, window_query

KEYS = ("where", "above", "below", "min_events")
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


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    return [window_query(rule, at_ms, Agg("ratio", where=rule.spec.where))]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    out = []
    for row in results[0]:
        ratio = row.value or 0.0
        active = row.count >= spec.min_events and breaches(ratio, spec.above, spec.below)
        out.append(Sample(
            row.group, ratio, active,
            {"ratio": ratio, "matched": round(ratio * row.count), "total": row.count,
             "above": spec.above, "below": spec.below, "min_events": spec.min_events},
            example_filters=spec.where,
        ))
    return out
