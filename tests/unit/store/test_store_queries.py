"""The pure parts of the stores: field registry, query validation, ES and SQL translation."""

from __future__ import annotations

import pytest

from collector.event import EVENT_FIELDS
from collector.store import es_mappings, fields, metric_shape
from collector.store.base import Agg, Filter, MetricQuery
from collector.store.documents import bare_id, trace_doc
from collector.store.es_query import bool_query, filter_clause, metric_body
from collector.store.sqlite_query import json_path
from collector.trace import TRACE_FIELDS, Trace

T0 = 1_709_546_400_000


def test_registry_follows_the_event_and_trace_schemas():
    assert set(fields.EVENTS) == EVENT_FIELDS
    assert set(fields.TRACES) - {"id_values"} == TRACE_FIELDS


@pytest.mark.parametrize(("q", "expected"), [(95, 9.55), (50, 5.5), (10, 1.9), (0, 1.0), (100, 10.0)])
def test_percentile_interpolates_like_elasticsearch(q, expected):
    # measured on the real ES 9.5 for the values 1..10
    assert metric_shape.percentile(list(range(1, 11)), q) == pytest.approx(expected)


def test_percentile_of_one_and_of_none():
    assert metric_shape.percentile([7], 99) == 7.0
    assert metric_shape.percentile([], 50) is None


def test_buckets_align_to_the_epoch():
    assert metric_shape.bucket_starts(T0 + 7, T0 + 31, 10) == [T0, T0 + 10, T0 + 20, T0 + 30]


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (MetricQuery("events", T0, T0 + 1, group_by=("midwatch.flw",)),
         "unknown field 'midwatch.flw' for index 'events'; did you mean 'midwatch.flow'?"),
        (MetricQuery("events", T0, T0 + 1, group_by=("midwatch.ids",)),
         "cannot group by 'midwatch.ids' (array field)"),
        (MetricQuery("events", T0, T0 + 1, Agg("percentile", "event.duration")),
         "percentile needs q between 0 and 100"),
        (MetricQuery("events", T0, T0 + 1, Agg("avg", "midwatch.flow")),
         "aggregation 'avg' needs a numeric field; 'midwatch.flow' is keyword"),
        (MetricQuery("events", T0, T0 + 1, Agg("ratio")), "ratio needs 'where' filters"),
        (MetricQuery("events", T0, T0 + 86_400_000, bucket_ms=1),
         "1 ms buckets over 86400000 ms make more than 10000 buckets"),
        (MetricQuery("events", T0, T0), "empty time window"),
        (MetricQuery("events", T0, T0 + 1, filters=(Filter("@timestamp", "range", ("2024-03-04", None)),)),
         "range on date field '@timestamp' takes epoch milliseconds"),
        (MetricQuery("events", T0, T0 + 1, filters=(Filter("midwatch.flow", "in", "o2c"),)),
         "filter 'in' on 'midwatch.flow' needs a list of values"),
        (MetricQuery("traces", T0, T0 + 1),
         "time_field '@timestamp' is not a date of index 'traces'; use one of "
         "['ended_at', 'last_seen', 'started_at']"),
        # kept in _source only: refused with why, not a query matching nothing
        (MetricQuery("events", T0, T0 + 1, filters=(Filter("span.id", "eq", "ab12"),)),
         "field 'span.id' of index 'events' is kept in each document but not indexed"),
        (MetricQuery("events", T0, T0 + 1, group_by=("event.id",)),
         "field 'event.id' of index 'events' is kept in each document but not indexed"),
        (MetricQuery("events", T0, T0 + 1, Agg("sum", "midwatch.payload_bytes")),
         "cannot be filtered, grouped or measured; searchable fields: @timestamp, error.code, error.message"),
        (MetricQuery("events", T0, T0 + 1, time_field="event.created"),
         "time_field 'event.created' is not a date of index 'events'; use one of ['@timestamp']"),
        (MetricQuery("traces", T0, T0 + 1, time_field="last_seen", group_by=("last_error.class",)),
         "field 'last_error.class' of index 'traces' is kept in each document but not indexed"),
    ],
)
def test_invalid_queries_say_what_to_fix(q: MetricQuery, message: str):
    with pytest.raises(ValueError) as err:
        metric_shape.validate(q)
    assert message in str(err.value)


