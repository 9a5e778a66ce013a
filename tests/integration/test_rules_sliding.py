"""Sliding windows on every store: a burst the tick splits fires, the same on SQLite,
Elasticsearch and OpenSearch (the stores bucket the span; ``rules/sliding.py`` sums)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.event import Event, event_id, iso_to_ms
from collector.store.base import Store
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine

RULES = """\
rules:
  - {name: burst, type: threshold, filter: {event.outcome: failure}, group_by: [midwatch.flow],
     window: 5m, above: 5}
  - {name: share, type: ratio, group_by: [midwatch.flow], where: {event.outcome: failure},
     window: 5m, above: 0.5, min_events: 6}
  - {name: fixed-spread, type: threshold, filter: {midwatch.flow: inv}, window: 5m, above: 5}
"""


@pytest.fixture(params=["sqlite", "elasticsearch", "opensearch3"])
def store(request, tmp_path, unique_name) -> Iterator[Store]:
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "sliding.sqlite")
        s.setup()
        yield s
        s.close()
    else:
        with request.getfixturevalue("engine_store")(request.param, f"{unique_name}-") as s:
            yield s


def _events() -> list[Event]:
    out = []
    start = iso_to_ms("2024-03-04T09:02:10Z")
    for i in range(6):  # 4m50s: three failures before the 09:05 tick, three after
        out.append(Event(start + i * 58_000, "mule.log", "mulesoft", "refused", outcome="failure",
                         id=event_id("sliding-it", f"o{i}"), flow="o2c"))
    for i in range(6):  # 5m50s: no 5-minute window holds more than five
        out.append(Event(start - 10_000 + i * 70_000, "mule.log", "mulesoft", "x",
                         outcome="failure", id=event_id("sliding-it", f"i{i}"), flow="inv"))
    return out


def test_burst_split_by_the_tick_fires_on_every_store(store: Store, tmp_path: Path):
    assert not store.write_events(_events()).rejected
    store.refresh()
    (tmp_path / "r.yaml").write_text(RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/r.yaml]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, store, persist=False)

    def at(t: str) -> set[tuple]:
        outcome = engine.evaluate(iso_to_ms(f"2024-03-04T{t}Z"))
        assert not outcome.failed_rules
        return {(a.rule, a.labels.get("flow"), a.state, a.value) for a in outcome.alerts}

    assert at("09:05:00") == set()
    assert at("09:10:00") == {("burst", "o2c", "firing", 6.0), ("share", "o2c", "firing", 1.0)}
    # Judged on the window ending now (two failures): resolved, with the value it fired at.
    assert at("09:15:00") == {("burst", "o2c", "resolved", 6.0), ("share", "o2c", "resolved", 1.0)}
