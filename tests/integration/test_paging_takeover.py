"""A rules leader whose alert-state write failed once, then killed, and the process taking the
lease over, on the real stores (SQLite file and Elasticsearch; in-process schedulers, their
clock and lease renewals stepped by the test): the new leader restores what the old one
decided, so a page delivered before the kill is not sent again.

The fault is a real refusal of the state write after the page went into the outbox (a SQLite
trigger; an Elasticsearch write block on the state index, as a disk past the flood-stage
watermark sets one). The pass that hit it is skipped; the next pass, with the store writable
again, must save the state it could not. When it did not (the alert had not moved since, so
its rule was not written), the stored state lacked the open alert: the new leader's first
pass, looking back to the old one's last run, found the event still in the window and paged
again, the duplicate ``test_paging_ha`` saw after a leader kill -9.

The local receiver stands in for a webhook (a contract stand-in); store and lease are real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pytest
from paging_support import Receiver, paging_store, rules_yaml

from collector.event import Event
from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.scheduler import RuleScheduler

pytestmark = pytest.mark.integration

TTL_MS = 10_000


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path):
    s = paging_store(request, tmp_path)
    yield s
    s.close()


@contextmanager
def refusing_alert_state(store) -> Iterator[None]:
    """Alert-state writes refused by the store itself while inside (reads and the outbox go on)."""
    if isinstance(store, ElasticsearchStore):
        index = store.names.state
        store._client.indices.put_settings(index=index, settings={"index.blocks.write": True})
        try:
            yield
        finally:
            store._client.indices.put_settings(index=index, settings={"index.blocks.write": None})
        return
    with store._tx() as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON state WHEN NEW.namespace = 'alerts' "
                   "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        db.execute("CREATE TRIGGER refuse_delete BEFORE DELETE ON state "
                   "WHEN OLD.namespace = 'alerts' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    try:
        yield
    finally:
        with store._tx() as db:
            db.execute("DROP TRIGGER refuse")
            db.execute("DROP TRIGGER refuse_delete")


def _schedulers(store, tmp_path, name: str, hook: Receiver, ttl_ms: int, now: list[int]
                ) -> tuple[RuleScheduler, RuleScheduler]:
    """Two processes' schedulers on one store, on the test's clock ``now[0]``; one rule that
    fires while the flow ``name``'s event is in its 5-minute window."""
    (tmp_path / "rules.yaml").write_text(rules_yaml([name], window="5m", run=name))
    cfg = load_rules_config(loads(
        f"rules: {{paths: ['{tmp_path / 'rules.yaml'}'], interval: 1s, lease_ttl: {ttl_ms}ms, "
        f"notify: [hook]}}\nnotifiers: {{hook: {{type: webhook, url: '{hook.url}/hook'}}}}\n"))
    assert not cfg.errors, cfg.errors
    store.write_events([Event(now[0], "app.log", "generic", f"{name} failed", id=f"{name}-e",
                              flow=name, outcome="failure")])
    store.refresh()
    return RuleScheduler(cfg, store, clock=lambda: now[0]), RuleScheduler(cfg, store,
                                                                          clock=lambda: now[0])


def _pass(store, s: RuleScheduler, now: list[int], at_ms: int, *, refused: bool = False) -> None:
    """One rule pass of ``s`` at ``at_ms`` (its lease renewed first), then one delivery pass."""
    now[0] = at_ms
    assert s.leadership.renew()  # (on Elasticsearch the lease lives in the state index)
    with refusing_alert_state(store) if refused else nullcontext():
        s.tick(at_ms)
    assert s.leadership.renew()  # a slow pass must not let the delivery pass find it lapsed
    s.delivery.deliver("hook")


def _killed_after_its_outbox_write(store, old: RuleScheduler, now: list[int], at_ms: int) -> None:
    """A pass of ``old`` at ``at_ms`` whose state write is refused, then no more (kill -9):
    what it decided is in the outbox, nothing of it sent."""
    now[0] = at_ms
    assert old.leadership.renew()
    with refusing_alert_state(store):
        old.tick(at_ms)


def _take_over(new: RuleScheduler, now: list[int], at_ms: int) -> None:
    """``new`` takes the lease at ``at_ms``; its worker sends before its first rule pass, as
    a new holder's does, and once after it."""
    now[0] = at_ms
    assert new.leadership.renew()
    new.delivery.deliver("hook")
    new.tick(at_ms)
    new.delivery.deliver("hook")


def test_a_state_write_refused_once_is_saved_later_so_the_next_leader_does_not_page_again(
        store, tmp_path, unique_name):
    ttl_ms = 60_000  # no renewal is ever late here: only the takeover restores
    hook = Receiver()
    t0 = time.time_ns() // 1_000_000
    now = [t0]
    old, new = _schedulers(store, tmp_path, unique_name, hook, ttl_ms, now)
    try:
        _pass(store, old, now, t0 + 1_000, refused=True)  # fires: paged, its state refused
        assert [a.state for a in old.engine.alerts.values()] == ["firing"]
        assert store.get_state("alerts") == {}, "the fault did not refuse the state write"
        (key,) = old.engine.alerts
        assert hook.accepted() == {(key, "firing"): 1}
        _pass(store, old, now, t0 + 2_000)  # the store takes writes again; the alert is unchanged

        # The old leader is killed -9: no more renewals; the new one takes over once the
        # stored lease has run out, restores the alert state and evaluates.
        _pass(store, new, now, t0 + 2_000 + ttl_ms + 1)
        assert new.leadership.token == old.leadership.token + 1
        assert [a.state for a in new.engine.alerts.values()] == ["firing"]
        assert hook.accepted() == {(key, "firing"): 1}, "paged again after the takeover"
        assert store.get_state("alerts") != {}, "the refused state write was not made again"
        _pass(store, new, now, t0 + 302_000 + ttl_ms)  # the event left the window: resolved
        assert hook.accepted() == {(key, "firing"): 1, (key, "resolved"): 1}
    finally:
        hook.close()


