"""Elasticsearch responses turned into the data frames a Grafana panel receives.

Follows ``pkg/tsdb/elasticsearch/response_parser.go`` for the shapes the boards use: nested
bucket aggregations become label sets, a ``date_histogram`` at the bottom yields one time
series per metric and label set, a ``terms`` at the bottom yields one table (a column per
bucket field and metric), and raw-data/logs queries yield one table of flattened ``_source``
documents. The panel transformations the boards use (``filterFieldsByName``, ``organize``,
``groupBy`` with the "first" reducer, ``filterByValue`` with "equal") are applied here too, as
``@grafana/data``'s transformers do, so tests and previews see the rows a person would see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Grafana's display names of metric types (response_parser metricAggType).
METRIC_NAMES = {
    "count": "Count", "avg": "Average", "sum": "Sum", "max": "Max", "min": "Min",
    "cardinality": "Unique Count", "percentiles": "Percentiles", "extended_stats": "Extended Stats",
    "raw_data": "Raw Data", "raw_document": "Raw Document", "logs": "Logs",
}
# Grafana names the unique_count metric cardinality in the request.
ES_METRIC_TYPES = {"unique_count": "cardinality"}
TIME = "Time"
VALUE = "Value"


@dataclass
class Field:
    name: str
    values: list[Any]
    labels: dict[str, str] = field(default_factory=dict)
    display_name: str | None = None

    @property
    def shown_as(self) -> str:
        return self.display_name or self.name


@dataclass
class Frame:
    name: str
    fields: list[Field]

    @property
    def is_series(self) -> bool:
        return len(self.fields) == 2 and self.fields[0].name == TIME

    @property
    def rows(self) -> int:
        return len(self.fields[0].values) if self.fields else 0

    def numbers(self) -> list[float]:
        """Every finite number in the frame (not the time column)."""
        out = []
        for f in self.fields:
            if f.name == TIME:
                continue
            out.extend(v for v in f.values if _finite(v))
        return out

    def column(self, name: str) -> list[Any]:
        for f in self.fields:
            if name in (f.name, f.display_name):
                return f.values
        raise KeyError(f"no column {name!r} in frame {self.name!r}: "
                       f"{', '.join(f.shown_as for f in self.fields)}")


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def metric_name(metric: dict) -> str:
    return METRIC_NAMES.get(metric["type"], metric["type"])


# --- metric (aggregation) responses ------------------------------------------------------

def aggregation_frames(aggs: dict, target: dict) -> list[Frame]:
    buckets = target.get("bucketAggs") or []
    frames: list[Frame] = []
    _walk(aggs, buckets, target, {}, 0, frames)
    _name_series(frames, target)
    return frames


def _walk(aggs: dict, bucket_defs: list[dict], target: dict, props: dict[str, str], depth: int,
          frames: list[Frame]) -> None:
    by_id = {b["id"]: b for b in bucket_defs}
    for agg_id in sorted(k for k in aggs if k in by_id):
        agg_def, es_agg = by_id[agg_id], aggs[agg_id]
        if depth == len(bucket_defs) - 1:
            if agg_def["type"] == "date_histogram":
                frames.extend(_series(es_agg["buckets"], target, props))
            else:
                frames.append(_table(es_agg["buckets"], agg_def, target, props))
            continue
        buckets = es_agg["buckets"]
        items = buckets.items() if isinstance(buckets, dict) else ((None, b) for b in buckets)
        for filter_key, bucket in items:
            key = filter_key if filter_key is not None else bucket.get(
                "key_as_string", _key_text(bucket["key"]))
            label = "filter" if filter_key is not None else agg_def.get("field", "")
            _walk(bucket, bucket_defs, target, {**props, label: key}, depth + 1, frames)


def _key_text(key: Any) -> str:
    return str(int(key)) if isinstance(key, float) and key.is_integer() else str(key)


def _visible_metrics(target: dict) -> list[dict]:
    return [m for m in target.get("metrics", []) if not m.get("hide")]


def _series(buckets: list[dict], target: dict, props: dict[str, str]) -> list[Frame]:
    times = [int(b["key"]) for b in buckets]
    frames = []
    for metric in _visible_metrics(target):
        kind = metric["type"]
        if kind == "count":
            columns = {"count": [float(b["doc_count"]) for b in buckets]}
        elif kind == "percentiles":
            names = sorted(buckets[0][metric["id"]]["values"]) if buckets else []
            columns = {f"p{n}": [_num(b[metric["id"]]["values"].get(n)) for b in buckets]
                       for n in names}
        else:
            columns = {kind: [_num(b.get(metric["id"], {}).get("value")) for b in buckets]}
        for metric_label, values in columns.items():
            labels = {**props, "metric": metric_label}
            if kind != "count":
                labels["field"] = metric.get("field", "")
            frames.append(Frame("", [Field(TIME, list(times)), Field(VALUE, values, labels)]))
    return frames


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _table(buckets: list[dict], agg_def: dict, target: dict, props: dict[str, str]) -> Frame:
    columns: dict[str, list[Any]] = {name: [] for name in sorted(props)}
    columns[agg_def.get("field", "")] = []
    for bucket in buckets:
        for name in props:
            columns[name].append(props[name])
        columns[agg_def.get("field", "")].append(bucket["key"])
        for metric in target.get("metrics", []):
            kind = metric["type"]
            if kind == "count":
                columns.setdefault("Count", []).append(float(bucket["doc_count"]))
            elif kind == "percentiles":
                for n, v in sorted(bucket[metric["id"]]["values"].items()):
                    columns.setdefault(f"p{n} {metric['field']}", []).append(_num(v))
            else:
                name = metric_name(metric)
                if sum(m["type"] == kind for m in target["metrics"]) > 1:
                    name += f" {metric.get('field', '')}"
                columns.setdefault(name, []).append(_num(bucket.get(metric["id"], {}).get("value")))
    return Frame("", [Field(name, values) for name, values in columns.items()])


def _name_series(frames: list[Frame], target: dict) -> None:
    """Grafana's series names: the label values A-Z, plus the metric when several kinds."""
    kinds = {f.fields[1].labels.get("metric") for f in frames if f.is_series}
    for frame in frames:
        if not frame.is_series:
            continue
        labels = frame.fields[1].labels
        metric = labels.pop("metric", "")
        field_name = labels.pop("field", "")
        name = METRIC_NAMES.get(metric, metric) + (f" {field_name}" if field_name else "")
        if labels:
            values = " ".join(labels[k] for k in sorted(labels))
            name = values if len(kinds) == 1 else f"{values} {name}"
        frame.name = name


