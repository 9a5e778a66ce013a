"""This window's count against the previous window or the same window a week earlier.

``factor: 3`` with ``direction: up`` fires at three times the baseline or more; ``down`` at a
third or less. ``min_events`` (in the larger of the two windows) keeps noise from firing.

Windows slide (``rules/sliding.py``): every window ending since the previous evaluation is
compared with its own baseline (the window before it, or a week earlier), so a surge split by
a tick still fires; a pending or firing alert is judged on the window ending now.

``last_week`` is the same wall-clock time a week earlier in ``timezone`` (default UTC): in a
week with a DST change that is 167 or 169 hours back, so traffic that follows local office
hours is not compared an hour off (every ramp at opening and closing would page).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from collector.config_values import Section
from collector.store.base import MetricQuery, MetricRow
from rules import sliding
from rules.schema import Rule, Sample
from rules.timewindows import zone
from rules.types import COUNT, group_key, number

KEYS = ("compare", "direction", "factor", "min_events", "timezone")
SLIDING = True  # queries take ``since_ms``: the engine passes the previous evaluation
CONTEXT = ("count", "baseline", "change", "factor")
_WEEK_MS = 7 * 86_400_000
UNIT = "events"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    compare: str
    direction: str
    factor: float
    min_events: int
    timezone: str = "UTC"


def parse(s: Section) -> Spec:
    factor = number(s, "factor", None, minimum=1.0)
    if factor is None or factor <= 1:
        raise s.error("factor", "is required and must be above 1", "e.g. factor: 3")
    return Spec(s.choice("compare", ("previous", "last_week"), "previous"),
                s.choice("direction", ("up", "down", "both"), "up"),
                float(factor), int(number(s, "min_events", 10, minimum=1)), zone(s))


def week_ms(spec: Spec, at_ms: int) -> int:
    """How far back the same wall-clock time of ``at_ms`` a week earlier lies in the rule's
    zone: 7 x 24 h, one hour less or more across a DST change."""
    if spec.timezone == "UTC":
        return _WEEK_MS
    zone = ZoneInfo(spec.timezone)
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone).replace(tzinfo=None)
    earlier = (local - timedelta(days=7)).replace(tzinfo=zone)
    return at_ms - round(earlier.timestamp() * 1000)


def index(spec: Spec) -> str:
    return "events"


def queries(rule: Rule, at_ms: int, since_ms: int | None = None) -> list[MetricQuery]:
    if rule.spec.compare == "previous":  # each window's baseline is the window before it
        return [sliding.query(rule, at_ms, since_ms, COUNT, back=2)]
    return [sliding.query(rule, at_ms, since_ms, COUNT),
            sliding.query(rule, at_ms, since_ms, COUNT, shift_ms=week_ms(rule.spec, at_ms))]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    previous = spec.compare == "previous"
    week_back = week_ms(spec, at_ms)
    size = sliding.length(rule)
    now = {group_key(h, rule.group_by): (h, run) for h, run in sliding.sums(rule, results[0], at_ms)}
    week = {} if previous else {group_key(h, rule.group_by): (h, run) for h, run
                                in sliding.sums(rule, results[1], at_ms - week_back)}
    # A full answer (``max_groups``, each query capped on its own) cut its smallest groups: a
    # group missing from one is not 0 there (an infinite change), it is not judged (its open
    # alert is judged alone).
    cut_now = bool(rule.group_by) and len(now) >= rule.max_groups
    cut_week = bool(rule.group_by) and len(week) >= rule.max_groups
    out = []
    for key in now.keys() | week.keys():
        if (cut_now and key not in now) or (cut_week and key not in week):
            continue
        head, run = now.get(key) or week[key]
        pairs = []  # (current, baseline) per window, the one ending now last
        if key not in now:  # only last week: the window ending now, empty
            s, e = sliding.spans(rule, at_ms, {})[-1]
            pairs.append((0, _between(run, s - week_back, e - week_back)))
        for s, e in sliding.spans(rule, at_ms, run, 2 if previous else 1) if key in now else ():
            baseline = (_between(run, s - size, s) if previous
                        else _between(week[key][1], s - week_back, e - week_back) if key in week
                        else 0)
            pairs.append((_between(run, s, e), baseline))
        samples = [_sample(spec, head.group, current, baseline) for current, baseline in pairs]
        fired = [x for x in samples if x.active]
        if not fired:
            out.append(samples[-1])
            continue
        worst = max(fired, key=lambda x: x.context["change"] or float("inf")
                    if spec.direction != "down" else -(x.context["change"] or 0.0))
        out.append(replace(worst, current=samples[-1]))
    return out


def _between(run: dict[int, tuple[int, int]], start: int, end: int) -> int:
    return run[end][0] - run[start][0] if start in run and end in run else 0


def _sample(spec: Spec, group: dict, current: int, baseline: int) -> Sample:
    change = current / baseline if baseline else float("inf") if current else 1.0
    up = spec.direction in ("up", "both") and change >= spec.factor
    down = spec.direction in ("down", "both") and change <= 1 / spec.factor
    return Sample(group, float(current), max(current, baseline) >= spec.min_events and (up or down),
                  {"count": current, "baseline": baseline,
                   "change": None if change == float("inf") else change, "factor": spec.factor})
