"""The lease's fencing token on writes, on the real stores (SQLite file and Elasticsearch): a
leader paused past its TTL while another process takes the lease over, then resumed in the
middle of its work, has its alert-state and outbox writes refused and counted, and the
store keeps what the new holder wrote."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from faults_support import wait_for
from paging_support import paging_store

from collector.metrics import Registry
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import Deposed, lease_for, outbox_for
from rules.delivery import Delivery
from rules.fencing import FencedState, Refusals
from rules.leadership import Leadership
from rules.notify.base import Notification

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path):
    s = paging_store(request, tmp_path)
    yield s
    s.close()


def _n(key: str, at_ms: int) -> Notification:
    return Notification(action="firing", rule="o2c-failures", key=key, severity="critical",
                        labels={"flow": "o2c"}, annotations={}, value=1.0, starts_ms=at_ms,
                        at_ms=at_ms, expires_ms=at_ms + 60_000)


def _writer(store, leadership: Leadership, refusals: Refusals) -> tuple[FencedState, Delivery]:
    """What a leader writes with: the engine's store and the delivery's outbox, fenced."""
    state = FencedState(lease_for(store), leadership.fence, refusals)
    delivery = Delivery([], outbox_for(store), lambda docs: None, writes_under=leadership.fence,
                        refused=lambda what: refusals.count(what))
    return state, delivery


def test_a_resumed_deposed_leader_writes_nothing(store):
    registry = Registry()
    refusals = Refusals()
    refusals.expose(registry)
    first = Leadership(lease_for(store), ttl_ms=1_000)
    assert first.renew() and first.token == 1
    state, delivery = _writer(store, first, refusals)
    state.put_state("alerts", "o2c-failures", {"alerts": {"k1": {"by": "first"}}})
    delivery.submit(["hook"], _n("k1", 1_000))
    delivery.flush()

    # The first leader is paused (no renewals); the second takes over once the TTL ran out.
    second = Leadership(lease_for(store), ttl_ms=1_000)
    wait_for(second.renew, 30, "the second process to take the lease over")
    assert second.token == 2
    new_state, new_delivery = _writer(store, second, Refusals())
    new_state.put_state("alerts", "o2c-failures", {"alerts": {"k1": {"by": "second"}}})

    # The first resumes where it was paused, mid-evaluation: both writes are refused.
    with pytest.raises(Deposed, match="held by .* with token 2"):
        state.put_state("alerts", "o2c-failures", {"alerts": {}})
    delivery.submit(["hook"], _n("k2", 2_000))
    delivery.flush()  # refused: dropped, not kept for a later flush
    assert delivery.buffer == []
    assert store.get_state("alerts") == {"o2c-failures": {"alerts": {"k1": {"by": "second"}}}}
    assert [r["key"] for r in outbox_for(store).of_rule("o2c-failures", 10)] == ["k1"]
    text = registry.expose()
    assert 'midwatch_fenced_writes_refused_total{what="state"} 1' in text
    assert 'midwatch_fenced_writes_refused_total{what="outbox"} 1' in text

    new_delivery.submit(["hook"], _n("k2", 2_000))  # the holder's writes go through
    new_delivery.flush()
    assert sorted(r["key"] for r in outbox_for(store).of_rule("o2c-failures", 10)) == ["k1", "k2"]


def test_es_document_written_by_the_new_holder_refuses_the_old_token(es_url, es_index_prefix):
    """The gap between the lease check and the write: the document's external version (from
    the token) refuses the deposed holder's write of a document the new holder wrote."""
    from collector.store.lease_es import versioned

    store = ElasticsearchStore(es_url, index_prefix=f"{es_index_prefix}mw")
    store.setup()
    try:
        first = Leadership(lease_for(store), ttl_ms=1_000)
        assert first.renew()
        second = Leadership(lease_for(store), ttl_ms=1_000)
        wait_for(second.renew, 30, "the second process to take the lease over")
        holder = FencedState(lease_for(store), second.fence, Refusals())
        holder.put_state("alerts", "r", {"alerts": {}})
        store.put_state("alerts", "r", {"alerts": {"unfenced": 1}})  # e.g. a tool's write
        holder.put_state("alerts", "r", {"alerts": {"k": 2}})  # the holder is not locked out
        meta = {"_index": store.names.state, "_id": "alerts:r", **versioned(first.fence())}
        (result,) = store._bulk([b"%s\n%s\n" % (orjson.dumps({"index": meta}),
                                                orjson.dumps({"key": "r", "doc": {}}))])
        assert result["status"] == 409
    finally:
        store.close()


class _Receiver:
    """Stands in for a notifier's receiver (contract: ``name``, ``send``): what it was sent."""

    name, kind = "hook", "webhook"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, n: Notification, owed=()) -> bytes:
        self.sent.append((n.key, n.action))
        return b"ok"


def test_firings_a_lost_lease_kept_from_being_sent_are_not_resolved_alone(store):
    """The pass marked every due firing "may have reached the receiver" in one write, then
    stopped at the lease check (the lease lost mid-pass): the unsent firings stayed marked,
    and once their resolve was decided the next holder sent the resolve alone: the page was
    lost (the HA bisect found this in test_paging_ha's failures under load)."""
    hook = _Receiver()
    holding = {"lease": True}
    delivery = Delivery([hook], outbox_for(store), lambda docs: None,
                        fence=lambda: holding["lease"] and not hook.sent)  # lost after one send
    for key in ("k1", "k2", "k3"):
        delivery.submit(["hook"], _n(key, 1_000))
    delivery.flush()
    assert delivery.deliver("hook") == 1
    (first,) = hook.sent
    unsent = {"k1", "k2", "k3"} - {first[0]}
    records = {r["key"]: r for r in outbox_for(store).of_rule("o2c-failures", 10)}
    assert [k for k in unsent if records[k].get("maybe_delivered")] == []

    # The alerts resolve before anyone sends the firings; the next pass holds the lease.
    later = Delivery([hook], outbox_for(store), lambda docs: None)
    for key in sorted(unsent):
        later.submit(["hook"], replace(_n(key, 2_000), action="resolved"))
    later.flush()
    later.deliver("hook")
    for key in unsent:
        actions = [a for k, a in hook.sent if k == key]
        assert actions in ([], ["firing", "resolved"]), (key, actions)
