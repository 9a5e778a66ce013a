"""Reads that meet an index whose shard has not started, against the real Elasticsearch.

``midwatch run`` creates the day's events index at its first write and the single indices at
start-up; for a moment (seconds on a loaded node) their shards are not started. A search
then answers 503 ``search_phase_execution_exception`` when no shard of it could answer, and
200 with *partial* hits (``_shards.failed``) when other indices of the pattern could: a count
short by what the unstarted shard holds. Both must be a transient store error (retried, then
``StoreUnavailable``: the rule pass is skipped and run again), never a rule error recorded
as ``eval_failed`` (which pages) nor an answer quietly missing documents.

The shard is held unstarted by an allocation rule no node matches, then released."""

from __future__ import annotations

import logging
import time

import pytest
from conftest import ENGINE_FIXTURES, delete_prefix
from es_support import held_unstarted, release

from collector.event import Event, event_id
from collector.store import outbox_es
from collector.store.base import MetricQuery, StoreError, StoreUnavailable
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import outbox_for
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.scheduler import RuleScheduler

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z
MIN = 60_000
RULES = "rules:\n  - {name: errors, type: threshold, filter: {log.level: error}, above: 2, window: 10m}\n"


@pytest.fixture
def store(es, es_index_prefix):
    # Few, short retries: the test shows what happens when they run out.
    s = ElasticsearchStore(client=es, index_prefix=f"{es_index_prefix}mw", retry_attempts=2,
                           retry_initial_s=0.1)
    s.setup()
    yield s
    s.close()


@pytest.fixture(params=list(ENGINE_FIXTURES))
def engine(request, unique_name):
    """(client, store) on each engine: OpenSearch counts an unstarted shard neither
    successful nor failed, Elasticsearch as failed."""
    client = request.getfixturevalue(ENGINE_FIXTURES[request.param])
    prefix = f"{unique_name}-"
    s = ElasticsearchStore(client=client, index_prefix=f"{prefix}mw", retry_attempts=2,
                           retry_initial_s=0.1)
    try:
        s.setup()
        yield client, s
    finally:
        delete_prefix(client, prefix)


def _errors(n: int) -> list[Event]:
    return [Event(T0 - MIN - i * 1000, "app.log", "mulesoft", "m", level="error",
                  outcome="failure", id=event_id("unstarted", str(i)), flow="o2c")
            for i in range(n)]


def _count(store) -> MetricQuery:
    return MetricQuery("events", T0 - 10 * MIN, T0 + MIN)


def test_a_search_partly_answered_is_unavailable_not_short(engine):
    """Yesterday's index unstarted, today's started: the cluster answers 200 with the
    started shard's hits only; the store must not return that count as the answer."""
    es, store = engine
    store.write_events(_errors(3))
    store.refresh()
    assert store.metric(_count(store))[0].count == 3
    yesterday = f"{store.names.events}-2024.03.03"
    held_unstarted(es, yesterday)
    with pytest.raises(StoreUnavailable, match="not started yet"):
        store.metric(_count(store))
    with pytest.raises(StoreUnavailable, match="not started yet"):
        store.search_events([], T0 - 10 * MIN, T0 + MIN)
    release(es, yesterday)
    assert store.metric(_count(store))[0].count == 3
    assert len(store.search_events([], T0 - 10 * MIN, T0 + MIN)) == 3


def test_an_unstarted_single_index_is_unavailable_not_refused(es, es_index_prefix):
    """No shard of the alerts index started: the ``_msearch`` item answers 503, which is
    the store not answering yet (retried), not a query the store refused."""
    s = ElasticsearchStore(client=es, index_prefix=f"{es_index_prefix}one", retry_attempts=2,
                           retry_initial_s=0.1)
    held_unstarted(es, s.names.alerts)  # before setup, as if setup had just created it
    s.setup()
    query = MetricQuery("alerts", T0 - 10 * MIN, T0)
    with pytest.raises(StoreError) as raised:
        s.metric(query)
    assert isinstance(raised.value, StoreUnavailable), raised.value
    assert "503" in str(raised.value)
    release(es, s.names.alerts)
    assert [row.count for row in s.metric(query)] == [0]
    s.close()


def test_the_rule_pass_is_skipped_then_run_not_failed(es, store, tmp_path, caplog):
    """The scheduler's pass over an unstarted index is skipped (StoreUnavailable from the
    engine): logged at error level once, then every 5 minutes while it lasts, counted, and no ``eval_failed``
    recorded; once the shard starts the next pass fires the alert it would have."""
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = load_rules_config(loads(
        f"rules:\n  paths: [{tmp_path}/rules.yaml]\n  notify: [log]\n"
        "notifiers:\n  log: {type: webhook, url: 'http://127.0.0.1:9/unused'}\n"))
    assert not cfg.errors, cfg.errors
    store.write_events(_errors(3))
    yesterday = f"{store.names.events}-2024.03.03"
    held_unstarted(es, yesterday)
    scheduler = RuleScheduler(cfg, store, clock=lambda: T0)
    assert scheduler.leadership.renew()
    caplog.set_level(logging.DEBUG, "midwatch.rules")
    for at in (T0, T0 + MIN, T0 + 5 * MIN):  # logged again at error level after 5 minutes
        scheduler.tick(at)
    assert (scheduler.skipped.value(), scheduler.ticks, scheduler.engine.alerts) == (3, 0, {})
    skips = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert [r.levelno for r in skips] == [logging.ERROR, logging.DEBUG, logging.ERROR]
    assert "not started yet" in skips[0].getMessage()
    release(es, yesterday)
    store.refresh()
    history = store.metric(MetricQuery("alerts", T0 - 10 * MIN, T0 + MIN, group_by=("state",)))
    assert history == [], "a skipped pass records nothing (no eval_failed to page on)"
    scheduler.tick(T0)
    assert scheduler.ticks == 1
    assert [(a.rule, a.state, a.value) for a in scheduler.engine.alerts.values()] == [
        ("errors", "firing", 3.0)]
    assert "resumed after 3 skipped passes" in caplog.text


