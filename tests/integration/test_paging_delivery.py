"""The notification outbox and the evaluator lease on the real stores (SQLite file and
Elasticsearch): a receiver down then healthy gets each page once; a 400 fails at once and is
recorded for the self-alert; a resolve arriving while its firing is undelivered cancels both;
exactly one of two processes holds the lease, and a takeover increments the fencing token."""

from __future__ import annotations

import time

import pytest
from faults_support import wait_for
from paging_support import Receiver, paging_store

from collector.metrics import Registry
from collector.store.paging import lease_for, outbox_for
from rules.delivery import Delivery
from rules.notify import webhook
from rules.notify.base import Notification
from rules.outbox import Policy

pytestmark = pytest.mark.integration
FAST = Policy(first_backoff_ms=50, max_backoff_ms=300, expire_ms=60_000)


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path):
    s = paging_store(request, tmp_path)
    yield s
    s.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _n(action: str, key: str, at_ms: int) -> Notification:
    return Notification(action=action, rule="o2c-failures", key=key, severity="critical",
                        labels={"flow": "o2c"}, annotations={"summary": "o2c failing"},
                        value=0.2, starts_ms=at_ms, at_ms=at_ms, expires_ms=at_ms + 60_000)


def _delivery(store, receiver: Receiver, **kw) -> Delivery:
    hook = webhook.Webhook("hook", webhook.Options(f"{receiver.url}/alerts"))
    history: list[dict] = []
    d = Delivery([hook], outbox_for(store), history.extend, policy=FAST, poll_s=0.05, **kw)
    d.history = history  # type: ignore[attr-defined]
    return d


def test_down_then_healthy_delivers_each_page_once(store, receiver):
    receiver.status = 503
    d = _delivery(store, receiver)
    registry = Registry()
    d.expose(registry)
    d.start()
    try:
        for i in range(5):
            d.submit(["hook"], _n("firing", f"k{i}", 1_000 + i))
        d.flush()
        wait_for(lambda: sum(h["state"] == "notify_retry" for h in d.history) >= 5, 20,
                 "failed attempts to be reported", lambda: str(d.history))
        receiver.status = 202
        healthy = time.monotonic()
        wait_for(lambda: len(receiver.accepted()) == 5, 20, "all five delivered")
        latency = max(t for t, _ in receiver.requests) - healthy
        assert latency < FAST.max_backoff_ms / 1000 + 1.5  # within the backoff bound
        time.sleep(0.5)  # quiet period: nothing more may arrive
        assert set(receiver.accepted().values()) == {1}
        text = registry.expose()
        assert 'midwatch_notifications_total{notifier="hook",action="firing",result="delivered"} 5' \
            in text
        assert 'result="retry"' in text
        assert 'midwatch_notification_outbox{notifier="hook",state="delivered"} 5' in text
    finally:
        d.stop()


def _firing(store, receiver: Receiver, status: int, **kw) -> Delivery:
    """A started delivery that was handed one firing while the receiver answers ``status``."""
    receiver.status = status
    d = _delivery(store, receiver, **kw)
    d.start()
    d.submit(["hook"], _n("firing", "k", 1_000))
    d.flush()
    return d


def test_bad_request_fails_at_once_and_is_recorded(store, receiver):
    d = _firing(store, receiver, 400)
    try:
        wait_for(lambda: any(h["state"] == "notify_failed" for h in d.history), 30,
                 "the failure to be recorded")
        (failed,) = [h for h in d.history if h["state"] == "notify_failed"]
        assert failed["attempts"] == 1 and "HTTP 400" in failed["error"]
        (rec,) = outbox_for(store).of_rule("o2c-failures", 10)
        assert rec["state"] == "failed" and rec["log"][0]["answer"].startswith("webhook (hook)")
    finally:
        d.stop()


def test_resolve_while_firing_undelivered_sends_nothing(store, receiver):
    d = _firing(store, receiver, 503)
    try:
        wait_for(lambda: outbox_for(store).of_rule("o2c-failures", 5)[0]["attempts"] >= 1, 30,
                 "a failed first attempt")
        d.submit(["hook"], _n("resolved", "k", 2_000))
        d.flush()
        wait_for(lambda: {r["state"] for r in outbox_for(store).of_rule("o2c-failures", 5)}
                 == {"superseded"}, 10, "both superseded")
        receiver.status = 202
        time.sleep(0.5)  # ten worker polls with the receiver up: nothing may be sent
        assert receiver.accepted() == {}
    finally:
        d.stop()


def test_fenced_delivery_sends_nothing(store, receiver):
    d = _firing(store, receiver, 202, fence=lambda: False)
    try:
        time.sleep(0.5)  # the window in which an unfenced worker delivers (it polls at 50 ms)
        assert receiver.accepted() == {}
        assert outbox_for(store).pending("hook", 10)[0]["attempts"] == 0
    finally:
        d.stop()


def test_one_lease_holder_and_takeover_increments_the_token(store):
    leases = lease_for(store)
    first = leases.acquire("rules", "a", 1_000, 10_000)
    assert first is not None and first.token == 1
    assert leases.acquire("rules", "b", 1_000, 10_500) is None  # held, unexpired
    renewed = leases.acquire("rules", "a", 1_000, 10_600)
    assert renewed is not None and renewed.token == 1
    taken = leases.acquire("rules", "b", 1_000, 11_700)  # a's lease ran out at 11 600
    assert taken is not None and taken.token == 2
    assert leases.acquire("rules", "a", 1_000, 11_800) is None
    leases.release("rules", "b")
    again = leases.acquire("rules", "a", 1_000, 11_900)
    assert again is not None and again.token == 3
