"""Message traces: find a message by any ID it was known by, and follow it hop by hop."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import dashboard as dm

from collector.trace import STATUSES
from dashboards import common as c
from dashboards.datasources import EVENTS_UID, TRACES_UID
from dashboards.settings import BoardSettings
from dashboards.tracing import InternalLink

UID = "midwatch-traces"
TRACE_VARS = ("flow", "partner", "platform")
# ``message_id`` is a Lucene term used raw: ``*`` (every message), a bare ID (``4711``, matched
# against every ID type) or a typed ID in quotes (``"order:4711"``). Raw, because Grafana's
# Lucene escaping would turn the default ``*`` into a literal asterisk.
MESSAGE = "${message_id:raw}"
TRACE_MATCH = f"trace_key:{MESSAGE} OR ids:{MESSAGE} OR id_values:{MESSAGE}"
EVENT_MATCH = f"midwatch.ids:{MESSAGE} OR midwatch.message_id:{MESSAGE} OR trace.id:{MESSAGE}"


def build(settings: BoardSettings) -> Dashboard:
    status_query = c.scoped(TRACES_UID, TRACE_VARS, "status:$status")
    trace_query = f"{status_query} AND ({TRACE_MATCH})"
    trace_links = [
        c.data_link("Hops of this message", c.board_url(
            UID, "var-message_id=%22${__data.fields.trace_key}%22&var-status=$__all")),
        c.data_link("Trace API: the whole journey as JSON",
                    "${trace_api}/api/traces/${__data.fields.trace_key}"),
        c.data_link("Open in the trace explorer (waterfall, hop details)",
                    "${explorer}/traces/${__data.fields.trace_key:percentencode}"),
    ]
    if settings.tracing is not None:
        trace_links.append(InternalLink(settings.tracing.explore_link()))
    traces = c.PanelRow("Traces", [
        c.table_panel(c.PanelSpec(
            "Traces",
            "Message journeys last active in the time range, newest first, narrowed by the "
            "variables and the message ID box (a bare ID, a quoted typed ID such as "
            '"order:4711", or * for all). Click a row for its hops, its trace API document or '
            "its page in the trace explorer.",
            [c.es_target(TRACES_UID, "A", trace_query, metrics=[c.raw_data(200)])],
            width=24, height=10, links=trace_links, column_units={"Duration": "ms"},
            transformations=c.keep_columns(
                ["trace_key", "status", "flow", "partner", "started_at", "duration_ms",
                 "hop_count", "last_error.message"],
                {"trace_key": "Trace", "status": "Status", "flow": "Flow", "partner": "Partner",
                 "started_at": "Started", "duration_ms": "Duration",
                 "hop_count": "Hops", "last_error.message": "Last error"}))
        ).sort_by([cb.TableSortByFieldState().display_name("Started").desc(True)]),
        c.table_panel(c.PanelSpec(
            "Hops of the selected message",
            "The events that carry the chosen ID, oldest first: one row per hop with its stage, "
            "platform, outcome and processing time. Hops joined to the trace through "
            "another of its IDs are in the trace API document.",
            [c.es_target(EVENTS_UID, "A", EVENT_MATCH, metrics=[c.raw_data(200)])],
            width=24, height=10, column_units={"Duration": "ns"},
            transformations=c.keep_columns(
                ["@timestamp", "midwatch.stage", "service.name", "midwatch.platform",
                 "event.action", "event.outcome", "event.duration", "error.message"],
                {"@timestamp": "Time", "midwatch.stage": "Stage", "service.name": "Service",
                 "midwatch.platform": "Platform", "event.action": "Action",
                 "event.outcome": "Outcome", "event.duration": "Duration",
                 "error.message": "Error"}))
        ).sort_by([cb.TableSortByFieldState().display_name("Time").desc(False)]),
    ])
    shape = c.PanelRow("Trace outcomes", [
        c.timeseries_panel(c.PanelSpec(
            "Traces by status",
            "Traces by the status they had when last active: completed and acknowledged are "
            "done, failed and rejected ended in error, stuck missed their SLA.",
            [c.es_target(TRACES_UID, "A", status_query,
                         buckets=[c.terms("status"), c.histogram()], metrics=[c.count()])],
            unit="short", min_interval="5m", series_colors=c.TRACE_STATUS_COLORS), stacked=True),
        c.timeseries_panel(c.PanelSpec(
            "p95 trace duration by flow",
            "95th percentile of first-to-last-event time of the traces per flow.",
            [c.es_target(TRACES_UID, "A", status_query,
                         buckets=[c.terms("flow"), c.histogram()],
                         metrics=[c.percentile("duration_ms")])],
            unit="ms", min_interval="5m")),
    ])
    variables = [
        *(c.filter_variable(name) for name in TRACE_VARS),
        c.custom_variable("status", "Status", STATUSES),
        c.textbox_variable("message_id", "Message ID", "*"),
        c.textbox_variable("trace_api", "Trace API", settings.trace_api_url)
        .hide(dm.VariableHide.HIDE_VARIABLE),
        c.textbox_variable("explorer", "Trace explorer", settings.explorer_url)
        .hide(dm.VariableHide.HIDE_VARIABLE),
    ]
    return c.board(UID, "Find a message by any of its IDs and follow its hops.", ["traces"],
                   variables, [traces, shape])
