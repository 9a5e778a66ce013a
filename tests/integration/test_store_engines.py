"""What midwatch's templates make of each engine's indices (issue 28), on the real engines."""

from __future__ import annotations

import pytest

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
