"""An error signature (``midwatch.signature``) seen in the window but not in the lookback
before it: a new kind of failure, worth a look even at low volume.

The lookback keeps the 10,000 most frequent signatures per group; a signature rarer than all
of those counts as new again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from collector.config_values import Section
from collector.store.base import Filter, MetricQuery, MetricRow
from rules.schema import Rule, Sample
from rules.types import group_key, window_query

KEYS = ("lookback",)
CONTEXT = ("signature", "template", "count", "lookback")
EXTRA_LABELS = ("signature",)
SIGNATURE = "midwatch.signature"
LOOKBACK_GROUPS = 10_000
_HAS_SIGNATURE = Filter(SIGNATURE, "exists")
UNIT = "events"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    lookback_ms: int


def parse(s: Section) -> Spec:
    return Spec(s.duration_ms("lookback", "7d", minimum_ms=60_000))


def index(spec: Spec) -> str:
    return "events"


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    start = at_ms - rule.window_ms
    current = window_query(rule, at_ms, extra_group=(SIGNATURE,))
    before = window_query(rule, at_ms, start_ms=start - rule.spec.lookback_ms, end_ms=start,
                          extra_group=(SIGNATURE,), max_groups=LOOKBACK_GROUPS)
    return [replace(q, filters=(*q.filters, _HAS_SIGNATURE)) for q in (current, before)]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    fields = (*rule.group_by, SIGNATURE)
    known = {group_key(r, fields) for r in results[1]}
    return [
        Sample(r.group, float(r.count), group_key(r, fields) not in known,
               # "template": the signature until an example event brings its text (engine)
               {"signature": r.group.get(SIGNATURE), "template": r.group.get(SIGNATURE),
                "count": r.count, "lookback": rule.spec.lookback_ms},
               example_filters=(Filter(SIGNATURE, "eq", r.group.get(SIGNATURE)),))
        for r in results[0]
    ]
