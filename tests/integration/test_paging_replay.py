"""What a new rules lease holder reads back from the outbox at takeover (``rules.replay``), on
the real stores (SQLite file and Elasticsearch; in-process schedulers, their clock and lease
renewals stepped by the test, as in ``test_paging_takeover``):

- a pass that paged more alerts than one read of the outbox returns (1,000 records: 501
  alerts to 2 notifiers) is replayed whole: the records past the first read were left out,
  and the new holder paged those alerts again, or took them as paged to one notifier only
  (whose resolve then never reached the other);
- a rule removed while its page was in the outbox but not in the alert state (the old leader
  killed between the two writes, the new one started without the rule) is resolved where it
  paged: it had no state document, so nothing read its records back and its incident stayed
  open for good;

Faults are the stores' own refusals: a SQLite trigger; on Elasticsearch a write block on the
state index. The local receivers stand in for webhooks (contract stand-ins); store and
lease are real.
"""

from __future__ import annotations

import time

import pytest
from paging_support import Receiver, paging_stores  # noqa: F401 (the fixture "store")
from test_paging_takeover import refusing_alert_state

from collector.event import Event, event_id
from collector.store.paging import outbox_for
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.scheduler import RuleScheduler

pytestmark = pytest.mark.integration

TTL_MS = 60_000  # no renewal is ever late here: only a takeover restores


def _config(tmp_path, name: str, hooks: dict[str, Receiver], rules: str):
    (tmp_path / f"{name}.yaml").write_text(rules)
    notifiers = "".join(f"  {k}: {{type: webhook, url: '{r.url}/hook'}}\n" for k, r in hooks.items())
    cfg = load_rules_config(loads(
        f"rules: {{paths: ['{tmp_path / f'{name}.yaml'}'], interval: 1s, lease_ttl: {TTL_MS}ms, "
        f"max_examples: 0, notify: [{', '.join(hooks)}]}}\nnotifiers:\n{notifiers}"))
    assert not cfg.errors, cfg.errors
    return cfg


def _rule(name: str, extra: str = "", above: int = 0) -> str:
    return (f"  - {{name: {name}, type: threshold, filter: {{log.level: error}}, "
            f"group_by: [midwatch.flow], above: {above}, window: 5m{extra}}}\n")


def _errors(store, at_ms: int, flows: list[str], tag: str = "") -> None:
    result = store.write_events([
        Event(at_ms, "app.log", "generic", f"{f} failed", level="error", outcome="failure",
              id=event_id("replay", f"{f}{tag}"), flow=f) for f in flows])
    assert result.written == len(flows) and not result.rejected
    store.refresh()


def _tick(s: RuleScheduler, now: list[int], at_ms: int) -> None:
    now[0] = at_ms
    assert s.leadership.renew()
    s.tick(at_ms)


def _records(store) -> int:
    counts, _ = outbox_for(store).summary()
    return sum(counts.values())


def test_a_pass_paging_more_than_one_outbox_read_is_replayed_whole(store, tmp_path,
                                                                   unique_name):
    hooks = {"hook1": Receiver(), "hook2": Receiver()}
    alerts = 501  # x 2 notifiers: 1,002 records, two past a read of 1,000
    t0 = time.time_ns() // 1_000_000
    now = [t0]
    cfg = _config(tmp_path, unique_name, hooks, "rules:\n" + _rule(unique_name))
    _errors(store, t0, [f"f{i}" for i in range(alerts)])
    old, new = (RuleScheduler(cfg, store, clock=lambda: now[0]) for _ in range(2))
    try:
        now[0] = t0 + 1_000
        assert old.leadership.renew()
        with refusing_alert_state(store):  # then killed -9: its pages are in the outbox alone
            old.tick(t0 + 1_000)
        assert len(old.engine.alerts) == alerts
        decided = _records(store)
        assert decided == 2 * alerts

        _tick(new, now, t0 + 1_000 + TTL_MS + 1)
        assert new.leadership.token == old.leadership.token + 1
        assert _records(store) == decided, "the new leader paged again"
        assert {frozenset(a.notified_to) for a in new.engine.alerts.values()} == {
            frozenset(hooks)}
        assert len(new.engine.alerts) == alerts
    finally:
        for r in hooks.values():
            r.close()


def test_a_rule_removed_with_its_page_in_the_outbox_alone_is_resolved(store, tmp_path,
                                                                      unique_name):
    hook = Receiver()
    gone, keep = f"{unique_name}-gone", f"{unique_name}-keep"
    t0 = time.time_ns() // 1_000_000
    now = [t0]
    before = _config(tmp_path, "before", {"hook": hook}, "rules:\n" + _rule(keep, above=99)
                     + _rule(gone))
    after = _config(tmp_path, "after", {"hook": hook}, "rules:\n" + _rule(keep, above=99))
    old = RuleScheduler(before, store, clock=lambda: now[0])
    new = RuleScheduler(after, store, clock=lambda: now[0])
    try:
        _tick(old, now, t0 + 1_000)  # nothing fires: the runs saved
        _errors(store, t0 + 1_500, ["o2c"])
        now[0] = t0 + 2_000
        assert old.leadership.renew()
        with refusing_alert_state(store):  # fires, then the leader is killed
            old.tick(t0 + 2_000)
        (key,) = old.engine.alerts
        assert gone not in store.get_state("alerts")

        # Started without the rule; its workers send from the takeover on (the page), its
        # first pass comes later.
        now[0] = t0 + 2_000 + TTL_MS + 1
        assert new.leadership.renew()
        new.delivery.deliver("hook")
        new.tick(now[0])
        new.delivery.deliver("hook")
        assert hook.accepted() == {(key, "firing"): 1, (key, "resolved"): 1}
    finally:
        hook.close()
