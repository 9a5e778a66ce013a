"""Partners and EDI: what each trading partner sends and receives, and whether it is acknowledged."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import common as c
from dashboards.datasources import EVENTS_UID, TRACES_UID
from dashboards.settings import BoardSettings

UID = "midwatch-partners"
EVENT_VARS = ("partner", "flow", "environment")
TRACE_VARS = ("partner", "flow")
# One event per transaction set a 997/999 answers (AK2..AK5/IK5); the group-level AK9 events
# carry no transaction set and would count each group a second time.
SET_ACKS = "labels.x12_ack_type:(997 OR 999) AND _exists_:labels.x12_transaction_set"
ACCEPTED = "event.outcome:success"


def build(settings: BoardSettings) -> Dashboard:
    volume = c.PanelRow("Volume", [
        c.timeseries_panel(c.PanelSpec(
            "Volume by partner",
            "Events exchanged with each trading partner (documents, acknowledgements and API "
            "calls), ten busiest partners.",
            [c.es_target(EVENTS_UID, "A",
                         c.scoped(EVENTS_UID, EVENT_VARS, "_exists_:midwatch.partner"),
                         buckets=[c.terms("midwatch.partner"), c.histogram()],
                         metrics=[c.count()])],
            unit="short", width=16, min_interval="5m"), stacked=True),
        c.bar_panel(c.PanelSpec(
            "997/999 acceptance rate by partner",
            "Share of transaction sets a partner's 997/999 accepted (A or E) rather than "
            f"rejected or partially accepted. Red below {c.ACK_ACCEPTANCE_CRIT:.0%}, orange "
            f"below {c.ACK_ACCEPTANCE_WARN:.0%}.",
            c.ratio_targets(EVENTS_UID, EVENT_VARS, SET_ACKS, ACCEPTED, "midwatch.partner",
                            over_range=True),
            unit="percentunit", width=8, decimals=1,
            thresholds=c.falling(c.ACK_ACCEPTANCE_WARN, c.ACK_ACCEPTANCE_CRIT)),
            calc="lastNotNull"),
    ])
    overdue_query = c.scoped(TRACES_UID, TRACE_VARS, "platforms:edi AND status:stuck")
    acks = c.PanelRow("Acknowledgements", [
        c.stat_panel(c.PanelSpec(
            "Acknowledgements overdue",
            "EDI interchanges sent whose functional acknowledgement did not arrive within the "
            "flow's SLA. Red from the first one: the edi-997-overdue rule pages on any.",
            [c.es_target(TRACES_UID, "A", overdue_query, buckets=[c.histogram()],
                         metrics=[c.count()])],
            unit="short", width=6,
            thresholds=c.thresholds((None, "green"), (c.STUCK_PAGES_AT, "red")))),
        c.table_panel(c.PanelSpec(
            "Overdue acknowledgements",
            "Each interchange still waiting for its 997/999 or CONTRL past the SLA, with the "
            "control numbers it is known by.",
            [c.es_target(TRACES_UID, "A", overdue_query, metrics=[c.raw_data(100)])],
            width=18,
            links=[c.data_link("Hops of this interchange", c.board_url(
                "midwatch-traces", "var-message_id=%22${__data.fields.trace_key}%22"))],
            transformations=c.keep_columns(
                ["trace_key", "partner", "flow", "started_at", "sla_ms", "ids"],
                {"trace_key": "Trace", "partner": "Partner", "flow": "Flow",
                 "started_at": "Sent", "sla_ms": "SLA", "ids": "Control numbers"}),
            column_units={"SLA": "ms"})),
    ])
    rejected = c.PanelRow("Rejections", [
        c.table_panel(c.PanelSpec(
            "Rejected interchanges",
            "Transaction sets, groups and interchanges a partner rejected (997/999 R, M, W, X; "
            "TA1; CONTRL action 4), with the control numbers to quote to the partner.",
            [c.es_target(EVENTS_UID, "A",
                         c.scoped(EVENTS_UID, EVENT_VARS,
                                  "midwatch.platform:edi AND event.action:rejected"),
                         metrics=[c.raw_data(200)])],
            width=24, height=9,
            transformations=c.keep_columns(
                ["@timestamp", "midwatch.partner", "labels.x12_ack_type",
                 "labels.x12_transaction_set", "labels.x12_gs06", "labels.x12_st02",
                 "labels.edifact_ack_interchange", "error.message"],
                {"@timestamp": "Time", "midwatch.partner": "Partner",
                 "labels.x12_ack_type": "Ack", "labels.x12_transaction_set": "Set",
                 "labels.x12_gs06": "GS06", "labels.x12_st02": "ST02",
                 "labels.edifact_ack_interchange": "UNB 0020", "error.message": "Reason"}))),
    ])
    return c.board(UID, "Trading partner volume, acknowledgement health and rejections.",
                   ["edi", "partners"], [c.filter_variable(name) for name in EVENT_VARS],
                   [volume, acks, rejected])
