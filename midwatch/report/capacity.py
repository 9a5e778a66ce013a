"""Capacity: the busiest hour per flow and per platform, and event volume against the
previous period. Probe readings are left out: they measure the platforms, not their load."""

from __future__ import annotations

from collector.probes.reading import DATASET
from collector.store.base import Filter
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.period import day_label, day_starts, time_label
from midwatch.report.scope import DAY_MS, HOUR_MS, Scope, by_key, count_trend, counted

_NOT_PROBE = Filter("event.dataset", "eq", DATASET, negate=True)


def _peaks(rows, name: str) -> dict[str, tuple[int, int]]:
    """group value -> (events in its busiest hour, that hour)."""
    out: dict[str, tuple[int, int]] = {}
    for r in rows:
        key = r.group[name]
        if r.count > out.get(key, (0, 0))[0]:
            out[key] = (r.count, r.bucket_ms)
    return out


def section(s: Scope) -> ReportSection:
    flow_h, plat_h, cur, prev = s.run([
        s.query("events", s.period, filters=[_NOT_PROBE], group_by=["midwatch.flow"],
                bucket_ms=HOUR_MS, max_groups=20),
        s.query("events", s.period, filters=[_NOT_PROBE], group_by=["midwatch.platform"],
                bucket_ms=HOUR_MS, max_groups=20),
        s.query("events", s.period, filters=[_NOT_PROBE], group_by=["midwatch.platform"],
                max_groups=50),
        s.query("events", s.prev, filters=[_NOT_PROBE], group_by=["midwatch.platform"],
                max_groups=50),
    ])
    if not cur:
        return ReportSection("Capacity", empty="no events were collected in this period")
    flows, platforms = _peaks(flow_h, "midwatch.flow"), _peaks(plat_h, "midwatch.platform")
    before = by_key(prev, "midwatch.platform")
    peak_rows = [("flow", f, f"{n:,}", time_label(at)) for f, (n, at) in
                 sorted(flows.items(), key=lambda kv: -kv[1][0])]
    peak_rows += [("platform", p, f"{n:,}", time_label(at)) for p, (n, at) in
                  sorted(platforms.items(), key=lambda kv: -kv[1][0])]
    growth = tuple((str(r.group["midwatch.platform"]), count_trend(
        r.count, before[r.group["midwatch.platform"]].count
        if r.group["midwatch.platform"] in before else 0)) for r in cur)
    days: dict[tuple[str, int], int] = {}
    for r in plat_h:
        key = (r.group["midwatch.platform"], r.bucket_ms - r.bucket_ms % DAY_MS)
        days[key] = days.get(key, 0) + r.count
    starts = day_starts(s.period)
    top = [str(r.group["midwatch.platform"]) for r in cur[:8]]
    chart = Chart("Events per day by platform", "line", tuple(day_label(d) for d in starts),
                  tuple((p, tuple(float(days.get((p, d), 0)) for d in starts)) for p in top),
                  ylabel="events")
    total = sum(r.count for r in cur)
    return ReportSection("Capacity", f"{counted(total, 'event')} in the period (UTC hours).", (
        Table(("by", "name", "events in busiest hour", "hour"), tuple(peak_rows),
              title="peak hour"),
        Table(("platform", f"events (vs {s.prev.label})"), growth, title="growth"),
    ), (chart,))
