"""Building blocks every board shares: variables, scoped Lucene queries, ES aggregations,
server-side expressions, panels with units and thresholds, and the board frame itself.

Queries are written once here so that the five boards filter the same way:

- Every template variable is multi-value with "All". "All" inserts ``* OR *:*`` unformatted
  (Grafana never escapes a custom all value), and each variable clause is parenthesised, so
  ``(midwatch.partner:$partner)`` with "All" matches every document, including the many that
  have no partner at all; a chosen set becomes ``(midwatch.partner:("ACME" OR "GLOBEX"))``.
- Ratios (failure ratio, ack acceptance, SLA compliance) are server-side expressions over two
  counts (``$B / $A``): the obvious ``bucket_script`` needs painless, which clusters without
  the scripting module (Elasticsearch's own test distribution among them) refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import bargauge, expr, logs, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import elasticsearch as es
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.elasticsearch import TermsOrder

from dashboards.datasources import ALERTS_UID, DEADLETTERS_UID, EVENTS_UID, TRACES_UID

ALL_VALUE = "* OR *:*"
ALL_OPTION = dm.VariableOption(text="All", value="$__all", selected=True)
MIXED = dm.DataSourceRef(type_val="datasource", uid="-- Mixed --")
EXPR = dm.DataSourceRef(type_val="__expr__", uid="__expr__")
TAG = "midwatch"

# Thresholds of the shipped rule packs (tests compare them with rules/packs); a board colours
# a value the way a rule would page on it. Failure ratio: mule-flow-failure-ratio pages above
# the first, boomi-process-errors above the second.
FAILURE_RATIO_WARN = 0.05
FAILURE_RATIO_CRIT = 0.10
# No pack rule on these; from common partner agreements and SLOs.
ACK_ACCEPTANCE_WARN = 0.98
ACK_ACCEPTANCE_CRIT = 0.95
SLA_COMPLIANCE_WARN = 0.99
SLA_COMPLIANCE_CRIT = 0.95
# stuck-messages and edi-997-overdue page from the first stuck trace (``above: 0``)
STUCK_PAGES_AT = 1
# p95 hop latency in nanoseconds (ECS event.duration): 2 s warn, 5 s critical.
HOP_P95_WARN_NS = 2e9
HOP_P95_CRIT_NS = 5e9

# The document field each variable filters, per datasource. Traces carry no environment.
VARIABLE_FIELDS: dict[str, dict[str, str]] = {
    EVENTS_UID: {
        "flow": "midwatch.flow", "partner": "midwatch.partner",
        "platform": "midwatch.platform", "environment": "labels.environment",
    },
    TRACES_UID: {"flow": "flow", "partner": "partner", "platform": "platforms"},
    ALERTS_UID: {
        "flow": "labels.flow", "partner": "labels.partner",
        "platform": "labels.platform", "environment": "labels.environment",
    },
    # A dead letter is a record midwatch could not read: it has no flow, partner or platform.
    DEADLETTERS_UID: {},
}
VARIABLE_LABELS = {
    "flow": "Flow", "partner": "Partner", "platform": "Platform", "environment": "Environment",
}


def ds_ref(uid: str) -> dm.DataSourceRef:
    return dm.DataSourceRef(type_val="elasticsearch", uid=uid)


# --- variables ---------------------------------------------------------------------------

def filter_variable(name: str) -> dash.QueryVariable:
    """A multi-value variable listing the values seen in the events index (terms, A-Z)."""
    query = json.dumps({"find": "terms", "field": VARIABLE_FIELDS[EVENTS_UID][name]})
    return (
        dash.QueryVariable(name)
        .label(VARIABLE_LABELS[name])
        .datasource(ds_ref(EVENTS_UID))
        .query(query)
        .multi(True)
        .include_all(True)
        .all_value(ALL_VALUE)
        .current(ALL_OPTION)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )


def custom_variable(name: str, label: str, values: Sequence[str]) -> dash.CustomVariable:
    return (
        dash.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .multi(True)
        .include_all(True)
        .all_value(ALL_VALUE)
        .current(ALL_OPTION)
    )


def textbox_variable(name: str, label: str, default: str) -> dash.TextBoxVariable:
    return (
        dash.TextBoxVariable(name)
        .label(label)
        .default_value(default)
        .current(dm.VariableOption(text=default, value=default, selected=True))
    )


# --- queries -----------------------------------------------------------------------------

def scoped(uid: str, variables: Iterable[str], query: str = "") -> str:
    """``query`` narrowed by the board's variables, each clause parenthesised (see module doc)."""
    fields = VARIABLE_FIELDS[uid]
    clauses = [f"({fields[name]}:${name})" for name in variables]
    if query:
        clauses.append(f"({query})")
    return " AND ".join(clauses)


