"""A ``spike`` rule comparing with last week, in the week Europe/Berlin moves to summer
time, against the real SQLite store and the real Elasticsearch: a flow that runs 08:00-18:00
local time both Mondays must not page at opening because last week's 08:00 was 169 hours, not
168, earlier."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from paging_support import paging_stores  # noqa: F401 (the fixture "store")
from rules_stores import rules_config, write

from collector.event import Event, event_id
from collector.store.base import Store
from rules.engine import Engine

MIN = 60_000
BEFORE = int(datetime(2024, 3, 25, 7, 0, tzinfo=UTC).timestamp() * 1000)  # 08:00 CET
AFTER = int(datetime(2024, 4, 1, 6, 0, tzinfo=UTC).timestamp() * 1000)  # 08:00 CEST
RULE = """\
rules:
  - {{name: surge, type: spike, compare: last_week, direction: both, factor: 3,
     min_events: 10, window: 30m, group_by: [midwatch.flow]{zone}}}
"""



def _pages(store: Store, tmp_path: Path, zone: str) -> list[int]:
    engine = Engine(rules_config(tmp_path, RULE.format(zone=zone)), store, persist=False)
    out = []
    for at in range(AFTER - 30 * MIN, AFTER + 3 * 60 * MIN, 5 * MIN):
        if any(a.state == "firing" for a in engine.evaluate(at).alerts):
            out.append((at - AFTER) // MIN)
    return out


def test_last_week_is_the_same_local_time_across_dst(store: Store, tmp_path: Path):
    # The same traffic both Mondays: one event a minute from 08:00 local time.
    events = [Event(day + i * MIN, "mulesoft.log", "mulesoft", "m", flow="o2c",
                    id=event_id("spike-dst", f"{day}-{i}"))
              for day in (BEFORE, AFTER) for i in range(4 * 60)]
    write(store, events)
    assert _pages(store, tmp_path, ", timezone: Europe/Berlin") == []
    # Without the zone, last week is 168 hours back: 07:00 local, before opening, so the
    # opening ramp pages (the default, UTC, has no DST).
    assert _pages(store, tmp_path, "")[:1] == [10]  # once min_events (10) have come
