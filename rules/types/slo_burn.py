"""Multi-window, multi-burn-rate alerts on a service level objective (the Google SRE
workbook, chapter 5): page when the error budget burns fast over a long window *and* is
still burning over a short one, so an alert fires within minutes of a real outage and
resolves minutes after it ends, while a brief blip pages nobody.

Default window sets: 1h and 5m at 14.4x (2 % of a 30-day budget in an hour), 6h and 30m at
6x (5 % in six hours), 3d and 6h at 1x (10 % in three days). ``windows:`` replaces them,
e.g. a ticket-only rule with just ``[{long: 3d, short: 6h, burn_rate: 1}]``.

Cost: one aggregation per window set, the longest window bucketed by the greatest common
divisor of all windows (5m by default), per group; every window's burn rate is summed from
those buckets. Windows therefore end at the evaluation's bucket boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from collector.config_values import Section
from collector.store.base import Filter, MetricQuery, MetricRow
from collector.store.metric_shape import bucket_start
from rules.schema import Rule, Sample
from rules.slo import KEYS as OBJECTIVE_KEYS
from rules.slo import Objective, bad, parse_objective
from rules.types import group_key, number

KEYS = (*OBJECTIVE_KEYS, "windows", "min_events")
CONTEXT = ("burn_rate", "burn_rates", "window_set", "objective", "error_budget", "bad", "total")
_WINDOW_KEYS = ("long", "short", "burn_rate")
DEFAULT_WINDOWS = ((3_600_000, 300_000, 14.4), (21_600_000, 1_800_000, 6.0),
                   (259_200_000, 21_600_000, 1.0))


@dataclass(frozen=True, slots=True)
class Spec:
    objective: Objective
    windows: tuple[tuple[int, int, float], ...]  # (long ms, short ms, burn rate)
    min_events: int

    @property
    def bucket_ms(self) -> int:
        return math.gcd(*(w for ws in self.windows for w in ws[:2]))

    @property
    def longest_ms(self) -> int:
        return max(w[0] for w in self.windows)


def parse(s: Section) -> Spec:
    windows = DEFAULT_WINDOWS
    raw = s.raw("windows")
    if raw is not None:
        if not isinstance(raw, list) or not raw:
            raise s.error("windows", "expected a list of window sets",
                          "e.g. [{long: 1h, short: 5m, burn_rate: 14.4}]")
        sets = []
        for i, item in enumerate(raw):
            w = Section(s.doc, (*s.path, "windows", i), item, _WINDOW_KEYS)
            long_ms = w.duration_ms("long", "0s", minimum_ms=60_000)
            short_ms = w.duration_ms("short", "0s", minimum_ms=60_000)
            if not short_ms < long_ms:
                raise w.error("short", "the short window must be shorter than the long one",
                              "the workbook uses 1/12 of the long window: 1h and 5m")
            rate = number(w, "burn_rate", minimum=0.01)
            if rate is None:
                raise w.error("burn_rate", "is required", "e.g. burn_rate: 14.4")
            sets.append((long_ms, short_ms, float(rate)))
        windows = tuple(sets)
    return Spec(parse_objective(s), windows, int(number(s, "min_events", 10, minimum=1)))


def check(rule: Rule, s: Section) -> None:
    spec: Spec = rule.spec
    if spec.longest_ms // spec.bucket_ms > 10_000:
        raise s.error("windows", f"windows of {spec.longest_ms // 60_000} min with "
                      f"{spec.bucket_ms // 1000} s buckets make more than 10000 buckets",
                      "use windows that are multiples of 5 minutes")


def index(spec: Spec) -> str:
    return spec.objective.index


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    spec: Spec = rule.spec
    end = bucket_start(at_ms, spec.bucket_ms)
    return [spec.objective.query(end - spec.longest_ms, end, bucket_ms=spec.bucket_ms,
                                 extra=rule.filters, group_by=rule.group_by,
                                 max_groups=rule.max_groups)]


def _label(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms // 1000}s"


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    end = bucket_start(at_ms, spec.bucket_ms)
    groups: dict[tuple, list[MetricRow]] = {}
    for row in results[0]:
        groups.setdefault(group_key(row, rule.group_by), []).append(row)
    out = []
    for rows in groups.values():
        def burn(window_ms: int, minimum: int, rows=rows) -> tuple[float, int, int]:
            inside = [r for r in rows if r.bucket_ms is not None and r.bucket_ms >= end - window_ms]
            total = sum(r.count for r in inside)
            wrong = sum(bad(r) for r in inside)
            rate = wrong / total / spec.objective.budget if total >= minimum else 0.0
            return rate, wrong, total

        # min_events guards the long window (a quiet flow's 1 failure in 2 is no outage);
        # the short one only confirms that the burn is still going on.
        rates = [(burn(long_ms, spec.min_events), burn(short_ms, 1), threshold, long_ms,
                  short_ms) for long_ms, short_ms, threshold in spec.windows]
        firing = [r for r in rates if r[0][0] >= r[2] and r[1][0] >= r[2]]
        (value, wrong, total), _, _, long_ms, short_ms = firing[0] if firing else rates[0]
        out.append(Sample(
            rows[0].group, round(value, 2), bool(firing),
            {"burn_rate": round(value, 2),
             "burn_rates": "; ".join(f"{_label(lw)} {lr[0]:.1f}x / {_label(sw)} {sr[0]:.1f}x "
                                     f"(>= {th:g}x)" for lr, sr, th, lw, sw in rates),
             "window_set": f"{_label(long_ms)}/{_label(short_ms)}",
             "objective": f"{100 * spec.objective.objective:g}%",
             "error_budget": f"{100 * spec.objective.budget:g}%", "bad": wrong, "total": total},
            example_filters=(() if spec.objective.sli == "sla"
                             else (Filter("event.outcome", "eq", "failure"),)),
        ))
    return out
