"""This window's count against the previous window or the same window a week earlier.

``factor: 3`` with ``direction: up`` fires at three times the baseline or more; ``down`` at a
third or less. ``min_events`` (in the larger of the two windows) keeps noise from firing.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import MetricQuery, MetricRow
from rules.schema import Rule, Sample
from rules.types import group_key, number, window_query

KEYS = ("compare", "direction", "factor", "min_events")
CONTEXT = ("count", "baseline", "change", "factor")
_WEEK_MS = 7 * 86_400_000
UNIT = "events"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    compare: str
    direction: str
    factor: float
    min_events: int


def parse(s: Section) -> Spec:
    factor = number(s, "factor", None, minimum=1.0)
    if factor is None or factor <= 1:
        raise s.error("factor", "is required and must be above 1", "e.g. factor: 3")
    return Spec(s.choice("compare", ("previous", "last_week"), "previous"),
                s.choice("direction", ("up", "down", "both"), "up"),
                float(factor), int(number(s, "min_events", 10, minimum=1)))


def index(spec: Spec) -> str:
    return "events"


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    offset = rule.window_ms if rule.spec.compare == "previous" else _WEEK_MS
    return [window_query(rule, at_ms), window_query(rule, at_ms - offset)]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    now = {group_key(r, rule.group_by): r for r in results[0]}
    before = {group_key(r, rule.group_by): r for r in results[1]}
    out = []
    for key in now.keys() | before.keys():
        current = now[key].count if key in now else 0
        baseline = before[key].count if key in before else 0
        change = current / baseline if baseline else float("inf") if current else 1.0
        up = spec.direction in ("up", "both") and change >= spec.factor
        down = spec.direction in ("down", "both") and change <= 1 / spec.factor
        active = max(current, baseline) >= spec.min_events and (up or down)
        group = (now.get(key) or before[key]).group
        out.append(Sample(group, float(current), active,
                          {"count": current, "baseline": baseline,
                           "change": None if change == float("inf") else change,
                           "factor": spec.factor}))
    return out
