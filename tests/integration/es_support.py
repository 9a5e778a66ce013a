"""Reading what a collector writes into the real Elasticsearch, without racing its indices.

A collector creates each day's events index at its first write. Until the new index's shard
has started (a moment, seconds on a loaded CI runner) a search on it answers 503
``search_phase_execution_exception`` (no shard could answer) and a search on a pattern that
also holds started indices answers 200 with ``_shards.failed`` (the started shards' hits
only). A test polling for the collector's output must wait that out, not fail on it (CI
failed ``test_file_input_survives_kill_9`` so), and must never take a partial answer for
the whole one. ``held_unstarted``/``release`` make that moment last, for the tests of how
the product itself answers it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from elasticsearch import ApiError

T = TypeVar("T")
# Long enough for a shard to start on a loaded 2-core runner, short of the test timeouts.
SETTLE_S = 30.0


def settled(read: Callable[[], T], timeout_s: float = SETTLE_S) -> T:
    """``read()``'s answer once every shard it searched had started: a 503 or a partial
    answer (``_shards.failed``) is asked again, until ``timeout_s``; then the error (or an
    AssertionError naming the failed shards) goes up. Other errors go up at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = read()
        except ApiError as exc:
            if exc.meta.status != 503 or time.monotonic() > deadline:
                raise
        else:
            shards = _shards(answer)
            if not shards.get("failed"):
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"shards still failing after {timeout_s}s: "
                                     f"{shards.get('failures')}")
        time.sleep(0.25)


def _shards(answer) -> dict:
    body = getattr(answer, "body", answer)
    return body.get("_shards") or {} if isinstance(body, dict) else {}


def search(es, **kwargs):
    """``es.search`` after a refresh of the same indices, settled (see ``settled``)."""
    def read():
        es.indices.refresh(index=kwargs["index"], ignore_unavailable=True, allow_no_indices=True)
        return es.search(**kwargs)
    return settled(read)


def count(es, index: str, **kwargs) -> int:
    """``es.count`` after a refresh, settled (see ``settled``)."""
    def read():
        es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
        return es.count(index=index, ignore_unavailable=True, allow_no_indices=True, **kwargs)
    return settled(read)["count"]


# ----------------------------------------------------------------- holding a shard back

_NO_NODE = "index.routing.allocation.require._name"


def held_unstarted(es, index: str, **body) -> None:
    """Create ``index`` (its template applies; ``body``: more of the create request, such as
    ``mappings``) with its shard held unassigned: as an index is the moment after its
    creation, for as long as the test needs. The cluster is red meanwhile: hold it briefly."""
    es.indices.create(index=index, wait_for_active_shards="0", settings={
        "number_of_replicas": 0, _NO_NODE: "midwatch-test-no-such-node"}, **body)


def release(es, index: str) -> None:
    """Let ``index``'s shard start, and wait until it has."""
    es.indices.put_settings(index=index, settings={_NO_NODE: None})
    es.cluster.health(index=index, wait_for_status="yellow", timeout="60s")
