"""What only the Elasticsearch store has: daily indices, templates, per-document rejection,
and the errors a person sees when the cluster is unreachable."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from collector.event import SCHEMA_VERSION, Event, event_id, to_doc
from collector.store import es_mappings, open_store
from collector.store.base import MetricQuery, StoreError
from collector.store.elasticsearch import ElasticsearchStore

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z
DAY = 86_400_000


@pytest.fixture
def store(es, es_index_prefix) -> Iterator[ElasticsearchStore]:
    yield ElasticsearchStore(client=es, index_prefix=es_index_prefix)


def _event(n: int, ts: int, **kw) -> Event:
    return Event(ts, "generic.json", "generic", f"event {n}", id=event_id("es-test", str(n)), **kw)


def test_events_go_to_daily_indices_behind_one_alias(es, store: ElasticsearchStore):
    store.setup()
    store.write_events([_event(1, T0), _event(2, T0 + DAY), _event(3, T0 + DAY + 1)])
    store.refresh()
    names = store.names
    daily = es.indices.get_alias(name=names.events)
    assert sorted(daily) == [f"{names.events}-2024.03.04", f"{names.events}-2024.03.05"]
    assert es.count(index=f"{names.events}-2024.03.05")["count"] == 2
    (row,) = store.metric(MetricQuery("events", T0, T0 + 2 * DAY))
    assert row.count == 3


def test_a_document_the_mapping_refuses_is_rejected_and_the_rest_written(store):
    store.setup()
    bad = _event(1, T0, payload_bytes="twelve")  # mapped long
    result = store.write_events([_event(0, T0), bad, _event(2, T0)])
    assert result.written == 2
    ((event, reason),) = result.rejected
    assert event is bad
    assert reason.startswith("document_parsing_exception:") and "payload_bytes" in reason


def test_setup_installs_versioned_templates_and_mappings(es, store: ElasticsearchStore):
    store.setup()
    tpl = es.indices.get_index_template(name=store.names.events)["index_templates"][0]
    body = tpl["index_template"]
    assert body["_meta"]["schema_version"] == SCHEMA_VERSION
    assert body["index_patterns"] == [f"{store.names.events}-*"]
    assert store.names.events in body["template"]["aliases"]
    props = body["template"]["mappings"]["properties"]
    assert props["labels"]["type"] == "flattened"
    assert props["midwatch"]["properties"]["ids"]["type"] == "keyword"
    assert props["message"]["fields"]["keyword"]["type"] == "keyword"
    traces = es.indices.get_mapping(index=store.names.traces)[store.names.traces]["mappings"]
    assert traces["properties"]["hops"] == {"type": "object", "enabled": False}


def test_an_older_template_is_upgraded_and_existing_indices_gain_new_fields(es, store):
    names = store.names
    old = es_mappings.templates(names.prefix)[names.events]
    old["_meta"]["schema_version"] = SCHEMA_VERSION - 1
    del old["template"]["mappings"]["properties"]["midwatch"]["properties"]["signature"]
    es.indices.put_index_template(name=names.events, **old)
    existing = f"{names.events}-2024.03.04"
    es.indices.create(index=existing)
    assert "signature" not in _midwatch_props(es, existing)

    store.setup()

    tpl = es.indices.get_index_template(name=names.events)["index_templates"][0]
    assert tpl["index_template"]["_meta"]["schema_version"] == SCHEMA_VERSION
    assert _midwatch_props(es, existing)["signature"] == {"type": "keyword"}


def test_a_newer_template_is_left_alone(es, store):
    names = store.names
    newer = es_mappings.templates(names.prefix)[names.traces]
    newer["_meta"]["schema_version"] = SCHEMA_VERSION + 1
    es.indices.put_index_template(name=names.traces, **newer)
    store.setup()
    tpl = es.indices.get_index_template(name=names.traces)["index_templates"][0]
    assert tpl["index_template"]["_meta"]["schema_version"] == SCHEMA_VERSION + 1



def _creating_client(es_url: str, created: list[str], *, exists_status: int | None = None):
    """The real client, noting each index it is asked to create (``PUT /<index>``); with
    ``exists_status`` every ``HEAD`` (set-up's one exists question) is answered with that
    status instead of being sent: a stub of a key that may not ask (contract test)."""
    from elastic_transport import ApiResponseMeta, HeadApiResponse, HttpHeaders, NodeConfig
    from elasticsearch.exceptions import HTTP_EXCEPTIONS

    class Recording(Elasticsearch):
        def perform_request(self, method, path, **kwargs):
            if method == "PUT" and path.count("/") == 1:
                created.append(path.lstrip("/"))
            if method == "HEAD" and exists_status is not None:
                meta = ApiResponseMeta(status=exists_status, http_version="1.1",
                                       headers=HttpHeaders(), duration=0.0,
                                       node=NodeConfig("http", "127.0.0.1", 9200))
                ignored = self._ignore_status if isinstance(self._ignore_status, tuple) else ()
                if exists_status not in ignored:  # as the client raises a status not ignored
                    raise HTTP_EXCEPTIONS[exists_status](message="forbidden", meta=meta, body={})
                return HeadApiResponse(meta=meta)
            return super().perform_request(method, path, **kwargs)

    return Recording(es_url)


def test_a_restart_creates_no_single_index_while_all_exist(es, es_url, es_index_prefix):
    """Set-up asks once whether the single indices exist and creates them only then: creating
    an existing one is a 400 no-op that still queues a cluster-state task on the master. One
    deleted since (by hand, by a retention job) comes back, the others keep their data."""
    created: list[str] = []
    client = _creating_client(es_url, created)
    store = ElasticsearchStore(client=client, index_prefix=es_index_prefix)
    names = store.names
    singles = sorted((names.traces, names.alerts, names.state))
    try:
        store.setup()
        assert sorted(created) == singles
        es.index(index=names.state, id="kept", document={"v": 1}, refresh=True)
        created.clear()
        store.setup()
        assert created == []  # all exist: not one create asked
        es.indices.delete(index=names.alerts)
        store.setup()
        assert names.alerts in created  # asked again (the existing ones answer 400)
        assert es.indices.exists(index=names.alerts)
        assert es.get(index=names.state, id="kept")["_source"] == {"v": 1}
    finally:
        client.close()


def test_a_key_that_may_not_ask_whether_indices_exist_creates_them_as_before(
        es, es_url, es_index_prefix):
    """Contract test: a 403 to the exists question (a key without ``view_index_metadata``)
    falls back to creating the single indices, which answer 400 when they exist."""
    created: list[str] = []
    client = _creating_client(es_url, created, exists_status=403)
    store = ElasticsearchStore(client=client, index_prefix=es_index_prefix)
    names = store.names
    singles = sorted((names.traces, names.alerts, names.state))
    try:
        store.setup()
        store.setup()
        assert sorted(created) == sorted(singles * 2)
        assert all(es.indices.exists(index=name) for name in singles)
    finally:
        client.close()


def _midwatch_props(es, index: str) -> dict:
    return es.indices.get_mapping(index=index)[index]["mappings"]["properties"]["midwatch"]["properties"]


def test_ping_names_version_and_cluster(store):
    assert store.ping().startswith("Elasticsearch 9.")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_cluster_gives_a_clear_reason_after_bounded_retries():
    url = f"http://user:hunter2@127.0.0.1:{_closed_port()}"
    store = ElasticsearchStore(url, retry_attempts=2, retry_initial_s=0.01)
    with pytest.raises(StoreError) as err:
        store.ping()
    message = str(err.value)
    assert "cannot reach Elasticsearch at http://127.0.0.1:" in message
    assert "connection refused" in message and "deploy/local/services.sh up" in message
    assert "hunter2" not in message
    with pytest.raises(StoreError, match=r"1 of 1 writes not stored after 2 attempts"):
        store.write_events([_event(0, T0)])
    store.close()


def test_a_clean_bulk_reads_no_per_document_answers_and_a_refused_one_does(es_url,
                                                                           es_index_prefix):
    """Events are sent asking only whether any failed; when one did, the same request goes
    again for each one's answer, and the documents written twice are stored once."""
    asked: list[str] = []

    class Recording(Elasticsearch):  # the real client, noting what each bulk asked for
        def bulk(self, **kwargs):
            asked.append(kwargs["filter_path"])
            return super().bulk(**kwargs)

    client = Recording(es_url)
    store = ElasticsearchStore(client=client, index_prefix=es_index_prefix)
    try:
        store.setup()
        assert store.write_events([_event(0, T0), _event(1, T0)]).written == 2
        assert asked == ["errors"]

        asked.clear()
        bad = _event(2, T0, payload_bytes="twelve")
        result = store.write_events([_event(0, T0), bad, _event(3, T0)])
        assert (result.written, [e for e, _ in result.rejected]) == (2, [bad])
        assert asked[0] == "errors" and "items.*.status" in asked[1] and len(asked) == 2
        store.refresh()
        assert client.count(index=store.names.events)["count"] == 3
    finally:
        client.close()


def _counting_client(es_url: str, sizes: list[int], overlap: threading.Barrier,
                     waits: Callable[[int, str], bool]) -> Elasticsearch:
    """The real client, noting each bulk's operation count in ``sizes``; a bulk for which
    ``waits(operations, filter_path)`` holds waits at ``overlap`` until as many are in flight
    as it has parties (a barrier that breaks fails the test: they were not)."""

    class Recording(Elasticsearch):
        def bulk(self, **kwargs):
            ops = kwargs["operations"].count(b"\n") // 2
            sizes.append(ops)
            if waits(ops, kwargs["filter_path"]):
                overlap.wait()
            return super().bulk(**kwargs)

    return Recording(es_url)


def test_trace_writes_go_as_requests_sent_side_by_side_and_each_trace_gets_its_version(
        es_url, es_index_prefix):
    """The correlator waits for its trace writes: they are cut into requests sent at once
    (one request is indexed by one write thread), each trace still gets the version its own
    write answered, and a second write of all of them conflicts with none."""
    from collector.trace import Trace

    sizes: list[int] = []
    overlap = threading.Barrier(2, timeout=10)  # both requests must be in flight together
    client = _counting_client(es_url, sizes, overlap, lambda ops, _: ops > 1)
    store = ElasticsearchStore(client=client, index_prefix=es_index_prefix)
    try:
        store.setup()
        traces = [Trace(trace_key=f"order:{n}", ids=[f"order:{n}"], started_ms=T0,
                        last_seen_ms=T0) for n in range(1_000)]
        store.upsert_traces(traces)
        assert sizes == [500, 500]
        versions = {t.version for t in traces}
        assert None not in versions and len(versions) == 1_000  # each its own seq_no
        sizes.clear()
        store.upsert_traces(traces)  # raises ConflictError if any version were wrong
        assert sizes == [500, 500]
        store.refresh()
        assert client.count(index=store.names.traces)["count"] == 1_000
    finally:
        client.close()


def test_compressed_bulk_requests_are_gzip_level_1_and_stored_the_same(es_url,
                                                                       es_index_prefix):
    """``compress: true``: each bulk body goes gzip-compressed (level 1, the header set) and
    the cluster stores exactly what an uncompressed request stores; other requests are
    left alone."""
    sent: list[tuple[str | None, bytes]] = []

    class Recording(Elasticsearch):  # the real client, noting each bulk's encoding and body
        def bulk(self, **kwargs):
            sent.append((self._headers.get("content-encoding"), kwargs["operations"]))
            return super().bulk(**kwargs)

    configured = open_store({"kind": "elasticsearch", "elasticsearch": {
        "url": es_url, "index_prefix": es_index_prefix, "compress": True}})
    assert configured._compress
    configured.close()
    client = Recording(es_url)
    store = ElasticsearchStore(client=client, index_prefix=es_index_prefix, compress=True)
    try:
        store.setup()
        events = [_event(n, T0 + n) for n in range(300)]
        assert store.write_events(events).written == 300
        ((encoding, body),) = sent
        assert encoding == "gzip" and body[:2] == b"\x1f\x8b"
        plain = gzip.decompress(body)
        assert plain.count(b"\n") == 600 and len(body) < len(plain) / 4
        assert gzip.compress(plain, 1, mtime=0) == body  # level 1
        store.refresh()
        hits = client.search(index=store.names.events, size=300, sort=["@timestamp"])
        assert [h["_source"] for h in hits["hits"]["hits"]] == [to_doc(e) for e in events]
    finally:
        store.close()
        client.close()


def test_event_writes_go_as_requests_in_flight_together_and_refusals_name_their_event(
        es_url, es_index_prefix):
    """A batch of events is cut evenly into EVENT_REQUESTS requests in flight at once (one
    request at a time bound the collector's rate to one write thread's latency), and a
    document refused in a later request is still reported with its own event."""
    from collector.store.elasticsearch import EVENT_REQUESTS

    sizes: list[int] = []
    overlap = threading.Barrier(EVENT_REQUESTS, timeout=10)  # all in flight together
    # Waiting at the first send of each request (asking only whether any failed).
    client = _counting_client(es_url, sizes, overlap, lambda _, asked: asked == "errors")
    store = ElasticsearchStore(client=client, index_prefix=es_index_prefix)
    try:
        store.setup()
        events = [_event(n, T0 + n) for n in range(4_000)]
        bad = events[3_700] = _event(3_700, T0, payload_bytes="twelve")  # in the last request
        result = store.write_events(events)
        assert (result.written, [e for e, _ in result.rejected]) == (3_999, [bad])
        assert sorted(sizes[:EVENT_REQUESTS]) == [4_000 // EVENT_REQUESTS] * EVENT_REQUESTS
        assert sizes[EVENT_REQUESTS:] == [4_000 // EVENT_REQUESTS]  # the refused one, again
        store.refresh()
        assert client.count(index=store.names.events)["count"] == 3_999
    finally:
        store.close()
        client.close()


def test_the_schema_3_deadletter_template_is_upgraded_so_input_and_kind_filter(es, store):
    """Dead letters gained ``input`` and ``kind`` after schema 3: a deployment with schema 3
    templates must have them mapped at setup (the mapping is ``dynamic: false``: unmapped,
    ``midwatch deadletters --input/--reason`` would find nothing, without a word)."""
    from collector.deadletters import DeadLetterQuery, newest
    from collector.event import DeadLetter

    names = store.names
    old = es_mappings.templates(names.prefix)[names.deadletter]
    old["_meta"]["schema_version"] = 3
    for name in ("input", "kind"):
        del old["template"]["mappings"]["properties"][name]
    es.indices.put_index_template(name=names.deadletter, **old)
    ms = 1_700_000_000_000
    existing = es_mappings.daily(names.deadletter, ms)
    es.indices.create(index=existing)

    store.setup()
    store.write_deadletters([DeadLetter("parse_error: x", "a.log", 1, "{", ingested_ms=ms,
                                        input="app")])
    store.refresh()
    found = newest(store, DeadLetterQuery(ms, ms + 1, input="app", reason="parse_error"))
    assert [d["source"] for d in found] == ["a.log:1"]
