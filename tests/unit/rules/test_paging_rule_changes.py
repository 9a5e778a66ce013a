"""Rule changes never orphan an incident (real SQLite store, real engine; notifications
captured before any notifier): a removed or disabled rule's firing alerts are resolved at
the next start and the resolve goes where the firing went; a changed ``group_by`` resolves
the old groups. Plus the scheduler's own series in ``/metrics``."""

from __future__ import annotations

import pytest

from collector.event import Event, event_id
from collector.metrics import Registry
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine
from rules.scheduler import RuleScheduler

T0 = 1_709_546_400_000
MIN = 60_000
NOTIFIERS = ("notifiers:\n  pd: {type: webhook, url: 'http://127.0.0.1:9/pd'}\n"
             "  chat: {type: webhook, url: 'http://127.0.0.1:9/chat'}\n")


class _Pages:
    def __init__(self) -> None:
        self.sent: list[tuple[tuple[str, ...], str, str, dict]] = []

    def submit(self, names, n) -> None:
        self.sent.append((tuple(names), n.rule, n.action, n.labels))

    def flush(self) -> bool:
        """Captured as submitted."""
        return True


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "s.sqlite")
    s.setup()
    s.write_events([Event(T0 - MIN, "app.log", "generic", "x", id=event_id("rc", str(i)),
                          flow="o2c", stage=f"s{i}", level="error") for i in range(2)])
    yield s
    s.close()


def _engine(store, tmp_path, rules: str) -> tuple[Engine, _Pages]:
    (tmp_path / "r.yaml").write_text(rules)
    cfg = load_rules_config(loads(
        f"rules: {{paths: ['{tmp_path / 'r.yaml'}'], notify: [pd]}}\n{NOTIFIERS}"))
    assert not cfg.errors, cfg.errors
    pages = _Pages()
    engine = Engine(cfg, store, dispatcher=pages)
    engine.restore(T0)
    return engine, pages


ERRORS = "  - {name: errors, type: threshold, filter: {log.level: error}, above: 0, window: 10m"


def test_removed_or_disabled_rule_resolves_where_it_fired(store, tmp_path):
    engine, pages = _engine(store, tmp_path, f"rules:\n{ERRORS}, notify: [chat]}}\n"
                                             f"  - {{name: other, type: threshold, above: 99}}\n")
    engine.evaluate(T0)
    assert pages.sent == [(("chat",), "errors", "firing", {})]
    for rules in (f"rules:\n{ERRORS}, notify: [chat], enabled: false}}\n",  # disabled
                  "rules:\n  - {name: other, type: threshold, above: 99}\n"):  # removed
        engine, pages = _engine(store, tmp_path, f"rules:\n{ERRORS}, notify: [chat]}}\n")
        engine.evaluate(T0 + MIN)  # fires again after the previous loop resolved it
        engine, pages = _engine(store, tmp_path, rules)
        # The resolve goes to chat, where the firing went, not to the default pd.
        assert pages.sent == [(("chat",), "errors", "resolved", {})], rules
        assert store.get_state("alerts") == {}


def test_changed_group_by_resolves_the_old_groups(store, tmp_path):
    engine, pages = _engine(store, tmp_path, f"rules:\n{ERRORS}, group_by: [midwatch.flow]}}\n")
    engine.evaluate(T0)
    engine, pages = _engine(store, tmp_path, f"rules:\n{ERRORS}, group_by: [midwatch.stage]}}\n")
    engine.evaluate(T0 + MIN)
    assert sorted((a, str(sorted(labels.items()))) for _, _, a, labels in pages.sent) == [
        ("firing", "[('stage', 's0')]"), ("firing", "[('stage', 's1')]"),
        ("resolved", "[('flow', 'o2c')]")]


def test_scheduler_series_in_metrics(store, tmp_path):
    (tmp_path / "r.yaml").write_text(f"rules:\n{ERRORS}}}\n")
    cfg = load_rules_config(loads(f"rules: {{paths: ['{tmp_path / 'r.yaml'}'], notify: [pd]}}\n"
                                  f"{NOTIFIERS}"))
    scheduler = RuleScheduler(cfg, store, clock=lambda: T0)
    registry = Registry()
    scheduler.expose_metrics(registry)
    assert "midwatch_rules_leader 0" in registry.expose()
    assert scheduler.leadership.renew()
    scheduler.tick(T0)
    text = registry.expose()
    assert "midwatch_rules_leader 1" in text
    assert 'midwatch_rule_evaluation_seconds_count{rule="errors"} 1' in text
    assert 'midwatch_notification_outbox{notifier="pd",state="pending"} 1' in text
    assert 'midwatch_notification_oldest_undelivered_seconds{notifier="pd"} 0' in text


