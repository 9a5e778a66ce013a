"""Rule type ``at_least``: a group with at least ``count`` matching events in the window.

Written against midwatch's rule type contract only (``rules.types``): the engine batches its
query with every other rule's and hands back the rows; deciding is pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import MetricQuery, MetricRow
from rules.schema import Rule, Sample
from rules.types import number, window_query

KEYS = ("count",)
CONTEXT = ("count", "at_least")
UNIT = "events"


@dataclass(frozen=True, slots=True)
class Spec:
    at_least: int


def parse(s: Section) -> Spec:
    count = number(s, "count", minimum=1)
    if count is None:
        raise s.error("count", "is required", "e.g. count: 3")
    return Spec(int(count))


def index(spec: Spec) -> str:
    return "events"


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    return [window_query(rule, at_ms)]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    return [Sample(row.group, float(row.count), row.count >= spec.at_least,
                   {"count": row.count, "at_least": spec.at_least})
            for row in results[0]]
