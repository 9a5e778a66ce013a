"""An absence rule's ``active`` business calendar against the real SQLite store and the real
Elasticsearch: the silence before the calendar opens is normal, so the first window of the
working day (which reaches back into the night) must not page a flow that starts on time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.event import Event, event_id
from collector.store.base import Store
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine

MIN = 60_000
# Monday 2024-04-01, the first working day after Europe/Berlin moved to summer time (UTC+2):
# 08:00 Berlin is 06:00Z.
OPENS = int(datetime(2024, 4, 1, 6, 0, tzinfo=UTC).timestamp() * 1000)

RULES = """\
rules:
  - {name: payroll-silent, type: absence, group_by: [midwatch.flow], window: 1h,
     expected: [{midwatch.flow: payroll}],
     active: {days: [mon, tue, wed, thu, fri], hours: ["08:00-18:00"], timezone: Europe/Berlin}}
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


def _engine(store: Store, tmp_path: Path) -> Engine:
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/rules.yaml]\n"))
    assert not cfg.errors, cfg.errors
    return Engine(cfg, store)


def test_the_working_day_opens_without_a_page_and_a_silence_in_it_pages(store: Store,
                                                                         tmp_path: Path):
    # payroll sends every 10 minutes from 08:00 Berlin until 10:00, then stops.
    events = [Event(OPENS + i * 10 * MIN, "mulesoft.log", "mulesoft", "m",
                    id=event_id("absence-calendar", str(i)), flow="payroll")
              for i in range(12)]
    result = store.write_events(events)
    assert result.written == len(events) and not result.rejected
    store.refresh()
    engine = _engine(store, tmp_path)
    firing = []
    for at in range(OPENS - 30 * MIN, OPENS + 4 * 60 * MIN, 5 * MIN):
        if any(a.state == "firing" for a in engine.evaluate(at).alerts):
            firing.append((at - OPENS) // MIN)
    # Not at 08:00 (the hour before it is night); the last event is at 09:50, the first
    # whole hour without one is [09:55, 10:55), and it stays firing from then on.
    assert firing == list(range(175, 240, 5)), firing
