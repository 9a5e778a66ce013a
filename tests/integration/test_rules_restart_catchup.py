"""A burst while the rules engine was down still fires after the restart (issue 26): each
rule's last evaluation is saved with the alert state, and the first evaluation after a
restart looks back to it (at most the window plus ``CATCH_UP_MS``), not one interval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.event import Event, event_id, iso_to_ms
from collector.store.base import Store
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import CATCH_UP_MS, RUNS_KEY, RUNS_NAMESPACE, Engine

RULES = """\
rules:
  - {name: burst, type: threshold, filter: {event.outcome: failure}, group_by: [midwatch.flow],
     window: 5m, above: 5}
"""


def at(t: str) -> int:
    return iso_to_ms(f"2024-03-04T{t}Z")


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path, unique_name) -> Iterator[Store]:
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "rules.sqlite")
        s.setup()
        yield s
        s.close()
    else:
        with request.getfixturevalue("engine_store")(request.param, f"{unique_name}-") as s:
            yield s


def _engine(store: Store, tmp_path: Path, *, persist: bool = True) -> Engine:
    (tmp_path / "r.yaml").write_text(RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/r.yaml]\n  interval: 30s\n"))
    assert not cfg.errors, cfg.errors
    return Engine(cfg, store, persist=persist)


def _fired(engine: Engine, when: int) -> set[tuple]:
    outcome = engine.evaluate(when)
    assert not outcome.failed_rules
    return {(a.rule, a.labels.get("flow"), a.state, a.value) for a in outcome.alerts}


def test_a_burst_during_a_restart_fires_after_it(store: Store, tmp_path: Path):
    # six failures in 09:02:10-09:06:00, all while the engine was down (09:01 to 09:12)
    start = at("09:02:10")
    events = [Event(start + i * 46_000, "mule.log", "mulesoft", "refused", outcome="failure",
                    id=event_id("catchup-it", str(i)), flow="o2c") for i in range(6)]
    assert not store.write_events(events).rejected
    store.refresh()
    before = _engine(store, tmp_path)
    assert _fired(before, at("09:00:30")) == set()
    assert _fired(before, at("09:01:00")) == set()
    store.refresh()
    assert store.get_state(RUNS_NAMESPACE)[RUNS_KEY] == {"last_run": {"burst": at("09:01:00")}}

    # Without the saved last run (a fresh store's first evaluation) the window ending at
    # 09:12 is empty: the burst would be missed.
    forgetful = _engine(store, tmp_path, persist=False)
    assert _fired(forgetful, at("09:12:00")) == set()

    after = _engine(store, tmp_path)
    after.restore(at("09:12:00"))
    assert after.last_run == {"burst": at("09:01:00")}
    # the burst starts the alert; the window ending now (empty) decides it at the next tick
    assert _fired(after, at("09:12:00")) == {("burst", "o2c", "firing", 6.0)}
    assert _fired(after, at("09:12:30")) == {("burst", "o2c", "resolved", 6.0)}


def test_the_catch_up_is_bounded(store: Store, tmp_path: Path):
    engine = _engine(store, tmp_path)
    engine.evaluate(at("09:00:00"))
    store.refresh()
    later = _engine(store, tmp_path)
    day_after = at("09:00:00") + 86_400_000
    later.restore(day_after)
    assert later.last_run == {"burst": day_after - 5 * 60_000 - CATCH_UP_MS}
