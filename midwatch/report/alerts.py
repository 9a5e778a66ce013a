"""Alerts: pages by rule and severity, time to resolve, the noisiest rules and the pages
sent outside business hours (Monday to Friday 08:00-18:00 in the collector's time zone)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from collector.store.base import Agg, Filter
from collector.tracequery import duration_text
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.scope import HOUR_MS, Scope, counted

# A page is a notification sent (or, with no notifier configured, one that would have been).
_PAGES = (Filter("state", "in", ("notified", "would_page")), Filter("action", "eq", "firing"))
_RESOLVES = (Filter("state", "eq", "resolved"), Filter("duration_ms", "exists", None))
BUSINESS_HOURS = (8, 18)


def business_hours(ms: int, tz: str) -> bool:
    local = datetime.fromtimestamp(ms / 1000, ZoneInfo(tz))
    return local.weekday() < 5 and BUSINESS_HOURS[0] <= local.hour < BUSINESS_HOURS[1]


def section(s: Scope) -> ReportSection:
    pages, hourly, fired, resolved, p50, p90 = s.run([
        s.query("alerts", s.period, filters=_PAGES, group_by=["rule", "severity"],
                max_groups=200),
        s.query("alerts", s.period, filters=_PAGES, bucket_ms=HOUR_MS),
        s.query("alerts", s.period, filters=[Filter("state", "eq", "firing")],
                group_by=["rule"], max_groups=200),
        # each resolve carries how long its alert fired (``rules.state.Alert.history``)
        *[s.query("alerts", s.period, agg=agg, filters=_RESOLVES) for agg in (
            Agg("count"), Agg("percentile", "duration_ms", q=50),
            Agg("percentile", "duration_ms", q=90))],
    ])
    if not fired and not pages:
        return ReportSection("Alerts", empty="no alert fired in this period")
    out_of_hours = sum(r.count for r in hourly
                       if r.count and not business_hours(r.bucket_ms, s.timezone))
    total_pages = sum(r.count for r in pages)
    summary = (f"{counted(sum(r.count for r in fired), 'alert')} fired, "
               f"{counted(total_pages, 'page')} ({out_of_hours:,} outside business hours, Mon-Fri "
               f"{BUSINESS_HOURS[0]:02d}:00-{BUSINESS_HOURS[1]:02d}:00 {s.timezone}). "
               f"Time to resolve over {counted(sum(r.count for r in resolved), 'resolved alert')}: "
               f"median {duration_text(_value(p50))}, p90 {duration_text(_value(p90))}.")
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


def _value(rows) -> int | None:
    """The figure of an ungrouped query, None when nothing matched."""
    v = rows[0].value if rows else None
    return None if v is None else int(v)
