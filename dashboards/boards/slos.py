"""Service levels: SLA attainment, burn rate and error budget per flow, endpoint availability.

The SLIs are those of ``rules/slo.py`` (a flow's messages whose fate is known, by
``last_seen``; probe ``endpoint.up`` readings), so the board shows what ``slo_burn`` rules page
on and ``midwatch slo status`` prints. A board cannot read the config's per-flow objectives:
burn rate and budget are drawn against 99.5 %, the example objective, with lines at the
workbook's 6x and 14.4x page thresholds; the budget is that of the board's time range (30
days by default, like an SLO window).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import common as c
from dashboards.datasources import EVENTS_UID, TRACES_UID
from dashboards.settings import BoardSettings

UID = "midwatch-slos"
TRACE_VARS = ("flow", "partner")
OBJECTIVE = 0.995
BUDGET = round(1 - OBJECTIVE, 6)
DECIDED = "status:(completed OR acknowledged OR failed OR rejected OR stuck)"
GOOD = "status:(completed OR acknowledged) AND NOT sla_breached:true"
PROBE_UP = "event.dataset:midwatch.probe AND labels.probe.metric:endpoint.up"
BURN = f"(1 - {{}}) / {BUDGET}"


def build(settings: BoardSettings) -> Dashboard:
    flows = c.PanelRow("Flows: messages within SLA", [
        c.bar_panel(c.PanelSpec(
            "SLA attainment by flow",
            "Of each flow's messages whose fate is known (completed, acknowledged, failed, "
            "rejected or stuck), the share completed or acknowledged within the flow's SLA, "
            f"over the time range. Red below {OBJECTIVE:.1%}.",
            c.ratio_targets(TRACES_UID, TRACE_VARS, DECIDED, GOOD, "flow", over_range=True),
            unit="percentunit", width=8, decimals=2,
            thresholds=c.falling(OBJECTIVE, OBJECTIVE - 0.005)), calc="lastNotNull"),
        c.timeseries_panel(c.PanelSpec(
            "Burn rate by flow",
            f"How fast each flow spends a {OBJECTIVE:.1%} error budget: its bad share divided "
            "by the budget's. 1 spends the budget exactly over the window; slo_burn pages at "
            "14.4 (1h and 5m) and 6 (6h and 30m) by default.",
            c.ratio_targets(TRACES_UID, TRACE_VARS, DECIDED, GOOD, "flow", over_range=False,
                            of=BURN),
            unit="suffix:x", width=8, min_interval="5m", thresholds=c.rising(6, 14.4)),
            threshold_lines=True),
        c.bar_panel(c.PanelSpec(
            "Error budget left by flow",
            f"Share of a {OBJECTIVE:.1%} objective's error budget not yet spent over the time "
            "range; below zero the objective is missed. Orange below 25 %, red below 0.",
            c.ratio_targets(TRACES_UID, TRACE_VARS, DECIDED, GOOD, "flow", over_range=True,
                            of=f"1 - {BURN}"),
            unit="percentunit", width=8, decimals=0, thresholds=c.falling(0.25, 0.0)),
            calc="lastNotNull"),
    ])
    probes = c.PanelRow("Endpoints: availability", [
        c.bar_panel(c.PanelSpec(
            "Availability by endpoint probe",
            "Share of each http/tls probe's endpoint.up readings that found the endpoint up, "
            f"over the time range. Red below {OBJECTIVE:.1%}.",
            c.ratio_targets(EVENTS_UID, (), PROBE_UP, "event.outcome:success",
                            "labels.probe.name", over_range=True),
            unit="percentunit", width=12, decimals=2,
            thresholds=c.falling(OBJECTIVE, OBJECTIVE - 0.005)), calc="lastNotNull"),
        c.timeseries_panel(c.PanelSpec(
            "Endpoint burn rate",
            f"Each probe's share of down readings divided by a {OBJECTIVE:.1%} objective's "
            "budget, with the 6x and 14.4x page thresholds.",
            c.ratio_targets(EVENTS_UID, (), PROBE_UP, "event.outcome:success",
                            "labels.probe.name", over_range=False, of=BURN),
            unit="suffix:x", width=12, min_interval="5m", thresholds=c.rising(6, 14.4)),
            threshold_lines=True),
    ])
    return c.board(UID, "SLA attainment, burn rate and error budget per flow; endpoint "
                   "availability.", ["slo"], [c.filter_variable(n) for n in TRACE_VARS],
                   [flows, probes], time_from="now-30d")
