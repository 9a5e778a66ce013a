"""An absence rule's ``active`` business calendar against the real SQLite store and the real
Elasticsearch: the silence before the calendar opens is normal, so the first window of the
working day (which reaches back into the night) must not page a flow that starts on time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from paging_support import paging_stores  # noqa: F401 (the fixture "store")
from rules_stores import rules_config, write

from collector.event import Event, event_id
from collector.store.base import Store
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



def test_the_working_day_opens_without_a_page_and_a_silence_in_it_pages(store: Store,
                                                                         tmp_path: Path):
    # payroll sends every 10 minutes from 08:00 Berlin until 10:00, then stops.
    events = [Event(OPENS + i * 10 * MIN, "mulesoft.log", "mulesoft", "m",
                    id=event_id("absence-calendar", str(i)), flow="payroll")
              for i in range(12)]
    write(store, events)
    engine = Engine(rules_config(tmp_path, RULES), store)
    firing = []
    for at in range(OPENS - 30 * MIN, OPENS + 4 * 60 * MIN, 5 * MIN):
        if any(a.state == "firing" for a in engine.evaluate(at).alerts):
            firing.append((at - OPENS) // MIN)
    # Not at 08:00 (the hour before it is night); the last event is at 09:50, the first
    # whole hour without one is [09:55, 10:55), and it stays firing from then on.
    assert firing == list(range(175, 240, 5)), firing


DAY = int(datetime(2024, 4, 2, 0, 0, tzinfo=UTC).timestamp() * 1000)  # a Tuesday, 00:00Z


@pytest.mark.parametrize(("hours", "window", "every", "firing"), [
    # a half-hour calendar and a 1h window: judged from the close for one window length
    ("09:00-09:30", "1h", 5, list(range(9 * 60 + 30, 10 * 60 + 1, 5))),
    # business hours and a 12h window: the whole silent day pages at its close
    ("09:00-17:00", "12h", 30, list(range(17 * 60, 21 * 60 + 1, 30))),
])
def test_a_window_longer_than_the_active_range_pages_a_silent_range(
        store: Store, tmp_path: Path, hours: str, window: str, every: int, firing: list[int]):
    # "quiet" never sends; "busy" sends once inside the active range and is never paged.
    write(store, [Event(DAY + 9 * 60 * MIN + 10 * MIN, "mulesoft.log", "mulesoft", "m",
                        id=event_id("absence-short-range", hours), flow="busy")])
    rules = f"""\
rules:
  - {{name: silent, type: absence, group_by: [midwatch.flow], window: {window},
     expected: [{{midwatch.flow: quiet}}, {{midwatch.flow: busy}}],
     active: {{hours: ["{hours}"]}}}}
"""
    engine = Engine(rules_config(tmp_path, rules), store)
    seen: dict[str, list[int]] = {"quiet": [], "busy": []}
    for minute in range(8 * 60, 23 * 60, every):
        for a in engine.evaluate(DAY + minute * MIN).alerts:
            if a.state == "firing":
                seen[a.labels["flow"]].append(minute)
    assert seen == {"quiet": firing, "busy": []}, seen
