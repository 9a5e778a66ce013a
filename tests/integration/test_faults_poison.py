"""A poison event against the real Elasticsearch: its daily index carries the flood-stage
block, so the cluster answers 429 for that item on every try while it takes the others. The
writer retries the batch ``max_attempts`` times, then writes its events one by one and
dead-letters the one still refused (``store_failed``); the others are stored, the chunk is
acked, and the pipeline goes on to the next batch."""

from __future__ import annotations

import threading
import time

import es_support
import pytest

from collector.config import Batch
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue
from collector.metrics import Registry
from collector.service.pipeline import Pipeline
from collector.service.spool import Spool
from collector.store import es_mappings
from collector.store.elasticsearch import ElasticsearchStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

POISON_MS = 1_700_000_000_000  # a day of its own, whose index is blocked


class Recorder:
    name = "rec"

    def commit(self) -> None:
        pass


def event(n: int, at: int) -> Event:
    return Event(timestamp_ms=at, dataset="generic.json", platform="generic",
                 message=f"m{n}", id=f"poison-test-{n}", ingested_ms=at)


def test_poison_event_is_dead_lettered_after_max_attempts(tmp_path, es, es_url, es_index_prefix):
    prefix = f"{es_index_prefix}poison"
    store = ElasticsearchStore(es_url, index_prefix=prefix, retry_attempts=2,
                               retry_initial_s=0.05)
    store.setup()
    blocked = es_mappings.daily(store.names.events, POISON_MS)
    es.indices.create(index=blocked)
    es.indices.put_settings(index=blocked,
                            settings={"index.blocks.read_only_allow_delete": True})
    try:
        now = int(time.time() * 1000)
        acked: list[str] = []
        q = ChunkQueue(4)
        q.offer(Chunk("rec", [event(1, now), event(2, POISON_MS), event(3, now)], 3, 30,
                      ack=lambda: acked.append("first")), 0)
        q.offer(Chunk("rec", [event(4, now)], 1, 10, ack=lambda: acked.append("second")), 0)
        pipeline = Pipeline(store, q, [Recorder()], Batch(max_events=3, flush_interval_ms=20),
                            Registry(), backoff_start_s=0.01, spool=Spool(tmp_path / "spool"),
                            max_attempts=3)
        assert pipeline.run(threading.Event(), lambda: True) is True
    finally:
        es.indices.put_settings(index=blocked,
                                settings={"index.blocks.read_only_allow_delete": None})
        store.close()

    assert acked == ["first", "second"]
    assert pipeline.store_errors.value("events") == 3
    assert pipeline.dead.value("store_failed") == 1 and pipeline.indexed.total() == 3
    assert es_support.count(es, f"{prefix}-events-*") == 3
    (hit,) = es_support.search(es, index=f"{prefix}-deadletter-*")["hits"]["hits"]
    assert hit["_source"]["reason"].startswith("store_failed: ")
    assert "429" in hit["_source"]["reason"] and hit["_source"]["stage"] == "store"
    assert "poison-test-2" in hit["_source"]["raw"]
    assert not list((tmp_path / "spool").glob("*.seg")), "a refusal is no outage: nothing spooled"