def test_state_waits_until_its_pages_are_in_the_outbox(store, tmp_path):
    """The outbox write fails (a real SQLite fault: a trigger refusing inserts) while the state
    write would succeed: the state must not say "notified" for a page only memory holds, so a
    crash then pages again instead of never; once the outbox takes the page, both are saved."""
    from collector.store.paging import outbox_for
    from rules.delivery import Delivery

    (tmp_path / "r.yaml").write_text(f"rules:\n{ERRORS}}}\n")
    cfg = load_rules_config(loads(
        f"rules: {{paths: ['{tmp_path / 'r.yaml'}'], notify: [pd]}}\n{NOTIFIERS}"))
    box = outbox_for(store)
    delivery = Delivery([], box, lambda docs: None)  # no workers: nothing is sent
    with store._tx() as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                   "BEGIN SELECT RAISE(ABORT, 'outbox full'); END")
    engine = Engine(cfg, store, dispatcher=delivery)
    engine.restore(T0)
    assert [a.state for a in engine.evaluate(T0).alerts] == ["firing"]
    assert store.get_state("alerts") == {} and box.of_rule("errors", 10) == []
    assert store.get_state("rule_runs") == {}  # a restart judges this window again

    pages = _Pages()  # a restart now (saving nothing itself) pages again
    Engine(cfg, store, dispatcher=pages, persist=False).evaluate(T0 + MIN)
    assert [(r, a) for _, r, a, _ in pages.sent] == [("errors", "firing")]
    assert store.get_state("alerts") == {}

    with store._tx() as db:
        db.execute("DROP TRIGGER refuse")
    engine.evaluate(T0 + MIN)  # nothing new to notify: the buffered page and the state land
    (rec,) = box.of_rule("errors", 10)
    assert rec["action"] == "firing"
    assert store.get_state("alerts")["errors"]["alerts"]
    assert store.get_state("rule_runs")["last_run"]["last_run"]["errors"] == T0 + MIN


def test_a_removed_rule_is_resolved_once_though_deleting_its_state_failed(store, tmp_path):
    """The next start resolves the removed rule's alert (in the outbox), then the store refuses
    to delete its state (a real SQLite fault: a trigger): the resolve must not be decided a
    second time by the next pass (restoring again found the alert still stored and resolved
    it again, a second record that a worker sends after the first went out)."""
    from collector.store.paging import outbox_for

    (tmp_path / "r.yaml").write_text(f"rules:\n{ERRORS}}}\n")
    rules = f"rules: {{paths: ['{tmp_path / 'r.yaml'}'], notify: [pd]}}\n{NOTIFIERS}"
    first = RuleScheduler(load_rules_config(loads(rules)), store, clock=lambda: T0)
    assert first.leadership.renew()
    first.tick(T0)  # fires
    (tmp_path / "r.yaml").write_text("rules:\n  - {name: other, type: threshold, above: 99}\n")
    now = T0 + MIN  # past the first process's lease: the restarted one takes it
    restarted = RuleScheduler(load_rules_config(loads(rules)), store, clock=lambda: now)
    assert restarted.leadership.renew()
    with store._tx() as db:
        db.execute("CREATE TRIGGER refuse BEFORE DELETE ON state WHEN OLD.namespace = 'alerts' "
                   "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    restarted.tick(now)
    assert "errors" in store.get_state("alerts"), "the fault did not refuse the delete"
    with store._tx() as db:
        db.execute("DROP TRIGGER refuse")
    now += 1_000
    restarted.tick(now)
    decided = [(r["action"], r["notifier"]) for r in outbox_for(store).of_rule("errors", 10)]
    assert sorted(decided) == [("firing", "pd"), ("resolved", "pd")]
    assert store.get_state("alerts") == {}


def test_a_pass_whose_state_write_failed_keeps_its_alert_history(store, tmp_path):
    """The store refuses the alert-state write (a real SQLite fault: a trigger) after the page
    went to the outbox: the pass's history (the alert fired) is still written, not lost with
    the state write; the state follows with the next pass."""
    from collector.store.base import MetricQuery, StoreError

    engine, pages = _engine(store, tmp_path, f"rules:\n{ERRORS}}}\n")
    with store._tx() as db:
        db.execute("CREATE TRIGGER refuse BEFORE INSERT ON state WHEN NEW.namespace = 'alerts' "
                   "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(StoreError, match="disk full"):
        engine.evaluate(T0)
    assert [n[2] for n in pages.sent] == ["firing"]
    history = store.metric(MetricQuery("alerts", T0 - MIN, T0 + MIN, group_by=("state",)))
    assert [(r.group["state"], r.count) for r in history] == [("firing", 1)]
    with store._tx() as db:
        db.execute("DROP TRIGGER refuse")
    engine.evaluate(T0 + 1_000)
    assert "errors" in store.get_state("alerts")
