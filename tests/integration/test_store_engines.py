"""What midwatch's templates make of each engine's indices (issue 28), on the real engines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import delete_prefix

from collector.event import MAX_ISO_MS, MIN_ISO_MS, Event, event_id, ms_to_iso, to_doc
from collector.store import es_mappings
from collector.store.base import Filter, MetricQuery
from collector.store.elasticsearch import ElasticsearchStore
from collector.trace import Trace

# Test id -> client fixture (conftest ENGINE_FIXTURES: Elasticsearch 9, 8, OpenSearch 2, 3).
ENGINES = {"elasticsearch": "es", "es8": "es8", "opensearch": "opensearch",
           "opensearch3": "opensearch3"}
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from store_mapping_bench import schema2_mapping  # noqa: E402  (what schema 2 indexed)

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z
DAY = 86_400_000


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_single_node_gets_green_indices_with_no_replica(engine, engine_store, request,
                                                          unique_name):
    """Every services.sh engine is one node: the default replica could never be placed, and
    the indices stayed yellow. auto_expand_replicas 0-1 gives them none there."""
    es = request.getfixturevalue(ENGINES[engine])
    with engine_store(engine, unique_name) as store:
        names = store.names
        indices = [names.traces, names.alerts, names.state]
        settings = es.indices.get_settings(index=",".join(indices), name="index.number_of_*")
        assert {i: s["settings"]["index"]["number_of_replicas"] for i, s in settings.items()} \
            == dict.fromkeys(indices, "0")
        health = es.cluster.health(index=",".join(indices), wait_for_status="green",
                                   timeout="20s")
        assert (health["status"], health["timed_out"]) == ("green", False)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_label_keys_group_and_filter_on_every_engine(engine, engine_store, unique_name):
    """Probe readings are grouped and filtered by label keys, some dotted (the report's probe
    tables, the probe rules, the boards). OpenSearch's flat_object answered a terms
    aggregation on ``labels.endpoint`` with no bucket or ``java.lang.Object@...`` buckets,
    and a term filter on a key with nothing."""
    t0 = 1_709_546_400_000
    events = [Event(t0 + i, "midwatch.probe", "probe", f"cert {i}", id=event_id(unique_name, str(i)),
                    labels={"probe.metric": "tls.certificate", "endpoint": f"gw{i % 2}:443",
                            "tls.serial": f"0{i % 3}", "port": 443 + i,
                            "tls.not_after": "2026-12-28T01:29:00+00:00"})
              for i in range(6)]
    with engine_store(engine, unique_name) as store:
        assert not store.write_events(events).rejected
        store.refresh()

        def groups(*group_by: str, filters=()) -> list:
            rows = store.metric(MetricQuery("events", t0, t0 + 100, filters=tuple(filters),
                                            group_by=group_by))
            return sorted((tuple(r.group.values()), r.count) for r in rows)

        assert groups("labels.endpoint") == [(("gw0:443",), 3), (("gw1:443",), 3)]
        assert groups("labels.endpoint", filters=[
            Filter("labels.probe.metric", "eq", "tls.certificate"),
            Filter("labels.tls.serial", "eq", "00")]) == [(("gw0:443",), 1), (("gw1:443",), 1)]
        assert len(groups("labels.tls.serial", "labels.endpoint")) == 6
        # a date-like value stays the text it was (OpenSearch would map it as a date)
        assert groups("labels.tls.not_after") == [(("2026-12-28T01:29:00+00:00",), 6)]


def _event(n: int, ts: int) -> Event:
    return Event(ts, "generic.json", "generic", f"order {n} failed", id=event_id("eng", str(n)),
                 ids=[f"order:{n}"], span_id=f"span-{n}", error_stack_trace="at a.B(C.java:1)",
                 payload_bytes=100 + n, created_ms=ts - 5, ingested_ms=ts + 5,
                 timestamp_estimated=True, error_message="timeout")


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_label_key_both_value_and_prefix_is_dead_lettered_with_the_fix(engine, engine_store,
                                                                        unique_name):
    """``a`` and ``a.b``: Elasticsearch's flattened labels keep both; OpenSearch maps each key
    as a field, value or object, so it refuses the event; the reason names the key and what
    to change, in one event and across events of one day."""
    clashes = [{"a": "x", "a.b": "y"}, {"k": "v"}, {"k.t": "1"}, {"q": {"r": "1"}}, {"q": "2"}]
    events = [Event(T0 + i, "generic.json", "generic", "m", id=event_id("lbl", str(i)),
                    labels=labels) for i, labels in enumerate(clashes)]
    with engine_store(engine, unique_name) as store:
        rejected = [why for batch in events for _, why in store.write_events([batch]).rejected]
        if "opensearch" not in engine:
            assert rejected == []
            return
        assert len(rejected) == 3
        for why, key in zip(rejected, ("a", "k", "q"), strict=True):
            assert f"label '{key}' is a value in one place and holds other labels" in why
            assert f"rename the value where the source sets it, e.g. to '{key}.value'" in why


@pytest.mark.parametrize("engine", list(ENGINES))
def test_unread_fields_come_back_but_are_not_indexed(engine, engine_store, request, unique_name):
    """Issue 25/28: what nothing searches stays in _source (the explorer and API show it) but
    costs the engine no index; the rest answers as before."""
    es = request.getfixturevalue(ENGINES[engine])
    with engine_store(engine, unique_name) as store:
        events = [_event(n, T0 + n) for n in range(3)]
        store.write_events(events)
        store.refresh()
        got = store.search_events([Filter("message", "contains", "order 1")], T0, T0 + 60_000)
        assert [to_doc(e) for e in got] == [to_doc(events[1])]
        trace = Trace("order:2", ids=["order:2"], flow="o2c", status="ok", started_ms=T0,
                      last_seen_ms=T0 + 2)
        assert [e.id for e in store.trace_events(trace)] == [events[2].id]
        asked = ["span.id", "error.stack_trace", "event.created", "event.id",
                 "midwatch.payload_bytes", "message", "midwatch.ids"]
        # fields as a URL parameter, as the store asks (OpenSearch refuses them in a body)
        caps = es.perform_request("GET", f"/{store.names.events}/_field_caps",
                                  params={"fields": ",".join(asked)},
                                  headers={"accept": "application/json"}).body["fields"]
        searchable = {name: next(iter(caps[name].values()))["searchable"] for name in asked}
        assert searchable == {"span.id": False, "error.stack_trace": False,
                              "event.created": False, "midwatch.payload_bytes": False,
                              "event.id": engine.startswith(("elasticsearch", "es8")),
                              "message": True, "midwatch.ids": True}
        timeouts = (Filter("error.message", "eq", "timeout"), Filter("message", "contains", "order"))
        (row,) = store.metric(MetricQuery("events", T0, T0 + 60_000, filters=timeouts))
        assert row.count == 3


@pytest.mark.parametrize("engine", list(ENGINES))
def test_dates_kept_in_source_take_every_stamp_midwatch_writes(engine, engine_store, request,
                                                               unique_name):
    """OpenSearch parses the unsearched dates (event.ingested, event.created) with its fast
    ``rfc3339_lenient``, alone, which refuses what ``strict_date_optional_time||epoch_millis``
    also took: every stamp midwatch writes (``ms_to_iso``, clamped to years 1-9999) must
    still be stored, and come back as written; the searched @timestamp keeps the format that
    queries rely on (epoch numbers, partial times)."""
    es = request.getfixturevalue(ENGINES[engine])
    stamps = [MIN_ISO_MS, 0, T0 + 999, MAX_ISO_MS, MIN_ISO_MS - DAY, MAX_ISO_MS + DAY]
    events = [Event(T0 + i, "generic.json", "generic", f"order {i}", id=event_id("d", str(i)),
                    created_ms=ms, ingested_ms=ms) for i, ms in enumerate(stamps)]
    with engine_store(engine, unique_name) as store:
        assert store.write_events(events).rejected == []
        store.refresh()
        got = store.search_events([], T0, T0 + 60_000)
        assert [(e.created_ms, e.ingested_ms) for e in sorted(got, key=lambda e: e.timestamp_ms)] == [
            (ms, ms) for ms in [*stamps[:4], MIN_ISO_MS, MAX_ISO_MS]]
        index = es_mappings.daily(store.names.events, T0)
        props = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        default = "strict_date_optional_time||epoch_millis"  # not shown when it is the format
        assert props["event"]["properties"]["ingested"].get("format", default) == (
            "rfc3339_lenient" if "opensearch" in engine else default)
        assert props["@timestamp"].get("format", default) == (
            "uuuu-MM-dd'T'HH:mm:ss.SSSXXX||" + default if "opensearch" in engine else default)
        (row,) = store.metric(MetricQuery("events", T0, T0 + 60_000))
        assert row.count == len(stamps)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_indices_of_the_previous_schema_upgrade_in_place(engine, request, unique_name):
    """An existing deployment's template (schema 2, every field indexed) is replaced, and
    today's index made by it takes the update: neither engine may un-index a field, so those
    stay indexed there; the next daily index is lean."""
    es = request.getfixturevalue(ENGINES[engine])
    store = ElasticsearchStore(client=es, index_prefix=unique_name)
    names = store.names
    try:
        old = es_mappings.templates(names.prefix, product=store.engine().product)[names.events]
        old["_meta"]["schema_version"] = old["version"] = 2
        old["template"]["mappings"] = schema2_mapping(old["template"]["mappings"])
        es.indices.put_index_template(name=names.events, **old)
        existing = es_mappings.daily(names.events, T0)
        es.indices.create(index=existing)

        store.setup()
        store.write_events([_event(1, T0), _event(2, T0 + DAY)])

        def span_id(index: str) -> dict:
            return es.indices.get_mapping(index=index)[index]["mappings"]["properties"]["span"][
                "properties"]["id"]

        assert span_id(existing) == {"type": "keyword"}
        assert span_id(es_mappings.daily(names.events, T0 + DAY)) == {
            "type": "keyword", "index": False, "doc_values": False}
        message = es.indices.get_mapping(index=existing)[existing]["mappings"]["properties"][
            "message"]
        assert message["norms"] is False
        store.refresh()
        assert len(store.search_events([], T0, T0 + 2 * DAY)) == 2
    finally:
        delete_prefix(es, unique_name)


@pytest.mark.parametrize("engine", ["opensearch", "opensearch3"])
def test_opensearch_indices_with_flat_object_labels_upgrade_and_are_named(engine, request,
                                                                          unique_name, caplog):
    """A deployment made before schema 3 on OpenSearch has flat_object labels, which no
    mapping update turns into an object: setup must not refuse to start over it (it did:
    "can't merge a non object mapping [labels]"), and it names those indices."""
    es = request.getfixturevalue(ENGINES[engine])
    store = ElasticsearchStore(client=es, index_prefix=unique_name)
    names = store.names
    try:
        for name, old in es_mappings.templates(names.prefix, product="opensearch").items():
            old["_meta"]["schema_version"] = old["version"] = 2
            mappings = old["template"]["mappings"]
            for key in ("labels", "annotations"):
                if key in mappings["properties"]:
                    mappings["properties"][key] = {"type": "flat_object"}
            mappings["dynamic_templates"] = [t for t in mappings.get("dynamic_templates", [])
                                             if "strings" in t]
            es.indices.put_index_template(name=name, **old)
        existing = es_mappings.daily(names.events, T0)
        es.indices.create(index=existing)
        es.indices.create(index=names.alerts)
        with caplog.at_level("WARNING", logger="collector.store.elasticsearch"):
            store.setup()
        assert f"{names.alerts}, {existing} keep labels as flat_object" in caplog.text
        tomorrow = es_mappings.daily(names.events, T0 + DAY)
        store.write_events([_event(1, T0 + DAY)])
        assert es.indices.get_mapping(index=tomorrow)[tomorrow]["mappings"]["properties"][
            "labels"] == {"type": "object", "dynamic": "true"}
    finally:
        delete_prefix(es, unique_name)


# Every way a query can lean on the mapping's date format: values without a ``format`` of
# their own (epoch numbers, partial times, date math, rounded bounds) and the dates the engine
# prints from it (key_as_string, in UTC and in a query's time_zone; the fields API).
_DATE_QUERIES = [
    {"query": {"range": {"@timestamp": {"gte": T0 + 1_000, "lt": "2024-03-04T10:00:02.500Z"}}}},
    {"query": {"range": {"@timestamp": {"gte": "2024-03-04T10:00", "lte": "2024-03-04T10:00||/m"}}}},
    {"query": {"range": {"@timestamp": {"gt": "2024-03-04", "time_zone": "Europe/Berlin"}}}},
    {"query": {"range": {"@timestamp": {"gte": "2024-03-04T11:00:00.123+01:00"}}}},
    {"query": {"range": {"@timestamp": {"gte": "now-100000d"}}}},
    {"query": {"match_all": {}}, "fields": ["@timestamp"], "_source": False},
    {"aggs": {"h": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}},
    {"aggs": {"h": {"date_histogram": {"field": "@timestamp", "calendar_interval": "1d",
                                       "time_zone": "Asia/Kolkata"}}}},
    {"aggs": {"r": {"date_range": {"field": "@timestamp", "ranges": [
        {"from": "2024-03-04T10:00:01"}, {"to": T0 + 2_000}]}}}},
]


@pytest.mark.parametrize("engine", ["opensearch", "opensearch3"])
def test_opensearch_searched_dates_answer_every_query_as_the_default_format(engine, request,
                                                                          unique_name):
    """OpenSearch's searched dates put an exact pattern of what midwatch writes in front of
    the default format (its java.time parse is the write's cost): the same documents under
    each format must answer every query the same, hits, buckets and printed dates alike,
    and a query value neither takes is refused by both."""
    es = request.getfixturevalue(ENGINES[engine])
    formats = {"exact": es_mappings.OPENSEARCH_DATE_FORMAT, "default": es_mappings.DATE_FORMAT}
    answers: dict[str, list] = {}
    try:
        for name, fmt in formats.items():
            index = f"{unique_name}-{name}"
            es.indices.create(index=index, mappings={"properties": {
                "@timestamp": {"type": "date", "format": fmt}, "n": {"type": "integer"}}})
            for n in range(4):
                es.index(index=index, id=str(n), document={
                    "@timestamp": ms_to_iso(T0 + n * 1_000 + 123), "n": n})
            es.indices.refresh(index=index)
            answers[name] = []
            for body in _DATE_QUERIES:
                got = es.search(index=index, sort=["n"], size=10, **body).body
                answers[name].append(([h["_id"] for h in got["hits"]["hits"]],
                                      [h.get("fields") for h in got["hits"]["hits"]],
                                      got.get("aggregations")))
            refused = es.options(ignore_status=400).search(
                index=index, query={"range": {"@timestamp": {"gte": "2024-03-04 10:00"}}})
            answers[name].append(refused.meta.status)
        assert answers["exact"] == answers["default"]
        ids, _, _ = answers["exact"][0]
        assert ids == ["1", "2"]  # the comparison compared something
        assert answers["exact"][5][1][0] == {"@timestamp": ["2024-03-04T10:00:00.123Z"]}
        buckets = answers["exact"][7][2]["h"]["buckets"]
        assert buckets[0]["key_as_string"] == "2024-03-04T00:00:00.000+05:30"
        assert answers["exact"][-1] == 400
    finally:
        delete_prefix(es, unique_name)