def test_unread_fields_are_typed_but_not_indexed():
    props = es_mappings.templates("mw")["mw-events"]["template"]["mappings"]["properties"]
    assert props["span"]["properties"]["id"] == {"type": "keyword", "index": False,
                                                 "doc_values": False}
    assert props["error"]["properties"]["stack_trace"] == {"type": "text", "index": False,
                                                           "norms": False}
    assert props["event"]["properties"]["id"] == {"type": "keyword", "index": False}
    assert props["message"]["norms"] is False and "index" not in props["message"]
    assert props["midwatch"]["properties"]["flow"] == {"type": "keyword"}


def test_an_older_index_is_not_asked_to_unindex_a_field():
    """Neither engine lets a mapping update turn ``index`` off: what an older template
    indexed stays so in its indices; the rest of the mapping still reaches them."""
    mappings = es_mappings.templates("mw")["mw-events"]["template"]["mappings"]
    lean = es_mappings.for_existing_indices(mappings)
    assert lean["properties"]["span"]["properties"] == {}
    assert set(lean["properties"]["event"]["properties"]) == {"dataset", "action", "outcome",
                                                              "duration"}
    assert lean["properties"]["midwatch"]["properties"]["flow"] == {"type": "keyword"}
    assert lean["dynamic"] is False and lean["_meta"] == mappings["_meta"]


def test_labels_and_alert_fields_are_open():
    assert fields.spec("events", "labels.kafka.topic").type == "keyword"
    assert fields.spec("alerts", "rule").type == "keyword"
    assert json_path("events", "labels.kafka.topic") == '$."labels"."kafka.topic"'
    assert json_path("traces", "last_error.class") == '$."last_error"."class"'


def test_es_filters():
    assert filter_clause("events", Filter("message", "eq", "x")) == {"term": {"message.keyword": "x"}}
    assert filter_clause("events", Filter("message", "contains", "refused")) == {
        "match_phrase": {"message": "refused"}}
    assert filter_clause("events", Filter("service.name", "contains", "a*b?")) == {
        "wildcard": {"service.name": {"value": r"*a\*b\?*", "case_insensitive": True}}}
    assert filter_clause("events", Filter("@timestamp", "range", (1, None))) == {
        "range": {"@timestamp": {"gte": 1, "format": "epoch_millis"}}}
    assert bool_query("events", [Filter("error.message", "exists", negate=True)]) == {
        "bool": {"filter": [], "must_not": [{"exists": {"field": "error.message"}}]}}


def test_es_metric_body_nests_terms_histogram_and_metric():
    q = MetricQuery("events", T0, T0 + 3_600_000, Agg("percentile", "event.duration", q=99),
                    filters=(Filter("midwatch.flow", "eq", "o2c"),), group_by=("midwatch.partner",),
                    bucket_ms=900_000, max_groups=50)
    body = metric_body(q)
    assert body["size"] == 0
    assert body["query"]["bool"]["filter"] == [
        {"range": {"@timestamp": {"gte": T0, "lt": T0 + 3_600_000, "format": "epoch_millis"}}},
        {"term": {"midwatch.flow": "o2c"}},
    ]
    terms = body["aggs"]["g"]
    assert terms["terms"] == {"field": "midwatch.partner", "size": 50,
                              "order": [{"_count": "desc"}, {"_key": "asc"}]}
    hist = terms["aggs"]["b"]
    # empty buckets are filled in by order_rows, not sent
    assert hist["date_histogram"] == {
        "field": "@timestamp", "fixed_interval": "900000ms", "min_doc_count": 1}
    assert hist["aggs"] == {"m": {"percentiles": {"field": "event.duration", "percents": [99],
                                                  "keyed": False}}}


def test_index_names_and_daily_indices():
    names = es_mappings.index_names("mwtest-abc-")
    assert (names.events, names.traces, names.events_pattern) == (
        "mwtest-abc-events", "mwtest-abc-traces", "mwtest-abc-events-*")
    assert es_mappings.daily(names.events, T0) == "mwtest-abc-events-2024.03.04"
    assert es_mappings.daily(names.events, T0 - 36_000_001) == "mwtest-abc-events-2024.03.03"
    with pytest.raises(ValueError, match="use lowercase letters"):
        es_mappings.index_names("Midwatch")


def test_trace_documents_bare_ids_as_the_sqlite_store_does():
    """``trace_doc`` inlines ``bare_id`` for speed; both stores must find a bare value alike
    (Elasticsearch reads ``id_values``, SQLite's ``trace_ids.bare`` is ``bare_id``)."""
    ids = ["order:4711", "4711", "x12.isa:A>B:000001", ":lead", "trail:", "a:b:c", ""]
    doc = trace_doc(Trace(trace_key="order:4711", ids=ids, started_ms=1, last_seen_ms=1))
    assert doc["id_values"] == sorted({bare_id(i) for i in ids})