# --- document responses ------------------------------------------------------------------

def flatten(doc: dict, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Dotted keys for nested objects, as Grafana flattens ``_source`` (arrays stay whole)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and depth < 10:
            out.update(flatten(value, name, depth + 1))
        else:
            out[name] = value
    return out


def document_frame(hits: list[dict], time_field: str, *, log_message_field: str | None = None
                   ) -> Frame:
    """One row per hit; time field first, then (logs) the message, then the rest A-Z."""
    docs = []
    for hit in hits:
        doc = {"_id": hit.get("_id"), "_index": hit.get("_index"), "sort": hit.get("sort")}
        doc.update(flatten(hit.get("_source") or {}))
        docs.append(doc)
    names = sorted({k for d in docs for k in d} - {time_field, log_message_field})
    if log_message_field and any(log_message_field in d for d in docs):
        names.insert(0, log_message_field)
    if any(time_field in d for d in docs):
        names.insert(0, time_field)
    return Frame("", [Field(n, [d.get(n) for d in docs]) for n in names])


# --- transformations ---------------------------------------------------------------------

def transform(frames: list[Frame], transformations: list[dict]) -> list[Frame]:
    for t in transformations:
        if t.get("disabled"):
            continue
        kind, options = t["id"], t.get("options") or {}
        if kind == "filterFieldsByName":
            keep = set(options.get("include", {}).get("names", []))
            frames = [Frame(f.name, [x for x in f.fields if x.name in keep]) for f in frames]
        elif kind == "organize":
            frames = [_organize(f, options) for f in frames]
        elif kind == "groupBy":
            frames = [g for f in frames if (g := _group_by(f, options.get("fields") or {}))]
        elif kind == "filterByValue":
            frames = [_filter_by_value(f, options) for f in frames]
        else:
            raise ValueError(f"transformation {kind!r} is not replayed; add it to "
                             "dashboards.frames.transform")
    return frames


def _organize(frame: Frame, options: dict) -> Frame:
    order = options.get("indexByName", {})
    excluded = options.get("excludeByName", {})
    renames = options.get("renameByName", {})
    kept = [f for f in frame.fields if not excluded.get(f.name)]
    kept.sort(key=lambda f: order.get(f.name, len(order)))
    return Frame(frame.name, [
        Field(f.name, f.values, f.labels, renames.get(f.name) or f.display_name) for f in kept
    ])


# Grafana reducers the boards use in groupBy, by ReducerID.
REDUCERS = {"first": lambda values: values[0] if values else None}


def _group_by(frame: Frame, options: dict) -> Frame | None:
    """Grafana's groupBy: one row per distinct combination of the ``groupby`` fields, in order
    of first appearance, then per ``aggregate`` field (frame order) a column
    ``<name> (<reducer>)``. A frame without the group-by fields is dropped, as Grafana does."""
    keys = [f for f in frame.fields if options.get(f.name, {}).get("operation") == "groupby"]
    if not keys:
        return None
    groups: dict[tuple, list[int]] = {}
    for row in range(frame.rows):
        groups.setdefault(tuple(str(k.values[row]) for k in keys), []).append(row)
    out = [Field(k.name, [k.values[rows[0]] for rows in groups.values()]) for k in keys]
    for f in frame.fields:
        spec = options.get(f.name, {})
        if spec.get("operation") != "aggregate":
            continue
        for reducer in spec.get("aggregations") or []:
            if reducer not in REDUCERS:
                raise ValueError(f"groupBy reducer {reducer!r} is not replayed")
            out.append(Field(f"{f.name} ({reducer})", [
                REDUCERS[reducer]([f.values[r] for r in rows]) for rows in groups.values()]))
    return Frame(frame.name, out)


def _filter_by_value(frame: Frame, options: dict) -> Frame:
    """Grafana's filterByValue with ``equal`` matchers: keep (include) or drop (exclude) the
    rows where any/all filters match; a filter on a missing field never matches."""
    by_name = {f.display_name or f.name: f for f in frame.fields}
    tests = []
    for flt in options.get("filters") or []:
        config = flt.get("config") or {}
        if config.get("id") != "equal":
            raise ValueError(f"filterByValue matcher {config.get('id')!r} is not replayed")
        column = by_name.get(flt.get("fieldName"))
        wanted = (config.get("options") or {}).get("value")
        tests.append(lambda row, c=column, w=wanted: c is not None and c.values[row] == w)
    if not tests:
        return frame
    combine = all if options.get("match") == "all" else any
    include = options.get("type", "include") == "include"
    rows = [r for r in range(frame.rows) if combine(t(r) for t in tests) == include]
    return Frame(frame.name, [Field(f.name, [f.values[r] for r in rows], f.labels, f.display_name)
                              for f in frame.fields])
