"""Traces that did not finish within their SLA: the page carries the count and example IDs.

With ``sla`` the rule decides (open traces started more than ``sla`` ago); without it, it
counts the traces the correlator already marked ``stuck`` against the flow catalog's SLA.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from collector.config_values import Section
from collector.store.base import Filter, MetricQuery, MetricRow, Store, TraceQuery
from collector.trace import OPEN_STATUSES
from rules.schema import Rule, Sample
from rules.types import number, window_query

KEYS = ("sla", "lookback", "above")
CONTEXT = ("count", "sla")
UNIT = "traces"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    sla_ms: int | None
    lookback_ms: int
    above: int


def parse(s: Section) -> Spec:
    spec = Spec(s.duration_ms("sla", "0s", minimum_ms=0) or None,
                s.duration_ms("lookback", "1d", minimum_ms=60_000),
                int(number(s, "above", 0, minimum=0)))
    if spec.sla_ms is not None and spec.sla_ms >= spec.lookback_ms:
        # traces started within the lookback but more than sla ago: none when sla >= lookback
        raise s.error("sla", f"sla {s.raw('sla')} is not shorter than lookback "
                             f"{s.raw('lookback', '1d')}: no trace can be both",
                      "set lookback (default 1d) longer than sla")
    return spec


def index(spec: Spec) -> str:
    return "traces"


def _status_filter(spec: Spec) -> Filter:
    if spec.sla_ms is None:
        return Filter("status", "eq", "stuck")
    return Filter("status", "in", tuple(sorted(OPEN_STATUSES)))


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    spec: Spec = rule.spec
    q = window_query(rule, at_ms, index="traces", time_field="started_at",
                     start_ms=at_ms - spec.lookback_ms, end_ms=at_ms - (spec.sla_ms or 0))
    return [replace(q, filters=(*q.filters, _status_filter(spec)))]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    return [Sample(r.group, float(r.count), r.count > spec.above,
                   {"count": r.count, "sla": spec.sla_ms})
            for r in results[0]]


def examples(rule: Rule, sample: Sample, at_ms: int, store: Store, limit: int) -> list[str]:
    """Oldest-started open traces of the group; the store's trace search filters by flow,
    partner and status only, so other rule filters are not applied to the examples."""
    spec: Spec = rule.spec
    statuses = ("stuck",) if spec.sla_ms is None else tuple(sorted(OPEN_STATUSES))
    cutoff = at_ms - (spec.sla_ms or 0)
    found = []
    for status in statuses:
        found += store.search_traces(TraceQuery(
            flow=sample.group.get("flow"), partner=sample.group.get("partner"), status=status,
            since_ms=at_ms - spec.lookback_ms, limit=200))
    found = sorted((t for t in found if t.started_ms < cutoff), key=lambda t: t.started_ms)
    return [t.trace_key for t in found[:limit]]
