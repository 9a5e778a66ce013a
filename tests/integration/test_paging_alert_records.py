"""The outbox read by alert on the real stores (SQLite file and Elasticsearch): whether a
resolve's firing reached the receiver is decided from its own alert's records, newest first,
so another busy alert of the same rule cannot push the delivered firing out of sight."""

from __future__ import annotations

import pytest
from paging_support import paging_stores  # noqa: F401 (the fixture "store")

from collector.store.paging import outbox_for
from rules import outbox
from rules.notify.base import Notification

pytestmark = pytest.mark.integration


def _record(key: str, created_ms: int, rule: str = "o2c-failures") -> dict:
    n = Notification(action="firing", rule=rule, key=key, severity="critical",
                     labels={"flow": "o2c"}, annotations={}, value=1.0, starts_ms=created_ms,
                     at_ms=created_ms, expires_ms=created_ms + 60_000)
    return outbox.new_record("hook", n, created_ms)


def test_of_rule_with_a_key_reads_that_alert_alone_newest_first(store):
    box = outbox_for(store)
    box.put([_record("k1", 1_000), _record("k1", 2_000), _record("k1", 3_000, rule="other")]
            + [_record("k2", 4_000 + i) for i in range(5)])
    assert [(r["key"], r["created_ms"]) for r in box.of_rule("o2c-failures", 3)] == [
        ("k2", 4_004), ("k2", 4_003), ("k2", 4_002)]
    assert [(r["key"], r["created_ms"]) for r in box.of_rule("o2c-failures", 3, "k1")] == [
        ("k1", 2_000), ("k1", 1_000)]
    assert box.of_rule("o2c-failures", 1, "k1")[0]["created_ms"] == 2_000
    assert box.of_rule("o2c-failures", 5, "k9") == []


def test_of_alerts_answers_as_the_reads_one_by_one(every_store):
    # 130 alerts of two rules (more than one _msearch chunk of 100), 1 to 7 records each
    # with created_ms ties between alerts, plus keys and rules with no record at all.
    box = outbox_for(every_store)
    box.put([_record(f"k{a}", 1_000 + (a % 5) * 10 + i, rule=f"r{a % 2}")
             for a in range(130) for i in range(1 + a % 7)])
    asked = [(f"r{a % 2}", f"k{a}") for a in range(130)] + [("r0", "k1"), ("r0", "none"),
                                                             ("gone", "k0")]
    for limit in (500, 3):
        one_by_one = {(rule, key): box.of_rule(rule, limit, key) for rule, key in asked}
        batched = box.of_alerts(asked, limit)
        assert batched == one_by_one
    assert box.of_alerts([], 5) == {}
    assert [len(batched[(f"r{a % 2}", f"k{a}")]) for a in range(8)] == [1, 2, 3, 3, 3, 3, 3, 1]


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_of_alerts_fails_as_the_single_read_when_the_engine_refuses_it(engine, engine_store,
                                                                       unique_name):
    # The engine's own refusal of a search (a page past the index's result window: 400) is
    # the store error of the single read, not an outage; the batched one names the alert.
    from collector.store.base import StoreError, StoreUnavailable

    with engine_store(engine, f"{unique_name}-") as store:
        box = outbox_for(store)
        box.put([_record("k1", 1_000 + i) for i in range(5)])
        store._client.indices.put_settings(index=box.index, settings={"max_result_window": 2})
        with pytest.raises(StoreError) as single:
            box.of_rule("o2c-failures", 3, "k1")
        with pytest.raises(StoreError) as batched:
            box.of_alerts([("o2c-failures", "k0"), ("o2c-failures", "k1")], 3)
        assert not isinstance(single.value, StoreUnavailable)
        assert not isinstance(batched.value, StoreUnavailable)
        assert "'k0'" in str(batched.value) and "400" in str(batched.value)


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_a_delivery_pass_reads_its_pending_resolves_alerts_in_few_requests(engine, engine_store,
                                                                           unique_name):
    # 150 alerts whose firing was delivered, each with a resolve waiting for its retry: the
    # pass reads every alert's records (nothing is due, nothing sent). Its HTTP requests are
    # counted where the store makes them (``_try``: one per attempt); it was 1 per alert.
    from rules.delivery import Delivery
    from rules.notify import webhook

    with engine_store(engine, f"{unique_name}-") as store:
        box = outbox_for(store)
        now = 10_000_000
        recs = []
        for a in range(150):
            fired = {**_record(f"k{a}", now - 1_000), "state": outbox.DELIVERED, "attempts": 1}
            n = Notification(action="resolved", rule="o2c-failures", key=f"k{a}",
                             severity="critical", labels={"flow": "o2c"}, annotations={},
                             value=1.0, starts_ms=now, at_ms=now, expires_ms=now + 3_600_000)
            recs += [fired, {**outbox.new_record("hook", n, now), "attempts": 1,
                             "next_ms": now + 3_600_000, "last_error": "HTTP 503"}]
        box.put(recs)
        hook = webhook.Webhook("hook", webhook.Options("http://127.0.0.1:9/never-called"))
        delivery = Delivery([hook], box, lambda docs: None, clock=lambda: now)
        requests = []
        real_try = store._try
        store._try = lambda fn: requests.append(fn) or real_try(fn)
        assert delivery.deliver("hook") == 0
        # refresh, pending search, real-time mget, two _msearch of 100 and 50 alerts
        assert len(requests) <= 5, len(requests)
