"""What midwatch's templates make of each engine's indices (issue 28), on the real engines."""

from __future__ import annotations

import pytest

from collector.event import Event, event_id
from collector.store.base import Filter, MetricQuery

# Test id -> client fixture (conftest ENGINE_FIXTURES: Elasticsearch 9, 8, OpenSearch 2, 3).
ENGINES = {"elasticsearch": "es", "es8": "es8", "opensearch": "opensearch",
           "opensearch3": "opensearch3"}


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