def terms(field_name: str, *, size: int = 10, order_by: str = "_count", order: str = "desc",
          min_doc_count: int | None = None, agg_id: str = "2") -> es.Terms:
    settings = es.ElasticsearchTermsSettings().size(str(size)).order_by(order_by)
    settings = settings.order(TermsOrder.DESC if order == "desc" else TermsOrder.ASC)
    if min_doc_count is not None:
        settings = settings.min_doc_count(str(min_doc_count))
    return es.Terms().id(agg_id).field(field_name).settings(settings)


def histogram(interval: str = "auto", *, agg_id: str = "3") -> es.DateHistogram:
    """Over the datasource's time field; empty buckets kept so gaps read as zero, not as lines."""
    return es.DateHistogram().id(agg_id).settings(
        es.ElasticsearchDateHistogramSettings().interval(interval).min_doc_count("0")
    )


def count() -> es.Count:
    return es.Count().id("1")


def percentile(field_name: str, q: int = 95) -> es.Percentiles:
    return es.Percentiles().id("1").field(field_name).settings(
        es.ElasticsearchPercentilesSettings().percents([str(q)])
    )


def raw_data(size: int = 100) -> es.RawData:
    return es.RawData().id("1").settings(es.ElasticsearchRawDataSettings().size(str(size)))


def log_lines(limit: int = 100) -> es.Logs:
    return es.Logs().id("1").settings(es.ElasticsearchLogsSettings().limit(str(limit)))


def es_target(uid: str, ref: str, query: str, *, buckets: Sequence[cogbuilder.Builder] = (),
              metrics: Sequence[cogbuilder.Builder] = (), hide: bool = False) -> es.Dataquery:
    target = (
        es.Dataquery().ref_id(ref).datasource(ds_ref(uid)).query(query)
        .bucket_aggs(list(buckets)).metrics(list(metrics))
    )
    return target.hide(True) if hide else target


def math(ref: str, expression: str, *, hide: bool = False) -> expr.TypeMath:
    built = expr.TypeMath().ref_id(ref).datasource(EXPR).expression(expression)
    return built.hide(True) if hide else built


def reduce(ref: str, source: str, reducer: str = "sum", *, hide: bool = False) -> expr.TypeReduce:
    built = expr.TypeReduce().ref_id(ref).datasource(EXPR).expression(source).reducer(reducer)
    return built.hide(True) if hide else built


def ratio_targets(uid: str, variables: Iterable[str], base: str, part: str, group_by: str,
                  *, over_range: bool, size: int = 10, of: str = "{}") -> list[cogbuilder.Builder]:
    """``part`` / ``base`` per ``group_by`` value, as a series (or one number over the range);
    ``of`` puts the ratio into more arithmetic (``(1 - {}) / 0.005``: an SLO burn rate).

    The part's terms keep zero-count groups (``min_doc_count: 0``), so a group with no matching
    documents gets 0 instead of vanishing from the division.
    """
    variables = tuple(variables)
    whole = es_target(uid, "A", scoped(uid, variables, base), hide=True,
                      buckets=[terms(group_by, size=size), histogram()], metrics=[count()])
    part_query = f"({base}) AND ({part})" if base else part
    share = es_target(uid, "B", scoped(uid, variables, part_query), hide=True,
                      buckets=[terms(group_by, size=size * 10, min_doc_count=0), histogram()],
                      metrics=[count()])
    if not over_range:
        return [whole, share, math("C", of.format("$B / $A"))]
    return [whole, share, reduce("C", "A", hide=True), reduce("D", "B", hide=True),
            math("E", of.format("$D / $C"))]


