"""Outbox retention on the real stores (SQLite file and Elasticsearch): finished records
(delivered, superseded, expired, failed) older than ``outbox_retention`` are deleted, at most
a bounded number per sweep; pending and younger records stay; deletions are counted in
``/metrics``; a process that is not the lease holder deletes nothing."""

from __future__ import annotations

import pytest
from paging_support import paging_store

from collector.metrics import Registry
from collector.store.paging import outbox_for
from rules import outbox
from rules.delivery import Delivery
from rules.notify.base import Notification

pytestmark = pytest.mark.integration
DAY = 86_400_000
NOW = 100 * DAY
POLICY = outbox.Policy(expire_ms=DAY, retention_ms=7 * DAY)


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path):
    s = paging_store(request, tmp_path)
    yield s
    s.close()


def _record(i: int, state: str, created_ms: int) -> dict:
    n = Notification(action="firing", rule="o2c-failures", key=f"k{i}", severity="critical",
                     labels={"flow": "o2c"}, annotations={}, value=1.0, starts_ms=created_ms,
                     at_ms=created_ms, expires_ms=created_ms + 60_000)
    return {**outbox.new_record("hook", n, created_ms), "state": state}


def test_finished_records_past_retention_are_deleted_in_bounded_sweeps(store):
    box = outbox_for(store)
    old = NOW - 8 * DAY
    box.put([_record(i, state, old) for i, state in enumerate(
        ["delivered", "delivered", "superseded", "expired", "failed", "pending"])]
        + [_record(10, "delivered", NOW - 6 * DAY), _record(11, "pending", NOW)])
    fenced = Delivery([], box, lambda docs: None, policy=POLICY, clock=lambda: NOW,
                      fence=lambda: False)
    assert fenced.sweep() == 0  # not the lease holder: nothing deleted
    d = Delivery([], box, lambda docs: None, policy=POLICY, clock=lambda: NOW)
    registry = Registry()
    d.expose(registry)
    assert d.sweep(limit=3) == 3  # bounded per sweep
    assert d.sweep(limit=3) == 2
    assert d.sweep(limit=3) == 0
    left = sorted((r["key"], r["state"]) for r in box.of_rule("o2c-failures", 50))
    assert left == [("k10", "delivered"), ("k11", "pending"), ("k5", "pending")]
    assert "midwatch_notification_outbox_purged_total 5" in registry.expose()
    counts, _ = box.summary()
    assert counts == {("hook", "delivered"): 1, ("hook", "pending"): 2}
