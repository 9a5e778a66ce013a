"""A latency percentile per group above a bound or above the traces' own SLA.

``source: trace`` reads whole-journey durations (``duration_ms`` of traces that ended in the
window); ``source: hop`` reads per-hop processing times (``event.duration`` of events).
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import Agg, MetricQuery, MetricRow
from rules.schema import Rule, Sample
from rules.types import group_key, number, window_query

KEYS = ("source", "percentile", "above", "above_sla", "min_events")
CONTEXT = ("latency", "percentile", "threshold", "count")
_NS_PER_MS = 1_000_000
UNIT = "ms"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    source: str
    percentile: float
    above_ms: int | None
    above_sla: bool
    min_events: int


def parse(s: Section) -> Spec:
    source = s.choice("source", ("trace", "hop"), "trace")
    above = s.duration_ms("above", "0s", minimum_ms=0) or None
    above_sla = s.flag("above_sla", False)
    if (above is None) == (not above_sla):
        raise s.error("above", "set exactly one of above (a duration) and above_sla: true")
    if above_sla and source != "trace":
        raise s.error("above_sla", "SLAs belong to traces", "use source: trace")
    return Spec(source, float(number(s, "percentile", 95, minimum=1, maximum=100)), above,
                above_sla, int(number(s, "min_events", 1, minimum=1)))


def index(spec: Spec) -> str:
    return "traces" if spec.source == "trace" else "events"


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    spec: Spec = rule.spec
    if spec.source == "hop":
        return [window_query(rule, at_ms, Agg("percentile", "event.duration", spec.percentile))]
    qs = [window_query(rule, at_ms, Agg("percentile", "duration_ms", spec.percentile),
                       index="traces", time_field="ended_at")]
    if spec.above_sla:
        qs.append(window_query(rule, at_ms, Agg("max", "sla_ms"), index="traces",
                               time_field="ended_at"))
    return qs


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    slas = ({group_key(r, rule.group_by): r.value for r in results[1]}
            if spec.above_sla else {})
    out = []
    for row in results[0]:
        if row.value is None:
            continue
        latency = row.value / _NS_PER_MS if spec.source == "hop" else row.value
        bound = slas.get(group_key(row, rule.group_by)) if spec.above_sla else spec.above_ms
        if bound is None:
            continue
        out.append(Sample(row.group, latency, row.count >= spec.min_events and latency > bound,
                          {"latency": latency, "percentile": spec.percentile,
                           "threshold": bound, "count": row.count}))
    return out
