"""Calendar windows: when a rule's pages are muted, and when a flow is expected to be active.

Integration traffic follows business calendars (a partner sends invoices on weekdays 08-18,
not on bank holidays), so "no events" only means trouble inside the window where events are
expected. One model serves both uses: ``mute`` windows and the ``active`` schedule of absence
rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.config_values import Section

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = ("days", "hours", "timezone", "dates", "except_dates")
_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """All given conditions must hold; an empty condition holds always.

    ``hours`` are [start, end) minute-of-day ranges; ``end`` <= ``start`` wraps past midnight.
    """

    days: frozenset[int] = frozenset()
    hours: tuple[tuple[int, int], ...] = ()
    timezone: str = "UTC"
    dates: frozenset[date] = frozenset()
    except_dates: frozenset[date] = frozenset()

    def contains(self, at_ms: int) -> bool:
        local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(ZoneInfo(self.timezone))
        day = local.date()
        if day in self.except_dates or (self.dates and day not in self.dates):
            return False
        if self.days and local.weekday() not in self.days:
            return False
        minute = local.hour * 60 + local.minute
        return not self.hours or any(_in_range(minute, lo, hi) for lo, hi in self.hours)


def _in_range(minute: int, lo: int, hi: int) -> bool:
    return lo <= minute < hi if lo < hi else minute >= lo or minute < hi


def parse_window(s: Section) -> TimeWindow:
    tz = s.text("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise s.error("timezone", f"unknown time zone {tz!r}",
                      "use an IANA name like Europe/Berlin or UTC") from None
    days: set[int] = set()
    for name in s.str_list("days"):
        if name.lower()[:3] not in DAYS:
            raise s.error("days", f"unknown day {name!r}", f"expected {', '.join(DAYS)}")
        days.add(DAYS.index(name.lower()[:3]))
    hours = []
    for text in s.str_list("hours"):
        m = _HOURS_RE.match(text)
        if not m or int(m[1]) > 24 or int(m[3]) > 24 or int(m[2]) > 59 or int(m[4]) > 59:
            raise s.error("hours", f"expected HH:MM-HH:MM, got {text!r}", "e.g. 08:00-18:00")
        hours.append((int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])))
    return TimeWindow(frozenset(days), tuple(hours), tz, _dates(s, "dates"),
                      _dates(s, "except_dates"))


def _dates(s: Section, key: str) -> frozenset[date]:
    raw = s.raw(key, [])
    if not isinstance(raw, list):
        raise s.error(key, "expected a list of dates like 2024-12-25")
    out = set()
    for item in raw:
        try:
            out.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
        except ValueError:
            raise s.error(key, f"expected a date like 2024-12-25, got {item!r}") from None
    return frozenset(out)
