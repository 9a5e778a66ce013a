"""Replays a board's panels against Elasticsearch exactly as Grafana's ES datasource would.

No Grafana server runs here, so ``midwatch dashboards verify`` and ``preview`` (and the tests)
rebuild the ``_msearch`` request Grafana's backend sends for each query
(``pkg/tsdb/elasticsearch``: ``data_query.go``, ``client/search_request.go``,
``client/index_pattern.go``) and run it on the real cluster:

- header ``{search_type: query_then_fetch, ignore_unavailable: true, index}``, where a daily
  index pattern ``[prefix-]YYYY.MM.DD`` expands to one index per UTC day of the range;
- body ``size: 0``, ``query.bool.filter`` = the time range on the datasource's time field
  (``epoch_millis``) plus ``query_string {query, analyze_wildcard: true}`` when non-empty;
- bucket aggregations nested in list order keyed by their ``id``, metrics under the innermost
  (``count`` adds none, it reads ``doc_count``); ``date_histogram`` ``auto`` becomes the panel
  interval in ms; raw data and logs ask for documents sorted by time then ``_doc``.

Template variables are interpolated first, with Grafana's Lucene formatting: a custom "All"
value is inserted as is, a value list becomes ``("a" OR "b")``, a single value is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ApiError

from collector.yamlconf import parse_duration_ms
from dashboards import expressions
from dashboards.datasources import MIN_INTERVAL, SEARCH_TYPES, EsDatasource
from dashboards.frames import (
    ES_METRIC_TYPES,
    Frame,
    aggregation_frames,
    document_frame,
    transform,
)

ALL = "$__all"
MIN_INTERVAL_MS = parse_duration_ms(MIN_INTERVAL)
MAX_DATA_POINTS = 1000
DEFAULT_SIZE = 500
# Grafana's rangeutil roundInterval: (below this many ms, use this interval).
_ROUND_STEPS = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (27_000_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::([^}]+))?\}")
_LUCENE_SPECIAL = re.compile(r'([!*+\-=<>\s&|()\[\]{}^~?:\\/"])')
_HIGHLIGHT = {
    "fields": {"*": {}}, "pre_tags": ["@HIGHLIGHT@"], "post_tags": ["@/HIGHLIGHT@"],
    "fragment_size": 2147483647,
}


class ReplayError(Exception):
    """A panel that cannot be replayed as written (the message names panel and query)."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    value: str | tuple[str, ...]  # ALL, one value (textbox) or the chosen values
    all_value: str | None = None


