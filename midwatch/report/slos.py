"""SLO attainment and error budget over the report's period (not the SLO's rolling window:
management asks about the month), against the previous period, with the days that burned
budget faster than the objective allows."""

from __future__ import annotations

from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.period import day_label
from midwatch.report.scope import DAY_MS, Scope, rate_trend
from rules.slo import Slo, budget


def section(s: Scope, slos: list[Slo]) -> ReportSection:
    title = "Service levels"
    if not slos:
        return ReportSection(title, empty="no SLOs are defined (slos: in the config; see "
                       "deploy/midwatch.example.yaml)")
    if s.flows:  # --flows: the objectives of those flows (a probe's is no flow's)
        slos = [slo for slo in slos if slo.objective.flow in s.flows]
        if not slos:
            return ReportSection(title, empty=f"no SLO is defined for flows {', '.join(s.flows)}")
    qs = [slo.objective.query(p.start_ms, p.end_ms, bucket_ms=DAY_MS)
          for slo in slos for p in (s.period, s.prev)]
    answers = s.run(qs)
    rows, left = [], []
    for i, slo in enumerate(slos):
        cur, prev = budget(slo, answers[2 * i]), budget(slo, answers[2 * i + 1])
        days = ", ".join(f"{day_label(d)} ({rate:.1f}x)" for d, rate in cur.burned_days[:6])
        more = len(cur.burned_days) - 6
        rows.append((slo.name, slo.objective.flow or slo.objective.probe or "all",
                     f"{100 * slo.objective.objective:g}%",
                     rate_trend(cur.attainment, prev.attainment), f"{cur.total:,}",
                     f"{100 * cur.consumed:.0f}%" if cur.total else "-",
                     (days + (f" and {more} more" if more > 0 else "")) or "none"))
        left.append(max(cur.remaining, 0.0) if cur.total else None)
    chart = Chart("Error budget left at the end of the period", "bar",
                  tuple(slo.name for slo in slos), (("budget left", tuple(left)),), percent=True)
    summary = ("Attainment: share of good events (messages within SLA, or probe readings up) "
               "in the period; budget spent: bad events as a share of those the objective "
               "allows (over 100 %: objective missed); days burning: days whose bad share "
               "exceeded the budget, with their burn rate."
               + (" Objectives are per flow or probe: --partners does not narrow them."
                  if s.partners else ""))
    return ReportSection(title, summary, (Table(
        ("SLO", "of", "objective", "attained", "events", "budget spent", "days burning"),
        tuple(rows)),), (chart,))
