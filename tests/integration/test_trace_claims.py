"""Two collectors on one Elasticsearch, each given part of one message before either trace
is searchable: the second joins the trace the first claimed instead of creating its own
(``collector.store.id_claims``).

The trace index's refresh is switched off for each test, which holds open the blind spot
that two processes of a consumer group meet within a refresh interval: without claims the
first test ends with two traces (the split the trace repair mended later), every time.
"""

from __future__ import annotations

import time

import pytest
from test_correlation_reused_ids import CATALOG, DAY, MONDAY, ev, run

from collector.correlation.correlator import Correlator
from collector.store import elasticsearch
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.id_claims import CLAIM_BUCKET_MS, IdClaim, claim_bucket
from collector.trace import Trace


@pytest.fixture
def stores(es, es_index_prefix) -> tuple[ElasticsearchStore, ElasticsearchStore]:
    """Two collectors' stores on one index prefix, the trace index never refreshed."""
    a = ElasticsearchStore(client=es, index_prefix=es_index_prefix)
    a.setup()
    es.indices.put_settings(index=a.names.traces, settings={"refresh_interval": "-1"})
    return a, ElasticsearchStore(client=es, index_prefix=es_index_prefix)


def all_traces(es, s: ElasticsearchStore) -> list[Trace]:
    s.refresh()
    hits = es.search(index=s.names.traces, size=10, sort=["trace_key"])["hits"]["hits"]
    return [Trace.from_doc(h["_source"]) for h in hits]


def test_the_second_collector_joins_the_trace_the_first_claimed(es, stores):
    a, b = stores
    first, second = (Correlator(CATALOG, s, claim_ids=lambda: True) for s in stores)
    run(first, a, [ev("mule-1", MONDAY, ["correlation:c-1", "order:1"])])
    # Keyed order:1 by its only ID, which no trace is keyed by: only the claim finds c-1.
    run(second, b, [ev("erp-1", MONDAY + 60_000, ["order:1"], outcome="success")])
    (trace,) = all_traces(es, a)
    assert trace.trace_key == "correlation:c-1"
    assert sorted(h.event_id for h in trace.hops) == sorted(
        [ev("mule-1", MONDAY, ["order:1"]).id, ev("erp-1", MONDAY, ["order:1"]).id])
    assert second.stats()["claims_held"] == 1
    assert first.stats()["claims_held"] == 0


def test_a_claim_of_a_message_outside_the_join_window_joins_nothing(es, stores):
    """A request ID resent a day later (window 15 minutes): claimed already, the claiming
    trace is fetched and measured like any stored trace, and stays another message's."""
    a, b = stores
    first, second = (Correlator(CATALOG, s, claim_ids=lambda: True) for s in stores)
    run(first, a, [ev("gw-1", MONDAY, ["correlation:c-1", "http.request:r-1"])])
    run(second, b, [ev("gw-2", MONDAY + DAY, ["correlation:c-2", "http.request:r-1"])])
    assert [(t.trace_key, len(t.hops)) for t in all_traces(es, a)] == [
        ("correlation:c-1", 1), ("correlation:c-2", 1)]
    assert second.stats()["claims_held"] == 1


def test_claims_are_held_until_their_index_is_dropped(es, stores, monkeypatch):
    bucket = claim_bucket(int(time.time() * 1000))  # fixed: the test may cross a bucket's end
    monkeypatch.setattr(elasticsearch, "claim_bucket", lambda _now: bucket)
    a, b = stores
    assert a.claim_trace_ids([IdClaim("order:9", "order:9")]) == []
    assert a.claim_trace_ids([IdClaim("order:9", "order:9")]) == []  # its own claim again
    assert b.claim_trace_ids([IdClaim("order:9", "x")]) == [IdClaim("order:9", "order:9")]
    end = (bucket + 1) * CLAIM_BUCKET_MS
    a.expire_trace_claims(end - 1)  # the bucket has not ended: kept
    assert b.claim_trace_ids([IdClaim("order:9", "x")]) == [IdClaim("order:9", "order:9")]
    a.expire_trace_claims(end)
    assert not es.indices.exists(index=f"{a.names.prefix}-trace-claims-{bucket}")
    monkeypatch.setattr(elasticsearch, "claim_bucket", lambda _now: bucket + 1)  # time moved on
    assert b.claim_trace_ids([IdClaim("order:9", "x")]) == []  # free: x claims it now
    assert a.claim_trace_ids([IdClaim("order:9", "order:9")]) == [IdClaim("order:9", "x")]
