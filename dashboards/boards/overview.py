"""Integration overview: is every flow moving, failing or slowing down, and where it hurts."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import common as c
from dashboards.datasources import DEADLETTERS_UID, EVENTS_UID, TRACES_UID
from dashboards.settings import BoardSettings

UID = "midwatch-overview"
EVENT_VARS = ("flow", "partner", "platform", "environment")
TRACE_VARS = ("flow", "partner", "platform")
FAILED = "event.outcome:failure"
# The columns of a dead letter an analyst reads first; ``raw`` holds the record itself.
DEADLETTER_COLUMNS = (("@timestamp", "Time"), ("input", "Input"), ("kind", "Reason"),
                      ("source", "Source"), ("stage", "Stage"),
                      ("reason", "Detail"), ("raw", "Record"))


def build(settings: BoardSettings) -> Dashboard:
    stuck_query = c.scoped(TRACES_UID, TRACE_VARS, "status:stuck")
    throughput = c.PanelRow("Throughput and health per flow", [
        c.timeseries_panel(c.PanelSpec(
            "Events per minute by flow",
            "Events midwatch stored per minute for the ten busiest flows. A flow dropping to "
            "zero while others carry on is the first sign of a stalled integration.",
            [c.es_target(EVENTS_UID, "A", c.scoped(EVENTS_UID, EVENT_VARS, "_exists_:midwatch.flow"),
                         buckets=[c.terms("midwatch.flow"), c.histogram("1m")],
                         metrics=[c.count()])],
            unit="cpm", width=8)),
        c.timeseries_panel(c.PanelSpec(
            "Failure ratio by flow",
            "Share of a flow's events whose outcome is failure. Orange from "
            f"{c.FAILURE_RATIO_WARN:.0%} (where mule-flow-failure-ratio pages), red from "
            f"{c.FAILURE_RATIO_CRIT:.0%} (where boomi-process-errors pages).",
            c.ratio_targets(EVENTS_UID, EVENT_VARS, "_exists_:midwatch.flow", FAILED,
                            "midwatch.flow", over_range=False),
            unit="percentunit", width=8, min_interval="5m",
            thresholds=c.rising(c.FAILURE_RATIO_WARN, c.FAILURE_RATIO_CRIT)),
            threshold_lines=True),
        c.timeseries_panel(c.PanelSpec(
            "p95 hop latency by flow",
            "95th percentile of the processing time a hop reports (ECS event.duration), per "
            "flow. Only hops whose platform states a duration are counted.",
            [c.es_target(EVENTS_UID, "A", c.scoped(EVENTS_UID, EVENT_VARS, "_exists_:event.duration"),
                         buckets=[c.terms("midwatch.flow"), c.histogram()],
                         metrics=[c.percentile("event.duration")])],
            unit="ns", width=8, min_interval="5m",
            thresholds=c.rising(c.HOP_P95_WARN_NS, c.HOP_P95_CRIT_NS)),
            threshold_lines=True),
    ])
    hurts = c.PanelRow("Where it hurts", [
        c.bar_panel(c.PanelSpec(
            "Top failing flows",
            "Flows with the most failed events in the time range. Click a bar for the failed "
            "traces of that flow.",
            [c.es_target(EVENTS_UID, "A", c.scoped(EVENTS_UID, EVENT_VARS, FAILED),
                         buckets=[c.terms("midwatch.flow")], metrics=[c.count()])],
            unit="short", width=8, height=9,
            links=[c.data_link("Failed traces of this flow", c.board_url(
                "midwatch-traces", 'var-flow=${__data.fields["midwatch.flow"]}&var-status=failed'))]),
            all_values=True),
        c.table_panel(c.PanelSpec(
            "Top error signatures",
            "The most frequent error templates (variable parts masked), across flows. One "
            "template recurring in bulk is one root cause, not many.",
            [c.es_target(EVENTS_UID, "A", c.scoped(EVENTS_UID, EVENT_VARS, FAILED),
                         buckets=[c.terms("labels.signature_template", size=15)],
                         metrics=[c.count()])],
            width=10, height=9,
            transformations=c.keep_columns(
                ["labels.signature_template", "Count"],
                {"labels.signature_template": "Error template", "Count": "Failures"}))),
        c.bar_panel(c.PanelSpec(
            "SLA compliance by flow",
            "Share of traces with an SLA that ended (or are still open) within it. Red below "
            f"{c.SLA_COMPLIANCE_CRIT:.0%}, orange below {c.SLA_COMPLIANCE_WARN:.0%}.",
            c.ratio_targets(TRACES_UID, TRACE_VARS, "_exists_:sla_ms", "sla_breached:false",
                            "flow", over_range=True),
            unit="percentunit", width=6, height=9, decimals=1,
            thresholds=c.falling(c.SLA_COMPLIANCE_WARN, c.SLA_COMPLIANCE_CRIT)),
            calc="lastNotNull"),
    ])
    stuck = c.PanelRow("Stuck messages", [
        c.stat_panel(c.PanelSpec(
            "Stuck messages",
            "Traces that reached no terminal stage within their flow's SLA and were last "
            "active in the time range. Red from the first one: the stuck-messages rule pages "
            "on any.",
            [c.es_target(TRACES_UID, "A", stuck_query, buckets=[c.histogram()],
                         metrics=[c.count()])],
            unit="short", width=6, thresholds=c.thresholds((None, "green"), (c.STUCK_PAGES_AT, "red")),
            links=[c.data_link("Stuck traces", c.board_url("midwatch-traces", "var-status=stuck"))])),
        c.table_panel(c.PanelSpec(
            "Stuck messages, most recently active first",
            "Each stuck trace with the last stage it reached. Click a trace key for its hops.",
            [c.es_target(TRACES_UID, "A", stuck_query, metrics=[c.raw_data(50)])],
            width=18,
            links=[c.data_link("Hops of this message", c.board_url(
                "midwatch-traces", "var-message_id=%22${__data.fields.trace_key}%22"))],
            transformations=c.keep_columns(
                ["trace_key", "flow", "partner", "started_at", "last_seen", "hop_count", "stages"],
                {"trace_key": "Trace", "flow": "Flow", "partner": "Partner",
                 "started_at": "Started", "last_seen": "Last seen", "hop_count": "Hops",
                 "stages": "Stages reached"}))),
    ])
    return c.board(
        UID, "Throughput, failures, latency and SLA of every integration flow.", ["overview"],
        [c.filter_variable(name) for name in EVENT_VARS], [throughput, hurts, stuck, unread()])


def unread() -> c.PanelRow:
    """Records midwatch could not parse or store: each is a message missing from every flow's
    numbers above, so the board shows them beside those numbers rather than only in a metric.
    Dead letters carry no flow or partner, so the board's variables do not narrow them."""
    everything = c.scoped(DEADLETTERS_UID, ())
    return c.PanelRow("Records midwatch could not read or store", [
        c.stat_panel(c.PanelSpec(
            "Dead letters",
            "Records set aside in the time range because midwatch could not parse or store "
            "them: none is in the panels above. `midwatch deadletters --summary` counts them "
            "by reason and input from the command line.",
            [c.es_target(DEADLETTERS_UID, "A", everything, buckets=[c.histogram()],
                         metrics=[c.count()])],
            unit="short", width=6, thresholds=c.thresholds((None, "green"), (1, "orange")))),
        c.timeseries_panel(c.PanelSpec(
            "Dead letters by reason",
            "Why records were set aside (line_too_long, parse_error, store_rejected, ...), "
            "over time: a step is usually a new log layout or a mapping conflict.",
            [c.es_target(DEADLETTERS_UID, "A", everything,
                         buckets=[c.terms("kind"), c.histogram()], metrics=[c.count()])],
            unit="short", width=18, min_interval="1m"), stacked=True),
        c.table_panel(c.PanelSpec(
            "Newest dead letters",
            "The newest records set aside, with where they were read and why. `midwatch "
            "deadletters --input NAME --reason KIND` filters the same list.",
            [c.es_target(DEADLETTERS_UID, "A", everything, metrics=[c.raw_data(100)])],
            width=24, height=9,
            transformations=c.keep_columns([f for f, _ in DEADLETTER_COLUMNS],
                                           dict(DEADLETTER_COLUMNS)))),
    ])
