"""Count of matching documents per group in the window, outside a bound (``above``/``below``).

``below`` only sees groups with at least one event; for "too few or none" use ``absence``.
``index: deadletter`` counts what midwatch could not parse or store, ``index: alerts`` the
rule engine's own history (failed notifications, failed evaluations): self-monitoring.
``measure: {field, agg, unit}`` makes the alert's value a measured quantity of the matching
documents (``max`` lag, ``min`` days to expiry, ``per_minute`` growth) instead of their count.

``above`` slides (``rules/sliding.py``): the busiest window anywhere since the previous
evaluation counts, so a burst split by a tick still fires. ``below`` is the window ending at
the evaluation (a quiet stretch earlier in the span is not "too few" while the flow is busy).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from collector.config_values import Section
from collector.store.base import Agg, MetricQuery, MetricRow
from rules import sliding
from rules.fields import FieldError, check_field
from rules.schema import Rule, Sample
from rules.series import Runs
from rules.types import COUNT, bounds, breaches, group_key, window_query

KEYS = ("above", "below", "index", "measure")
SLIDING = True  # queries take ``since_ms``: the engine passes the previous evaluation
CONTEXT = ("count", "above", "below", "measured", "unit")
UNIT = "events"
MEASURE_KEYS = ("field", "agg", "unit")
# per_minute: the sum over the window divided by its minutes (growth per minute).
MEASURE_AGGS = ("max", "min", "avg", "sum", "per_minute")


@dataclass(frozen=True, slots=True)
class Measure:
    """What the alert's value is when the count only decides (a probe rule counts readings
    past a bound, but the page should say the lag, the days left, the growth)."""

    field: str
    agg: str
    unit: str


@dataclass(frozen=True, slots=True)
class Spec:
    above: float | None
    below: float | None
    index: str = "events"
    measure: Measure | None = None


def parse(s: Section) -> Spec:
    index_name = s.choice("index", ("events", "deadletter", "alerts"), "events")
    measure = None
    if s.has("measure"):
        m = s.sub("measure", MEASURE_KEYS)
        measure = Measure(m.text("field", required=True), m.choice("agg", MEASURE_AGGS, "max"),
                          m.text("unit", required=True))
        try:
            check_field(index_name, measure.field)
        except FieldError as exc:
            raise m.error("field", exc.message, exc.hint) from None
    return Spec(*bounds(s), index_name, measure)


def index(spec: Spec) -> str:
    return spec.index


def queries(rule: Rule, at_ms: int, since_ms: int | None = None) -> list[MetricQuery]:
    spec: Spec = rule.spec
    out = []
    if spec.above is not None:
        out.append(sliding.query(rule, at_ms, since_ms, COUNT, spec.index))
    if spec.below is not None:
        out.append(window_query(rule, at_ms, index=spec.index))
    if spec.measure is not None:
        kind = "sum" if spec.measure.agg == "per_minute" else spec.measure.agg
        out.append(window_query(rule, at_ms, Agg(kind, spec.measure.field), index=spec.index))  # type: ignore[arg-type]
    return out


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    rest = iter(results)
    slid = sliding.busiest(rule, next(rest), at_ms) if spec.above is not None else {}
    fixed = {group_key(r, rule.group_by): r for r in next(rest)} if spec.below is not None else {}
    measured = _measured(rule, next(rest)) if spec.measure is not None else {}

    def sample(key: tuple[str, ...], group: dict, count: int, active: bool) -> Sample:
        context = {"count": count, "above": spec.above, "below": spec.below,
                   "unit": spec.measure.unit if spec.measure else UNIT}
        value = float(count)
        if spec.measure is not None:
            value = context["measured"] = measured.get(key)
        return Sample(group, value, active, context)

    out = []
    for key in slid.keys() | fixed.keys():
        group, busiest, now = slid.get(key) or (fixed[key].group, 0, 0)
        low = key in fixed and breaches(fixed[key].count, None, spec.below)
        if low or not breaches(busiest, spec.above, None):
            if not low and key not in fixed and not now and rule.group_by:
                continue  # as with a fixed window: a group without events now has no sample
            out.append(sample(key, group, fixed[key].count if key in fixed else now, low))
            continue
        current = sample(key, group, now, breaches(now, spec.above, None))
        out.append(replace(sample(key, group, busiest, True), current=current))
    return out


def quiet(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> bool:
    """No group's busiest window above ``above`` nor window count below ``below``. The
    sliding ``above`` is checked on a backfill's ``Runs`` only: a live evaluation's rows
    are not quiet (they are evaluated as always)."""
    spec: Spec = rule.spec
    rest = iter(results)
    if spec.above is not None:
        answer = next(rest)
        if not isinstance(answer, Runs) or sliding.table(rule, answer, at_ms)[0].max(
                initial=0) > spec.above:
            return False
    return spec.below is None or not any(breaches(r.count, None, spec.below) for r in next(rest))


def _measured(rule: Rule, rows: list[MetricRow]) -> dict[tuple[str, ...], float | None]:
    m: Measure = rule.spec.measure
    per = rule.window_ms / 60_000 if m.agg == "per_minute" else 1
    return {group_key(r, rule.group_by): None if r.value is None else round(r.value / per, 3)
            for r in rows}
