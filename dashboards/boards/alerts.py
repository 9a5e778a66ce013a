"""Alerts: what midwatch's rules fired, from the alert history index."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import common as c
from dashboards.datasources import ALERTS_UID
from dashboards.settings import BoardSettings

UID = "midwatch-alerts"
ALERT_VARS = ("flow", "partner", "environment")
# Fields of an alert history document the rule engine writes (``labels.*`` is open).
ALERT_FIELDS = frozenset({
    "@timestamp", "rule", "state", "severity", "value", "summary", "notifier", "dedup_key",
})
STATE_COLORS = {"firing": "red", "pending": "orange", "resolved": "green"}


def _state_colors() -> list[dm.ValueMap]:
    return [dm.ValueMap(options={
        state: dm.ValueMappingResult(color=color, index=i)
        for i, (state, color) in enumerate(STATE_COLORS.items())
    })]


def build(settings: BoardSettings) -> Dashboard:
    def alerts(query: str) -> str:
        return c.scoped(ALERTS_UID, ALERT_VARS, query)

    now = c.Section("Firing", [
        c.stat_panel(c.PanelSpec(
            "Alerts fired",
            "Times a rule moved to firing in the time range.",
            [c.es_target(ALERTS_UID, "A", alerts("state:firing"), buckets=[c.histogram()],
                         metrics=[c.count()])],
            unit="short", width=6, thresholds=c.thresholds((None, "green"), (1, "red")))),
        c.timeseries_panel(c.PanelSpec(
            "Alert transitions by state",
            "Pending, firing and resolved transitions over time; a firing bar without a "
            "resolved one after it is still open.",
            [c.es_target(ALERTS_UID, "A", alerts(""),
                         buckets=[c.terms("state"), c.histogram()], metrics=[c.count()])],
            unit="short", width=10, min_interval="5m"), stacked=True),
        c.bar_panel(c.PanelSpec(
            "Fired by rule",
            "Which rules fired most in the time range.",
            [c.es_target(ALERTS_UID, "A", alerts("state:firing"),
                         buckets=[c.terms("rule")], metrics=[c.count()])],
            unit="short", width=8), all_values=True),
    ])
    history = c.Section("History", [
        c.table_panel(c.PanelSpec(
            "Alert history",
            "Every transition, newest first: rule, state, severity, the labels it fired for, "
            "the value that crossed the threshold and where it was sent.",
            [c.es_target(ALERTS_UID, "A", alerts(""), metrics=[c.raw_data(200)])],
            width=24, height=12,
            transformations=c.keep_columns(
                ["@timestamp", "state", "severity", "rule", "labels.flow", "labels.partner",
                 "value", "summary", "notifier"],
                {"@timestamp": "Time", "state": "State", "severity": "Severity",
                 "rule": "Rule", "labels.flow": "Flow", "labels.partner": "Partner",
                 "value": "Value", "summary": "Summary", "notifier": "Sent to"})))
        .mappings(_state_colors()),
    ])
    return c.board(UID, "Alerts midwatch's rules fired and resolved.", ["alerts"],
                   [c.filter_variable(name) for name in ALERT_VARS], [now, history],
                   time_from="now-24h")