@dataclass
class PanelResult:
    board: str
    title: str
    panel: dict
    frames: list[Frame] = field(default_factory=list)
    error: str | None = None
    requests: list[tuple[dict, dict]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """ERROR when a query failed; OK when a series has a non-zero point or a table a row
        with a value; else EMPTY (zero-filled histograms of an empty range are EMPTY)."""
        if self.error:
            return "ERROR"
        for frame in self.frames:
            if frame.is_series:
                if any(v != 0 for v in frame.numbers()):
                    return "OK"
            elif frame.rows and (frame.numbers() or any(
                    isinstance(v, str) for f in frame.fields for v in f.values)):
                return "OK"
        return "EMPTY"


# --- variables ---------------------------------------------------------------------------

def board_variables(board: dict, chosen: Mapping[str, Sequence[str] | str] | None = None
                    ) -> dict[str, Variable]:
    """The board's variables at their defaults (All / the textbox default) or as ``chosen``."""
    chosen = chosen or {}
    out = {}
    for var in board.get("templating", {}).get("list", []):
        name = var["name"]
        if name in chosen:
            picked = chosen[name]
            value: str | tuple[str, ...] = picked if isinstance(picked, str) else tuple(picked)
        else:
            current = (var.get("current") or {}).get("value", var.get("query", ""))
            value = ALL if current in (ALL, [ALL]) else current
        if var.get("multi") and isinstance(value, str) and value != ALL:
            value = (value,)
        out[name] = Variable(name, value, var.get("allValue"))
    unknown = set(chosen) - set(out)
    if unknown:
        raise ReplayError(f"board {board.get('uid')!r} has no variable "
                          f"{', '.join(sorted(unknown))}; it has {', '.join(sorted(out))}")
    return out


def lucene_escape(value: str) -> str:
    """Grafana's luceneEscape: numbers stay as they are, specials get a backslash."""
    try:
        float(value)
        return value
    except ValueError:
        return _LUCENE_SPECIAL.sub(r"\\\1", value)


def _format(var: Variable, fmt: str) -> str:
    if var.value == ALL:
        if var.all_value is None:
            raise ReplayError(f"variable ${var.name} is All without a custom all value; "
                              "replaying it would need its option list")
        return var.all_value
    if fmt == "raw":
        return var.value if isinstance(var.value, str) else ",".join(var.value)
    if fmt != "lucene":
        raise ReplayError(f"variable format {fmt!r} (${{{var.name}:{fmt}}}) is not replayed")
    if isinstance(var.value, str):
        return lucene_escape(var.value)
    if not var.value:
        return "__empty__"
    return "(" + " OR ".join(f'"{lucene_escape(v)}"' for v in var.value) + ")"


def interpolate(text: str, variables: Mapping[str, Variable]) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        var = variables.get(name)
        return _format(var, m.group(3) or "lucene") if var else m.group(0)

    return _VARIABLE.sub(sub, text)


# --- requests ----------------------------------------------------------------------------

def interval_ms(time_range: TimeRange, min_interval_ms: int = MIN_INTERVAL_MS,
                max_data_points: int = MAX_DATA_POINTS) -> int:
    """Grafana's auto interval: range / data points, at least the (panel's) minimum, rounded."""
    raw = max((time_range.end_ms - time_range.start_ms) / max_data_points, min_interval_ms)
    for below, rounded in _ROUND_STEPS:
        if raw < below:
            return rounded
    return 31_536_000_000


_MOMENT = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH": "%H"}
_STEPS = {"Hourly": timedelta(hours=1), "Daily": timedelta(days=1)}


def indices(ds: EsDatasource, time_range: TimeRange) -> str:
    """The index list Grafana searches: the pattern expanded per interval over the range."""
    if not ds.interval:
        return ds.index
    if ds.interval not in _STEPS:
        raise ReplayError(f"index interval {ds.interval!r} of datasource {ds.uid} is not replayed")
    literal, sep, pattern = ds.index.partition("]")
    if not sep or not literal.startswith("["):
        raise ReplayError(f"index pattern {ds.index!r} of datasource {ds.uid}: expected "
                          "[literal-]YYYY.MM.DD")
    fmt = pattern
    for token, code in _MOMENT.items():
        fmt = fmt.replace(token, code)
    step = _STEPS[ds.interval]
    start = datetime.fromtimestamp(time_range.start_ms / 1000, UTC)
    start = start.replace(minute=0, second=0, microsecond=0)
    if ds.interval == "Daily":
        start = start.replace(hour=0)
    end = datetime.fromtimestamp(time_range.end_ms / 1000, UTC)
    names = []
    while start <= end:
        names.append(literal[1:] + start.strftime(fmt))
        start += step
    return ",".join(names)


def _int_setting(settings: dict, key: str, default: int) -> int:
    try:
        value = int(settings.get(key, default))
    except (TypeError, ValueError):
        return default
    return value or default


def _bucket_agg(agg: dict, ds: EsDatasource, time_range: TimeRange, interval: int) -> dict:
    settings = agg.get("settings") or {}
    kind = agg["type"]
    if kind == "date_histogram":
        fixed = settings.get("interval", "auto")
        body = {
            "field": agg.get("field") or ds.time_field,
            "fixed_interval": f"{interval}ms" if fixed == "auto" else fixed,
            "min_doc_count": int(settings.get("min_doc_count") or 0),
            "extended_bounds": {"min": time_range.start_ms, "max": time_range.end_ms},
            "format": "epoch_millis",
        }
        return {"date_histogram": body}
    if kind == "terms":
        body = {"field": agg["field"], "size": _int_setting(settings, "size", DEFAULT_SIZE)}
        if "min_doc_count" in settings:
            body["min_doc_count"] = int(settings["min_doc_count"])
        order_by = settings.get("orderBy")
        if order_by:
            key = "_key" if order_by == "_term" else order_by
            if key.isdigit():
                raise ReplayError("terms ordered by a metric are not replayed")
            body["order"] = {key: settings.get("order", "desc")}
        return {"terms": body}
    raise ReplayError(f"bucket aggregation {kind!r} is not replayed")


def _metric_agg(metric: dict) -> dict | None:
    kind = metric["type"]
    if kind == "count":
        return None
    es_kind = ES_METRIC_TYPES.get(kind, kind)
    if es_kind not in ("avg", "sum", "min", "max", "cardinality", "percentiles"):
        raise ReplayError(f"metric {kind!r} is not replayed")
    body: dict = {"field": metric["field"]}
    settings = metric.get("settings") or {}
    if es_kind == "percentiles":
        body["percents"] = settings.get("percents", ["25", "50", "75", "95", "99"])
    return {es_kind: body}


def _sort(ds: EsDatasource, order: str) -> dict:
    """Grafana builds the sort as a Go map, so its keys reach Elasticsearch sorted A-Z."""
    entries = {ds.time_field: {"order": order, "unmapped_type": "boolean"}, "_doc": {"order": order}}
    return {k: entries[k] for k in sorted(entries)}


def search_request(target: dict, ds: EsDatasource, time_range: TimeRange,
                   variables: Mapping[str, Variable], min_interval: str | None = None
                   ) -> tuple[dict, dict]:
    """(``_msearch`` header, body) for one Elasticsearch target; ``min_interval`` is the
    panel's (Grafana's "Min interval" query option)."""
    query = interpolate(target.get("query") or "", variables)
    filters: list[dict] = [{"range": {ds.time_field: {
        "gte": time_range.start_ms, "lte": time_range.end_ms, "format": "epoch_millis"}}}]
    if query.strip():
        filters.append({"query_string": {"query": query, "analyze_wildcard": True}})
    # Grafana's query builder writes a lone filter as an object, several as a list.
    body: dict[str, Any] = {
        "size": 0, "query": {"bool": {"filter": filters[0] if len(filters) == 1 else filters}},
    }
    metrics = target.get("metrics") or []
    buckets = target.get("bucketAggs") or []
    interval = interval_ms(time_range, parse_duration_ms(min_interval or MIN_INTERVAL))
    first = metrics[0]["type"] if metrics else None
    if first in ("raw_data", "logs"):
        settings = metrics[0].get("settings") or {}
        body["size"] = _int_setting(settings, "limit" if first == "logs" else "size", DEFAULT_SIZE)
        body["sort"] = _sort(ds, "desc")
        body["docvalue_fields"] = [ds.time_field]
        body["script_fields"] = {}
        body["fields"] = [{"field": ds.time_field, "format": "strict_date_optional_time_nanos"}]
        if first == "logs":
            body["highlight"] = _HIGHLIGHT
            buckets = [{"id": "1", "type": "date_histogram", "settings": {"interval": "auto"}}]
        else:
            buckets = []
    elif not buckets:
        raise ReplayError(f"query {target.get('refId')}: a metric query needs a bucket aggregation")
    aggs = body
    for agg in buckets:
        level = _bucket_agg(agg, ds, time_range, interval)
        aggs.setdefault("aggs", {})[agg["id"]] = level
        aggs = level
    if first not in ("raw_data", "logs"):
        for metric in metrics:
            built = _metric_agg(metric)
            if built is not None:
                aggs.setdefault("aggs", {})[metric["id"]] = built
    header = {"search_type": "query_then_fetch", "ignore_unavailable": True,
              "index": indices(ds, time_range)}
    return header, body


def _frames(target: dict, ds: EsDatasource, response: dict) -> list[Frame]:
    kind = (target.get("metrics") or [{}])[0].get("type")
    hits = response.get("hits", {}).get("hits", [])
    if kind == "raw_data":
        return [document_frame(hits, ds.time_field)]
    if kind == "logs":
        return [document_frame(hits, ds.time_field, log_message_field="message")]
    return aggregation_frames(response.get("aggregations") or {}, target)


def _es_error(response: dict) -> str:
    error = response.get("error") or {}
    if isinstance(error, str):
        return error
    causes = error.get("root_cause") or []
    reason = (causes[0].get("reason") if causes else None) or error.get("reason")
    caused = (error.get("caused_by") or {}).get("reason")
    return reason or caused or "unknown Elasticsearch error"


# --- panels ------------------------------------------------------------------------------

def panels(board: dict) -> list[dict]:
    """Data panels in layout order (rows are headings, not panels)."""
    out = []
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def replay_panel(client: Any, slug: str, panel: dict, sources: Mapping[str, EsDatasource],
                 time_range: TimeRange, variables: Mapping[str, Variable]) -> PanelResult:
    result = PanelResult(slug, panel.get("title", ""), panel)
    targets = panel.get("targets", [])
    es_targets = [t for t in targets if (t.get("datasource") or {}).get("type") in SEARCH_TYPES]
    outputs: dict[str, list[Frame]] = {}
    try:
        searches: list[dict] = []
        for target in es_targets:
            uid = target["datasource"]["uid"]
            if uid not in sources:
                raise ReplayError(f"query {target['refId']} uses datasource {uid!r}, which "
                                  "midwatch does not provision")
            header, body = search_request(target, sources[uid], time_range, variables,
                                          panel.get("interval"))
            result.requests.append((header, body))
            searches.extend((header, body))
        responses = []
        if searches:
            answer = client.msearch(searches=searches, max_concurrent_shard_requests=5)
            responses = answer["responses"]
        errors = []
        for target, response in zip(es_targets, responses, strict=True):
            if "error" in response:
                errors.append(f"query {target['refId']}: {_es_error(response)}")
                continue
            ds = sources[target["datasource"]["uid"]]
            outputs[target["refId"]] = _frames(target, ds, response)
        if errors:
            result.error = "; ".join(errors)
            return result
        _expressions(targets, outputs)
        visible = [f for t in targets if not t.get("hide") for f in outputs.get(t["refId"], [])]
        result.frames = transform(visible, panel.get("transformations") or [])
    except ApiError as exc:
        result.error = f"Elasticsearch answered HTTP {exc.meta.status}: {exc.message}"
    except (ReplayError, ValueError) as exc:
        result.error = str(exc)
    return result


def _expressions(targets: list[dict], outputs: dict[str, list[Frame]]) -> None:
    items: dict[str, list[expressions.Item]] = {}

    def of(ref: str) -> list[expressions.Item]:
        if ref not in items:
            if ref not in outputs:
                raise ReplayError(f"expression input ${ref} is not a query of the panel")
            items[ref] = expressions.items_from_frames(outputs[ref])
        return items[ref]

    for target in targets:
        if (target.get("datasource") or {}).get("type") != "__expr__":
            continue
        kind, ref = target.get("type"), target["refId"]
        if kind == "math":
            text = target["expression"]
            inputs = {name: of(name) for name in expressions.refs(text)}
            items[ref] = expressions.evaluate_math(text, inputs)
        elif kind == "reduce":
            source = target["expression"].lstrip("$").strip("{}")
            items[ref] = expressions.reduce(of(source), target.get("reducer", "mean"))
        else:
            raise ReplayError(f"expression type {kind!r} is not replayed")
        outputs[ref] = expressions.frames_from_items(items[ref])


def replay_board(client: Any, slug: str, board: dict, sources: Mapping[str, EsDatasource],
                 time_range: TimeRange,
                 chosen: Mapping[str, Sequence[str] | str] | None = None) -> list[PanelResult]:
    variables = board_variables(board, chosen)
    return [replay_panel(client, slug, p, sources, time_range, variables) for p in panels(board)]
