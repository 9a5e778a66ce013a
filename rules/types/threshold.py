"""Count of matching documents per group in the window, outside a bound (``above``/``below``).

``below`` only sees groups with at least one event; for "too few or none" use ``absence``.
``index: deadletter`` counts what midwatch could not parse or store, ``index: alerts`` the
rule engine's own history (failed notifications, failed evaluations): self-monitoring.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import MetricQuery, MetricRow
from rules.schema import Rule, Sample
from rules.types import bounds, breaches, window_query

KEYS = ("above", "below", "index")
CONTEXT = ("count", "above", "below")


@dataclass(frozen=True, slots=True)
class Spec:
    above: float | None
    below: float | None
    index: str = "events"


def parse(s: Section) -> Spec:
    return Spec(*bounds(s), s.choice("index", ("events", "deadletter", "alerts"), "events"))


def index(spec: Spec) -> str:
    return spec.index


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    return [window_query(rule, at_ms, index=rule.spec.index)]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    return [
        Sample(row.group, float(row.count), breaches(row.count, spec.above, spec.below),
               {"count": row.count, "above": spec.above, "below": spec.below})
        for row in results[0]
    ]
