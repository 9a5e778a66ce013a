"""Alerts: what midwatch's rules are firing now and fired before, from the alert history index.

The history holds one document per transition (pending, firing, resolved, inactive) and one
per notification (``notified``/``notify_failed`` by a notifier, ``would_page`` when none is
configured). "Firing now" is the newest transition of each alert (its ``dedup_key``), kept when
it is ``firing``: Grafana's groupBy with the "first" reducer over documents sorted newest first.
"""

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
    "@timestamp", "rule", "state", "action", "severity", "value", "summary", "notifier",
    "dedup_key",
})
STATE_COLORS = {"firing": "red", "pending": "orange", "resolved": "green", "inactive": "text",
                "notified": "blue", "would_page": "purple", "notify_failed": "dark-red",
                "notify_unconfirmed": "yellow"}
SEVERITY_COLORS = {"critical": "dark-red", "error": "red", "warning": "orange", "info": "blue"}
TRANSITIONS = "state:(pending OR firing OR resolved)"
# the newest firing/resolved transition of an alert says whether it is firing now
OPEN_OR_CLOSED = "state:(firing OR resolved)"
# (history field, column) of the Firing now table, in order
NOW_COLUMNS = (("@timestamp", "Since"), ("severity", "Severity"), ("rule", "Rule"),
               ("labels.flow", "Flow"), ("labels.partner", "Partner"),
               ("labels.platform", "Platform"), ("labels.service_name", "Service"),
               ("labels.endpoint", "Endpoint"), ("value", "Value when fired"),
               ("summary", "Summary"))


def _colors(colors: dict[str, str]) -> list[dm.ValueMap]:
    return [dm.ValueMap(options={
        text: dm.ValueMappingResult(color=color, index=i)
        for i, (text, color) in enumerate(colors.items())
    })]


def build(settings: BoardSettings) -> Dashboard:
    def alerts(query: str) -> str:
        return c.scoped(ALERTS_UID, ALERT_VARS, query)

    now = c.PanelRow("Firing now", [
        c.table_panel(c.PanelSpec(
            "Firing now",
            "Alerts whose newest transition in the time range is firing, with the group they "
            "fired for (flow, partner, platform, service, endpoint; the summary names other "
            "groups), since when, the value that crossed the rule's threshold and the summary "
            "the notification carried. An alert that fired "
            "before the time range starts is not listed: widen the range.",
            [c.es_target(ALERTS_UID, "A", alerts(OPEN_OR_CLOSED), metrics=[c.raw_data(500)])],
            width=24, height=7,
            transformations=[
                *c.latest_per("dedup_key", [f for f, _ in NOW_COLUMNS] + ["state"]),
                c.rows_where("state (first)", "firing"),
                *c.keep_columns([f"{f} (first)" for f, _ in NOW_COLUMNS],
                                {f"{f} (first)": name for f, name in NOW_COLUMNS}),
            ]))
        .mappings(_colors(SEVERITY_COLORS)),
    ])
    fired = c.PanelRow("Fired", [
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
            [c.es_target(ALERTS_UID, "A", alerts(TRANSITIONS),
                         buckets=[c.terms("state"), c.histogram()], metrics=[c.count()])],
            unit="short", width=10, min_interval="5m", series_colors=STATE_COLORS),
            stacked=True),
        c.bar_panel(c.PanelSpec(
            "Fired by rule",
            "Which rules fired most in the time range.",
            [c.es_target(ALERTS_UID, "A", alerts("state:firing"),
                         buckets=[c.terms("rule")], metrics=[c.count()])],
            unit="short", width=8), all_values=True),
    ])
    history = c.PanelRow("History", [
        c.table_panel(c.PanelSpec(
            "Alert history",
            "Every transition and notification, newest first: rule, state, severity, the "
            "labels it fired for, the value that crossed the threshold, and which notifier sent "
            "the firing or resolved notification (would_page: none is configured).",
            [c.es_target(ALERTS_UID, "A", alerts(""), metrics=[c.raw_data(200)])],
            width=24, height=12,
            transformations=c.keep_columns(
                ["@timestamp", "state", "action", "severity", "rule", "labels.flow",
                 "labels.partner", "value", "summary", "notifier"],
                {"@timestamp": "Time", "state": "State", "action": "Notification",
                 "severity": "Severity", "rule": "Rule", "labels.flow": "Flow",
                 "labels.partner": "Partner", "value": "Value", "summary": "Summary",
                 "notifier": "Sent to"})))
        .mappings(_colors(STATE_COLORS)),
    ])
    return c.board(UID, "Alerts midwatch's rules are firing now, fired and resolved.",
                   ["alerts"], [c.filter_variable(name) for name in ALERT_VARS],
                   [now, fired, history], time_from="now-24h")