def test_a_leader_renewing_late_keeps_the_state_it_could_not_save(store, tmp_path, unique_name):
    """Its renewals late past the lease's local validity (a loaded machine, a long GC) but
    nobody took over, the leader holds the lease again with the same token: what it decided
    stands, though the store still lacks it; reading the store back paged again."""
    ttl_ms = 10_000  # held 8 s after a renewal: long enough for the fault and the pass
    hook = Receiver()
    t0 = time.time_ns() // 1_000_000
    now = [t0]
    leader, _ = _schedulers(store, tmp_path, unique_name, hook, ttl_ms, now)
    try:
        _pass(store, leader, now, t0 + 1_000, refused=True)
        (key,) = leader.engine.alerts
        token = leader.leadership.token
        time.sleep(ttl_ms / 1000)
        assert not leader.leadership.held()
        _pass(store, leader, now, t0 + 2_000)
        assert leader.leadership.token == token
        assert hook.accepted() == {(key, "firing"): 1}, "paged again by the same leader"
        assert store.get_state("alerts") != {}
    finally:
        hook.close()


def test_a_leader_killed_between_its_outbox_and_state_writes_is_paged_once(store, tmp_path,
                                                                           unique_name):
    """The old leader's last pass put the page into the outbox and was killed before its
    state write (here: the write refused, then no more passes). The new holder's workers run
    from the takeover on, its first pass later (1.9 s after a takeover in test_paging_ha at
    load 13); that pass, from the state without the page, decided it again and it was sent
    a second time."""
    ttl_ms = 60_000
    hook = Receiver()
    t0 = time.time_ns() // 1_000_000
    now = [t0]
    old, new = _schedulers(store, tmp_path, unique_name, hook, ttl_ms, now)
    try:
        _killed_after_its_outbox_write(store, old, now, t0 + 1_000)  # its page
        (key,) = old.engine.alerts
        _take_over(new, now, t0 + 1_000 + ttl_ms + 1)
        assert hook.accepted() == {(key, "firing"): 1}
    finally:
        hook.close()


def test_a_leader_killed_between_its_outbox_and_state_writes_of_a_resolve_resolves_once(
        store, tmp_path, unique_name):
    """The same kill when the old leader's last pass resolved a page it had sent: its resolve
    is in the outbox, its state still says firing. The new holder's workers send that resolve;
    its first pass, from the old state, resolved the alert again and sent a second resolve."""
    hook, t0 = Receiver(), time.time_ns() // 1_000_000
    now = [t0]
    old, new = _schedulers(store, tmp_path, unique_name, hook, 60_000, now)
    try:
        _pass(store, old, now, t0 + 1_000)  # fires, paged, saved
        (key,) = old.engine.alerts
        # the event left the 5-minute window: its resolve
        _killed_after_its_outbox_write(store, old, now, t0 + 302_000)
        assert old.engine.alerts == {}, "the old leader did not resolve"
        assert [a["state"] for a in store.get_state("alerts")[unique_name]["alerts"].values()
                ] == ["firing"], "the fault did not keep the old state"
        _take_over(new, now, t0 + 302_000 + 60_000 + 1)
        assert hook.accepted() == {(key, "firing"): 1, (key, "resolved"): 1}
        assert store.get_state("alerts") == {}, "the replayed resolve was not saved"
    finally:
        hook.close()


def test_alert_history_refused_for_good_does_not_hold_the_state_back(tmp_path, unique_name):
    """A history document the store refuses for good (SQLite: a trigger; on Elasticsearch a
    mapping conflict) stayed owed and was written first each pass, so every later pass's
    alert state and last run went unwritten: a takeover restored without the open alert and
    paged again (review S 2). The state is written; the history stays owed, bounded."""
    from collector.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "mw.sqlite")
    store.setup()
    hook = Receiver()
    t0 = time.time_ns() // 1_000_000
    now = [t0]
    old, new = _schedulers(store, tmp_path, unique_name, hook, 60_000, now)
    with store._tx() as db:
        db.execute("CREATE TRIGGER refuse_history BEFORE INSERT ON alerts "
                   "BEGIN SELECT RAISE(ABORT, 'mapping conflict'); END")
    try:
        _pass(store, old, now, t0 + 1_000)  # fires and pages; its history refused
        (key,) = old.engine.alerts
        assert hook.accepted() == {(key, "firing"): 1}
        assert store.get_state("alerts") != {}, "the refused history held the state back"
        _pass(store, new, now, t0 + 1_000 + 60_001)  # the old leader killed: a takeover
        assert hook.accepted() == {(key, "firing"): 1}, "paged again after the takeover"
    finally:
        hook.close()
        store.close()