# --- panels ------------------------------------------------------------------------------

def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return dash.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=v, color=c) for v, c in steps]
    )


def rising(warn: float, crit: float) -> dash.ThresholdsConfig:
    """Green below ``warn``, orange from it, red from ``crit``."""
    return thresholds((None, "green"), (warn, "orange"), (crit, "red"))


def falling(warn: float, crit: float) -> dash.ThresholdsConfig:
    """Red below ``crit``, orange below ``warn``, green above."""
    return thresholds((None, "red"), (crit, "orange"), (warn, "green"))


def data_link(title: str, url: str) -> dash.DashboardLink:
    return dash.DashboardLink(title).url(url)


def board_url(uid: str, params: str = "") -> str:
    """A link to another midwatch board keeping the time range (and ``params``)."""
    query = f"{params}&${{__url_time_range}}" if params else "${__url_time_range}"
    return f"/d/{uid}?{query}"


@dataclass
class PanelSpec:
    """What every panel states: what it shows (description), in what unit, sized how."""

    title: str
    description: str
    targets: list[cogbuilder.Builder]
    unit: str | None = None
    width: int = 12
    height: int = 8
    thresholds: dash.ThresholdsConfig | None = None
    links: list[dash.DashboardLink] = field(default_factory=list)
    transformations: list[dm.DataTransformerConfig] = field(default_factory=list)
    decimals: int | None = None
    # Smallest "auto" date_histogram bucket: ratios and percentiles of 10 s buckets holding
    # one event each are noise, not a trend.
    min_interval: str | None = None
    # Units of individual table columns (by displayed name).
    column_units: dict[str, str] = field(default_factory=dict)
    # Fixed colours of series by name (states, levels), so red always means trouble.
    series_colors: dict[str, str] = field(default_factory=dict)


def _datasource(spec: PanelSpec) -> dm.DataSourceRef:
    uids = {t.build().datasource.uid for t in spec.targets}
    if len(uids) == 1 and EXPR.uid not in uids:
        return ds_ref(uids.pop())
    return MIXED


def _apply(builder, spec: PanelSpec):
    b = (
        builder.title(spec.title).description(spec.description).datasource(_datasource(spec))
        .span(spec.width).height(spec.height).targets(spec.targets)
    )
    if spec.unit:
        b = b.unit(spec.unit)
    if spec.decimals is not None:
        b = b.decimals(spec.decimals)
    if spec.thresholds is not None:
        b = b.thresholds(spec.thresholds)
    if spec.links:
        b = b.data_links(spec.links)
    if spec.transformations:
        b = b.transformations(spec.transformations)
    if spec.min_interval:
        b = b.interval(spec.min_interval)
    for column, unit in spec.column_units.items():
        b = b.override_by_name(column, [dm.DynamicConfigValue(id_val="unit", value=unit)])
    for name, color in spec.series_colors.items():
        b = b.override_by_name(name, [dm.DynamicConfigValue(
            id_val="color", value={"mode": "fixed", "fixedColor": color})])
    return b


def timeseries_panel(spec: PanelSpec, *, stacked: bool = False,
                     threshold_lines: bool = False) -> timeseries.Panel:
    b = _apply(timeseries.Panel(), spec).fill_opacity(10).line_width(1).span_nulls(False)
    if stacked:
        b = b.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)).fill_opacity(40)
    if threshold_lines:
        b = b.thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE))
    return b.min(0)


def reduce_options(calc: str, *, all_values: bool = False) -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs([calc]).values(all_values)


def stat_panel(spec: PanelSpec, calc: str = "sum") -> stat.Panel:
    return (
        _apply(stat.Panel(), spec)
        .reduce_options(reduce_options(calc))
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.AREA)
    )


