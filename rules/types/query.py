"""Any index, any query: count (or measure) the documents an Elasticsearch query matches per
group in the window, outside a bound, as ``threshold`` does for midwatch's own events.

``index:`` is an index pattern of the cluster (``logs-nginx-*``), ``query:`` query DSL (a
mapping) or a Lucene query string, ``timestamp_field`` (default ``@timestamp``), ``group_by``
and ``measure.field`` are that index's own field names (``http.response.status_code``), not
midwatch's schema. Only Elasticsearch / OpenSearch stores run these: SQLite refuses them at
startup. Without a store the query is checked by shape here; with one, ``rules.sources``
asks the cluster (``_validate/query``, ``_field_caps``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from collector.config_values import Section
from collector.store.base import FieldNeeds, MetricQuery, MetricRow, RawSource
from collector.yamlconf import did_you_mean
from rules.schema import Rule, Sample
from rules.types import bounds, threshold

KEYS = ("above", "below", "index", "query", "timestamp_field", "measure")
CONTEXT = threshold.CONTEXT
UNIT = threshold.UNIT
# Not an index midwatch writes: group_by and fields are checked against the cluster instead.
RAW_INDEX = "raw"
DSL_QUERIES = (
    "bool", "boosting", "constant_score", "dis_max", "exists", "function_score", "fuzzy",
    "ids", "match", "match_all", "match_bool_prefix", "match_none", "match_phrase",
    "match_phrase_prefix", "multi_match", "nested", "prefix", "query_string", "range",
    "regexp", "script", "simple_query_string", "term", "terms", "terms_set", "wildcard",
)
_PATTERN_RE = re.compile(r'^[^\s\\/?"<>|#]+$')


@dataclass(frozen=True, slots=True)
class Spec:
    count: threshold.Spec  # bounds and measure, decided as threshold decides them
    source: RawSource
    timestamp_field: str


def parse(s: Section) -> Spec:
    if s.has("filter"):
        raise s.error("filter", "a query rule takes its condition in query:",
                      "e.g. query: 'http.response.status_code:>=500'")
    pattern = s.text("index", required=True)
    if not _PATTERN_RE.match(pattern) or pattern.startswith(("-", "_")):
        raise s.error("index", f"{pattern!r} is not an index pattern",
                      "e.g. logs-nginx-* (comma-separated patterns are fine)")
    measure = None
    if s.has("measure"):
        m = s.sub("measure", threshold.MEASURE_KEYS)
        measure = threshold.Measure(m.text("field", required=True),
                                    m.choice("agg", threshold.MEASURE_AGGS, "max"),
                                    m.text("unit", required=True))
    query = _query(s)
    return Spec(threshold.Spec(*bounds(s), RAW_INDEX, measure), RawSource(pattern, query),
                s.text("timestamp_field", "@timestamp"))


def _query(s: Section) -> str:
    """The query as canonical JSON, after the checks that need no cluster."""
    value = s.raw("query")
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise s.error("query", "is empty", "e.g. 'http.response.status_code:>=500'")
        if text.count("(") != text.count(")") or text.count('"') % 2:
            raise s.error("query", "unbalanced parentheses or quotes in the query string")
        return json.dumps(text)
    if not isinstance(value, dict):
        raise s.error("query", "is required: query DSL (a mapping) or a Lucene query string",
                      "e.g. {range: {http.response.status_code: {gte: 500}}}")
    if len(value) != 1 or not isinstance(next(iter(value.values())), dict):
        raise s.error("query", "query DSL is one query type holding a mapping",
                      "e.g. {bool: {filter: [...]}} or {term: {service.name: checkout}}")
    kind = next(iter(value))
    if kind not in DSL_QUERIES:
        raise s.error("query", f"unknown query type {kind!r}",
                      did_you_mean(str(kind), DSL_QUERIES) or f"expected one of {', '.join(DSL_QUERIES)}")
    try:
        return json.dumps(value, sort_keys=True)
    except TypeError as exc:
        raise s.error("query", f"cannot be sent as JSON: {exc}",
                      "quote dates and times: '2026-01-01T00:00:00Z'") from None


def index(spec: Spec) -> str:
    return RAW_INDEX


def _as_threshold(rule: Rule) -> Rule:
    return replace(rule, spec=rule.spec.count)


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    spec: Spec = rule.spec
    return [replace(q, source=spec.source, time_field=spec.timestamp_field)
            for q in threshold.queries(_as_threshold(rule), at_ms)]


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    return threshold.evaluate(_as_threshold(rule), at_ms, results)


def store_checks(rule: Rule) -> tuple[RawSource, FieldNeeds]:
    """The source and what each named field must be, for ``rules.sources``."""
    spec: Spec = rule.spec
    needs: dict[str, Any] = {spec.timestamp_field: "date"}
    needs.update((f, "aggregatable") for f in rule.group_by)
    if spec.count.measure is not None:
        needs[spec.count.measure.field] = "numeric"
    return spec.source, needs