def test_trace_and_outbox_reads_are_unavailable_not_empty(es, es_url, es_index_prefix):
    """``midwatch trace``/the trace API and the delivery workers read single indices: an
    unstarted one must be "the store did not answer" (StoreUnavailable, said as such by the
    CLI and API), never "ID not found" nor "nothing pending". (A refresh of an unstarted
    index waits for its shard, up to the request timeout: the outbox's read does one.)"""
    s = ElasticsearchStore(es_url, index_prefix=f"{es_index_prefix}tr", retry_attempts=2,
                           retry_initial_s=0.1, request_timeout=3)
    outbox = outbox_for(s)
    held_unstarted(es, s.names.traces)
    held_unstarted(es, outbox.index, mappings=outbox_es.MAPPINGS)
    s.setup()
    with pytest.raises(StoreUnavailable, match="503"):
        s.get_trace("order:4711")
    with pytest.raises(StoreUnavailable, match="did not answer in time"):
        outbox.pending("hook", 10)
    # The alerts' reads of a delivery pass (one _msearch), past the refresh: its item
    # answered 503 for the unstarted shard is the store not answering, not "no records".
    outbox.dirty, outbox.refreshed_at = False, time.monotonic()
    with pytest.raises(StoreUnavailable, match="not started"):
        outbox.of_alerts([("errors", "k1")], 10)
    release(es, s.names.traces)
    release(es, outbox.index)
    assert s.get_trace("order:4711") is None
    assert outbox.pending("hook", 10) == []
    assert outbox.of_alerts([("errors", "k1")], 10) == {("errors", "k1"): []}
    s.close()


def test_a_store_refusing_the_engine_is_an_error_every_tick_not_a_skip(es, store, tmp_path,
                                                                        caplog):
    """A refusal that will not pass (here the state index closed: 400; in life a 403 after
    a role change, a mapping conflict) needs a person: logged at error level at every tick,
    and not counted as a skipped pass (whose help says the store did not answer)."""
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = load_rules_config(loads(
        f"rules:\n  paths: [{tmp_path}/rules.yaml]\n  notify: [log]\n"
        "notifiers:\n  log: {type: webhook, url: 'http://127.0.0.1:9/unused'}\n"))
    scheduler = RuleScheduler(cfg, store, clock=lambda: T0)
    assert scheduler.leadership.renew()
    es.indices.close(index=store.names.state)
    caplog.set_level(logging.DEBUG, "midwatch.rules")
    try:
        for at in (T0, T0 + MIN, T0 + 2 * MIN):
            scheduler.tick(at)
    finally:
        es.indices.open(index=store.names.state)
    assert (scheduler.skipped.value(), scheduler.ticks) == (0, 0)
    lines = [r for r in caplog.records if "rule evaluation at" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.ERROR] * 3
    assert "closed" in lines[0].getMessage()


def test_a_metric_search_a_started_shard_fails_is_that_rule_s_error_not_a_short_count(engine):
    """A shard that fails for a reason of its own (here yesterday's index maps the group
    field as text, which a terms aggregation refuses; in life a rejected execution, a node
    gone) was a 200 with ``_shards.failed: 1`` and today's buckets only: a short count
    taken as whole. The metric search asks for no partial answers: the query fails, as
    that rule's error (StoreError, not StoreUnavailable: nothing to wait for)."""
    es, store = engine
    store.write_events(_errors(3))
    store.refresh()
    by_host = MetricQuery("events", T0 - 10 * MIN, T0 + MIN, group_by=("host.name",))
    yesterday = f"{store.names.events}-2024.03.03"
    es.indices.create(index=yesterday, settings={"number_of_replicas": 0},
                      mappings={"properties": {"host": {"properties": {"name": {"type": "text"}}}}})
    es.index(index=yesterday, document={"@timestamp": "2024-03-04T09:55:00Z",
                                        "host": {"name": "mule-02"}}, refresh=True)
    with pytest.raises(StoreError) as raised:
        store.metric(by_host)
    assert not isinstance(raised.value, StoreUnavailable), raised.value
    assert "refused a metric query on events" in str(raised.value)
    assert store.metric(_count(store))[0].count == 4  # the whole count: both shards answer