def bar_panel(spec: PanelSpec, *, all_values: bool = False, calc: str = "sum") -> bargauge.Panel:
    return (
        _apply(bargauge.Panel(), spec)
        .reduce_options(reduce_options(calc, all_values=all_values))
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .min(0)
    )


def table_panel(spec: PanelSpec) -> table.Panel:
    return _apply(table.Panel(), spec).filterable(True)


def logs_panel(spec: PanelSpec) -> logs.Panel:
    return (
        _apply(logs.Panel(), spec)
        .show_time(True).wrap_log_message(True).enable_log_details(True)
        .sort_order(cm.LogsSortOrder.DESCENDING)
    )


def keep_columns(names: Sequence[str], renames: dict[str, str]) -> list[dm.DataTransformerConfig]:
    """Only ``names`` in that order, renamed for people: raw documents carry every field."""
    return [
        dm.DataTransformerConfig(id_val="filterFieldsByName",
                                 options={"include": {"names": list(names)}}),
        dm.DataTransformerConfig(id_val="organize", options={
            "indexByName": {name: i for i, name in enumerate(names)},
            "renameByName": dict(renames),
        }),
    ]


def latest_per(key: str, names: Sequence[str]) -> list[dm.DataTransformerConfig]:
    """One row per ``key`` value holding the values of its first row, named ``<name> (first)``
    (Grafana's groupBy): on documents sorted newest first, each key's latest values."""
    fields = {key: {"operation": "groupby", "aggregations": []}}
    fields.update({name: {"operation": "aggregate", "aggregations": ["first"]} for name in names})
    return [dm.DataTransformerConfig(id_val="groupBy", options={"fields": fields})]


def rows_where(column: str, value: str) -> dm.DataTransformerConfig:
    """Only the rows whose ``column`` equals ``value`` (Grafana's "Filter data by values")."""
    return dm.DataTransformerConfig(id_val="filterByValue", options={
        "filters": [{"fieldName": column, "config": {"id": "equal", "options": {"value": value}}}],
        "type": "include", "match": "any",
    })


# Series colours of the states and levels the boards break counts down by.
LEVEL_COLORS = {"warn": "orange", "error": "red", "fatal": "dark-red"}
TRACE_STATUS_COLORS = {"in_flight": "blue", "completed": "green", "acknowledged": "dark-green",
                       "failed": "red", "rejected": "dark-red", "stuck": "orange"}


# --- the board ---------------------------------------------------------------------------

BOARD_TITLES = {
    "midwatch-overview": "Integration overview",
    "midwatch-traces": "Message traces",
    "midwatch-partners": "Partners and EDI",
    "midwatch-platforms": "Platforms",
    "midwatch-alerts": "Alerts",
    "midwatch-queues": "Queues and certificates",
    "midwatch-slos": "Service levels",
}


@dataclass
class PanelRow:
    """A titled Grafana row and the panels under it (not ``config_values.Section``)."""

    title: str
    panels: list[cogbuilder.Builder]


def board(uid: str, description: str, tags: Sequence[str],
          variables: Sequence[cogbuilder.Builder], sections: Sequence[PanelRow],
          *, time_from: str = "now-6h") -> dash.Dashboard:
    """A board in the midwatch folder's conventions: UTC, linked to its siblings by tag."""
    b = (
        dash.Dashboard(BOARD_TITLES[uid]).uid(uid).description(description)
        .tags([TAG, *tags]).timezone("utc").time(time_from, "now").refresh("1m")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR).editable()
        .link(dash.DashboardLink("midwatch boards").type(dm.DashboardLinkType.DASHBOARDS)
              .tags([TAG]).as_dropdown(True).include_vars(True).keep_time(True))
    )
    for variable in variables:
        b = b.with_variable(variable)
    panel_id = 1
    for section in sections:
        b = b.with_row(dash.Row(section.title).id(panel_id))
        panel_id += 1
        for panel in section.panels:
            b = b.with_panel(panel.id(panel_id))
            panel_id += 1
    return b
