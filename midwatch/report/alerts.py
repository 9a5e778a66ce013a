"""Alerts: pages by rule and severity, time to resolve, the noisiest rules and the pages
sent outside business hours (Monday to Friday 08:00-18:00 in the collector's time zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from collector.store.base import Agg, Filter
from collector.store.metric_shape import percentile
from collector.tracequery import duration_text
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.scope import HOUR_MS, Scope

# A page is a notification sent (or, with no notifier configured, one that would have been).
_PAGES = (Filter("state", "in", ("notified", "would_page")), Filter("action", "eq", "firing"))
_TRANSITIONS = (Filter("state", "in", ("firing", "resolved")),)
BUSINESS_HOURS = (8, 18)


def business_hours(ms: int, tz: str) -> bool:
    local = datetime.fromtimestamp(ms / 1000, ZoneInfo(tz))
    return local.weekday() < 5 and BUSINESS_HOURS[0] <= local.hour < BUSINESS_HOURS[1]


def section(s: Scope) -> ReportSection:
    pages, hourly, fired, times = s.run([
        s.query("alerts", s.period, filters=_PAGES, group_by=["rule", "severity"],
                max_groups=200),
        s.query("alerts", s.period, filters=_PAGES, bucket_ms=HOUR_MS),
        s.query("alerts", s.period, filters=[Filter("state", "eq", "firing")],
                group_by=["rule"], max_groups=200),
        # per alert and transition: how many, and their mean time (see _resolve_times)
        s.query("alerts", s.period, agg=Agg("avg", "@timestamp"), filters=_TRANSITIONS,
                group_by=["dedup_key", "state"], max_groups=1000),
    ])
    if not fired and not pages:
        return ReportSection("Alerts", empty="no alert fired in this period")
    resolve = _resolve_times(times)
    out_of_hours = sum(r.count for r in hourly
                       if r.count and not business_hours(r.bucket_ms, s.timezone))
    total_pages = sum(r.count for r in pages)
    summary = (f"{sum(r.count for r in fired):,} alerts fired, {total_pages:,} pages "
               f"({out_of_hours:,} outside business hours, Mon-Fri "
               f"{BUSINESS_HOURS[0]:02d}:00-{BUSINESS_HOURS[1]:02d}:00 {s.timezone}). "
               f"Time to resolve over {len(resolve)} resolved alerts: median "
               f"{duration_text(_p(resolve, 50))}, p90 {duration_text(_p(resolve, 90))}.")
    noisy = sorted(fired, key=lambda r: (-r.count, str(r.group["rule"])))[:10]
    tables = (
        Table(("rule", "severity", "pages"), tuple(
            (str(r.group["rule"]), str(r.group["severity"]), f"{r.count:,}") for r in pages),
            title="pages by rule and severity"),
        Table(("rule", "times fired"), tuple((str(r.group["rule"]), f"{r.count:,}")
                                             for r in noisy), title="noisiest rules"),
    )
    chart = Chart("Alerts fired per rule", "barh", tuple(str(r.group["rule"]) for r in noisy),
                  (("fired", tuple(float(r.count) for r in noisy)),), ylabel="alerts fired")
    return ReportSection("Alerts", summary, tables, (chart,))


def _resolve_times(rows) -> list[float]:
    """Time from firing to resolved per alert (dedup key): the mean of its resolved
    transitions' times minus the mean of its firing ones, when every firing in the period
    was resolved in it (an alert firing n times has n of each). Still-open alerts are left out.
    """
    by_key: dict[str, dict[str, tuple[int, float]]] = {}
    for r in rows:
        if r.value is not None:
            by_key.setdefault(r.group["dedup_key"], {})[r.group["state"]] = (r.count, r.value)
    out = []
    for states in by_key.values():
        f, res = states.get("firing"), states.get("resolved")
        if f and res and f[0] == res[0] and res[1] >= f[1]:
            out.append(res[1] - f[1])
    return sorted(out)


def _p(values: list[float], q: float) -> int | None:
    v = percentile(values, q)
    return None if v is None else int(v)
