"""A rule whose group list comes back full (``max_groups``) against the real SQLite store and
the real Elasticsearch: the groups past the cap are not in the answer, and a firing alert
whose group fell out of it is not evidence that its condition cleared."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.event import Event, event_id
from collector.store.base import Store
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine

T0 = 1_709_546_400_000  # Monday 2024-03-04T10:00:00Z
MIN = 60_000

RULES = """\
rules:
  - {name: failing, type: ratio, group_by: [midwatch.flow], where: {event.outcome: failure},
     above: 0.5, min_events: 5, window: 10m, max_groups: 2}
"""


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path, unique_name) -> Iterator[Store]:
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "rules.sqlite")
        s.setup()
        yield s
        s.close()
    else:
        with request.getfixturevalue("engine_store")(request.param, f"hunt8-{unique_name}-") as s:
            yield s


def _ev(i: int, ts: int, flow: str, failed: bool) -> Event:
    return Event(ts, "mulesoft.log", "mulesoft", "m", outcome="failure" if failed else "success",
                 level="error" if failed else "info", id=event_id("group-cap", str(i)),
                 flow=flow, message_id=f"{flow}-{i}")


def _engine(store: Store, tmp_path: Path) -> Engine:
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/rules.yaml]\n"))
    assert not cfg.errors, cfg.errors
    return Engine(cfg, store)


def _write(store: Store, events: list[Event]) -> None:
    result = store.write_events(events)
    assert result.written == len(events) and not result.rejected
    store.refresh()


def test_a_firing_group_pushed_past_the_cap_is_not_resolved(store: Store, tmp_path: Path,
                                                             caplog):
    # c: every one of its 10 events failed, all within the window for the whole test.
    _write(store, [_ev(i, T0 - 9 * MIN + i * 1000, "c", True) for i in range(10)])
    engine = _engine(store, tmp_path)
    first = engine.evaluate(T0)
    assert [(a.labels, a.state) for a in first.alerts] == [({"flow": "c"}, "firing")]
    # Two busy healthy flows push c out of the two largest groups; its ratio is still 100%.
    _write(store, [_ev(100 * n + i, T0 + i * 100, flow, False)
                   for n, flow in ((1, "a"), (2, "b")) for i in range(50)])
    with caplog.at_level(logging.WARNING, logger="midwatch.rules"):
        later = engine.evaluate(T0 + MIN)
    assert [(a.labels, a.state) for a in later.alerts if a.labels == {"flow": "c"}] == [
        ({"flow": "c"}, "firing")]
    assert not [n for _, n in later.notified if n.action == "resolved"]
    # ...and the operator is told the answer was cut, with the key to raise.
    assert any("failing" in r.getMessage() and "max_groups" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    # Once c's failures have left the window (a and b still fill the cap) it does resolve.
    _write(store, [_ev(1000 * n + i, T0 + 10 * MIN + i * 100, flow, False)
                   for n, flow in ((1, "a"), (2, "b")) for i in range(50)])
    done = engine.evaluate(T0 + 11 * MIN)
    assert [(a.labels, a.state) for a in done.alerts if a.labels == {"flow": "c"}] == [
        ({"flow": "c"}, "resolved")]
