"""Which ``_msearch``/search answers the Elasticsearch store takes as "not whole because a
shard has not started" (``_unstarted_shards``: retried, then StoreUnavailable, the rule pass
skipped) and which it leaves to the query that caused them (that rule's ``eval_failed``).
The bodies are those Elasticsearch 9 and OpenSearch 2 answered here (probed with a shard
held unassigned) and those of elastic/elasticsearch#37957 (too many buckets, 503 before
8.8 and on OpenSearch) and of a tripped circuit breaker (429)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from collector.store.elasticsearch import _silent_shards, _unstarted_shards


def _msearch(*items: dict) -> SimpleNamespace:
    return SimpleNamespace(body={"took": 1, "responses": list(items)})


# allow_partial_search_results=false, one shard of the pattern unassigned (ES 9, OpenSearch 2)
MISSING = {"error": {"root_cause": [], "type": "search_phase_execution_exception", "reason": "",
                     "phase": "query", "grouped": True, "failed_shards": [],
                     "caused_by": {"type": "search_phase_execution_exception",
                                   "reason": "Search rejected due to missing shards "
                                             "[[mendj-probe-b][0]]. Consider using "
                                             "`allow_partial_search_results` setting to "
                                             "bypass this error.",
                                   "phase": "query", "grouped": True, "failed_shards": []}},
           "status": 503}
# no shard of the index started: Elasticsearch names the cause, OpenSearch none
ALL_ES = {"error": {"root_cause": [{"type": "no_shard_available_action_exception"}],
                    "type": "search_phase_execution_exception", "reason": "all shards failed",
                    "failed_shards": [{"shard": 0, "index": "i", "node": None, "reason": {
                        "type": "no_shard_available_action_exception", "reason": None}}]},
          "status": 503}
ALL_OS = {"error": {"root_cause": [], "type": "search_phase_execution_exception",
                    "reason": "all shards failed", "failed_shards": []}, "status": 503}
TOO_MANY_BUCKETS = {"error": {
    "root_cause": [], "type": "search_phase_execution_exception", "reason": "", "phase": "fetch",
    "grouped": True, "failed_shards": [],
    "caused_by": {"type": "too_many_buckets_exception",
                  "reason": "Trying to create too many buckets. Must be less than or equal "
                            "to: [65535] but was [65536].", "max_buckets": 65535}},
    "status": 503}
TOO_MANY_BUCKETS_SHARD = {"error": {
    "root_cause": [{"type": "too_many_buckets_exception", "reason": "Trying to create ..."}],
    "type": "search_phase_execution_exception", "reason": "all shards failed",
    "failed_shards": [{"shard": 0, "index": "i", "reason": {
        "type": "too_many_buckets_exception", "reason": "Trying to create ..."}}]},
    "status": 503}
BREAKER = {"error": {"root_cause": [{"type": "circuit_breaking_exception",
                                     "reason": "[parent] Data too large"}],
                     "type": "circuit_breaking_exception", "reason": "[parent] Data too large",
                     "bytes_wanted": 1, "bytes_limit": 1, "durability": "TRANSIENT"},
           "status": 429}
REJECTED_SHARD = {"error": {
    "root_cause": [{"type": "es_rejected_execution_exception", "reason": "rejected"}],
    "type": "search_phase_execution_exception", "reason": "",
    "failed_shards": [{"shard": 0, "index": "i", "reason": {
                           "type": "no_shard_available_action_exception"}},
                      {"shard": 1, "index": "i", "reason": {
                           "type": "es_rejected_execution_exception", "reason": "rejected"}}]},
    "status": 429}
WHOLE = {"_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
         "hits": {"total": {"value": 3}, "hits": []}, "status": 200}


@pytest.mark.parametrize("item", [MISSING, ALL_ES, ALL_OS], ids=["missing", "all-es", "all-os"])
def test_a_search_over_unstarted_shards_is_unavailable(item):
    why = _unstarted_shards(_msearch(WHOLE, item))
    assert why is not None and why.startswith("503 search_phase_execution_exception")


@pytest.mark.parametrize("item", [TOO_MANY_BUCKETS, TOO_MANY_BUCKETS_SHARD, BREAKER,
                                  REJECTED_SHARD],
                         ids=["buckets-reduce", "buckets-shard", "breaker", "rejected"])
def test_a_query_failing_for_its_own_cause_is_left_to_its_rule(item):
    """None: the item stays an error item, which ``_msearch`` raises as that query's
    StoreError (review J item 1: it skipped every rule's pass, for ever)."""
    assert _unstarted_shards(_msearch(WHOLE, item, WHOLE)) is None


def test_skipped_shards_are_counted_once():
    """Both engines count a skipped shard in ``successful`` too (review J item 3)."""
    shards = {"total": 10, "successful": 8, "skipped": 3, "failed": 0}
    assert _silent_shards(shards) == 2
    answer = {"_shards": shards, "hits": {"total": {"value": 0}, "hits": []}, "status": 200}
    assert _unstarted_shards(_msearch(answer)) == (
        "2 shard(s) not started yet (no_shard_available_action_exception): an index just "
        "created, or a node restarting")
    assert _silent_shards({"total": 10, "successful": 10, "skipped": 3, "failed": 0}) == 0
