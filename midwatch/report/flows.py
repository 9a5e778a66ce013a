"""Per flow: messages, success rate, SLA compliance, end-to-end time, stuck and rejected,
each beside the previous period. A message belongs to the period its trace started in."""

from __future__ import annotations

from collector.store.base import Agg, Filter
from collector.tracequery import duration_text
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.period import Period, day_label, day_starts
from midwatch.report.scope import (
    DAY_MS,
    DONE,
    Scope,
    by_key,
    count_trend,
    counted,
    pct,
    rate_trend,
    ratio,
)

_T = "started_at"
_DONE = Filter("status", "in", DONE)
# sla_breached false or missing: negation matches documents without the field
_IN_SLA = Filter("sla_breached", "eq", True, negate=True)


def _queries(s: Scope, p: Period) -> list:
    pct_ = [s.query("traces", p, agg=Agg("percentile", "duration_ms", q=q), filters=[_DONE],
                    group_by=["flow"], time_field=_T) for q in (50, 95)]
    return [
        s.query("traces", p, group_by=["flow", "status"], time_field=_T, max_groups=1000),
        s.query("traces", p, filters=[_DONE, _IN_SLA], group_by=["flow"], time_field=_T),
        *pct_,
    ]


def _figures(rows: list[list]) -> dict[str, dict]:
    """flow -> messages, per-status counts, success, in_sla, p50, p95."""
    statuses, in_sla, p50, p95 = rows
    out: dict[str, dict] = {}
    for r in statuses:
        f = out.setdefault(r.group["flow"], {"messages": 0, "status": {}})
        f["messages"] += r.count
        f["status"][r.group["status"]] = r.count
    sla, q50, q95 = by_key(in_sla, "flow"), by_key(p50, "flow"), by_key(p95, "flow")
    for flow, f in out.items():
        done = sum(f["status"].get(st, 0) for st in DONE)
        f["success"] = ratio(done, f["messages"])
        f["in_sla"] = ratio(sla[flow].count if flow in sla else 0, f["messages"])
        f["p50"] = q50[flow].value if flow in q50 else None
        f["p95"] = q95[flow].value if flow in q95 else None
    return out


def _ms(v: float | None) -> str:
    return duration_text(None if v is None else int(v))


def section(s: Scope) -> ReportSection:
    months = s.period.months
    daily = s.query("traces", s.period, group_by=["flow"], bucket_ms=DAY_MS, time_field=_T,
                    max_groups=12)
    answers = s.run([*_queries(s, s.period), *_queries(s, s.prev), daily,
                     *[s.query("traces", m, group_by=["flow", "status"], time_field=_T,
                               max_groups=1000) for m in months]])
    cur, prev = _figures(answers[0:4]), _figures(answers[4:8])
    if not cur:
        return ReportSection(
            "Flows",
            empty="no message of a catalogued flow started in this period "
                  "(is the flow catalog configured and the collector running?)")
    rows = []
    empty: dict = {"messages": 0, "status": {}, "success": None, "in_sla": None,
                   "p50": None, "p95": None}
    for flow in sorted(cur, key=lambda f: -cur[f]["messages"]):
        c, p = cur[flow], prev.get(flow, empty)
        rows.append((
            flow, count_trend(c["messages"], p["messages"]),
            rate_trend(c["success"], p["success"]), rate_trend(c["in_sla"], p["in_sla"]),
            f"{_ms(c['p50'])} / {_ms(c['p95'])}", f"{_ms(p['p50'])} / {_ms(p['p95'])}",
            str(c["status"].get("stuck", 0)), str(c["status"].get("rejected", 0)),
            str(c["status"].get("failed", 0)),
        ))
    tables = [Table(("flow", "messages", "success", "within SLA", "p50 / p95",
                     "previous p50 / p95", "stuck", "rejected", "failed"), tuple(rows))]
    flows = [r[0] for r in rows]
    if months:
        per_month = [_figures([answers[9 + i], [], [], []]) for i in range(len(months))]
        tables.append(Table(("flow", *[m.label for m in months]), tuple(
            (flow, *[f"{pm[flow]['messages']:,} · {pct(pm[flow]['success'])}" if flow in pm
                     else "-" for pm in per_month]) for flow in flows),
            title="by month: messages · success rate"))
    day_rows = answers[8]
    days = day_starts(s.period)
    per_day = {(r.group["flow"], r.bucket_ms): r.count for r in day_rows}
    charts = (
        Chart("Messages per day", "line", tuple(day_label(d) for d in days),
              tuple((f, tuple(float(per_day.get((f, d), 0)) for d in days))
                    for f in flows[:8]), ylabel="messages"),
        Chart("Success rate and SLA compliance", "bar", tuple(flows[:10]), (
            (f"success {s.prev.label}", tuple(prev.get(f, empty)["success"] for f in flows[:10])),
            (f"success {s.period.label}", tuple(cur[f]["success"] for f in flows[:10])),
            (f"within SLA {s.period.label}", tuple(cur[f]["in_sla"] for f in flows[:10])),
        ), percent=True),
    )
    total = sum(c["messages"] for c in cur.values())
    summary = (f"{counted(total, 'message')} in {counted(len(cur), 'flow')}. Success: share of the period's "
               "messages that reached their terminal stage (completed or acknowledged); within "
               "SLA: share that did so within the flow's SLA. Changes against "
               f"{s.prev.label} in brackets (pp: percentage points).")
    return ReportSection("Flows", summary, tuple(tables), charts)
