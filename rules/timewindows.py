"""Calendar windows: when a rule's pages are muted, and when a flow is expected to be active.

Integration traffic follows business calendars (a partner sends invoices on weekdays 08-18,
not on bank holidays), so "no events" only means trouble inside the window where events are
expected. One model serves both uses: ``mute`` windows and the ``active`` schedule of absence
rules. ``Recurrence`` is the one-line form silence files use for maintenance windows
("Sat 22:00-Sun 04:00 Europe/Berlin"): operators write them the way change calendars do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.config_values import Section
from collector.event import iso_to_ms

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KEYS = ("days", "hours", "timezone", "dates", "except_dates")
_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_RECURRENCE_RE = re.compile(r"^\s*(?:([A-Za-z]{3})\w*\s+)?(\d{1,2}):(\d{2})\s*-\s*"
                            r"(?:([A-Za-z]{3})\w*\s+)?(\d{1,2}):(\d{2})(?:\s+(\S+))?\s*$")
WEEK_MINUTES = 7 * 1440


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


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A window that comes back every day (``22:00-04:00``) or every week
    (``Sat 22:00-Sun 04:00``), in wall-clock time of ``timezone`` so it stays put across DST.

    ``start``/``end`` are minutes of the day or of the week (Monday 00:00 = 0); ``end`` <=
    ``start`` wraps (past midnight, past Sunday).
    """

    start: int
    end: int
    weekly: bool
    timezone: str
    text: str

    def contains(self, at_ms: int) -> bool:
        local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute + (local.weekday() * 1440 if self.weekly else 0)
        return _in_range(minute, self.start, self.end)


def parse_recurrence(text: str, timezone: str = "UTC") -> Recurrence:
    """``[DAY] HH:MM-[DAY] HH:MM [TIMEZONE]``: both days (weekly) or neither (daily); a zone
    in the text wins over ``timezone``. ValueError says what is wrong and shows the form."""
    m = _RECURRENCE_RE.match(text)
    form = "expected e.g. 'Sat 22:00-Sun 04:00 Europe/Berlin' or '22:00-04:00'"
    if not m or int(m[2]) > 23 or int(m[5]) > 24 or int(m[3]) > 59 or int(m[6]) > 59:
        raise ValueError(f"{form}, got {text!r}")
    day1, day2, tz = (m[1] or "").lower(), (m[4] or "").lower(), m[7] or timezone
    if bool(day1) != bool(day2) or (day1 and (day1 not in DAYS or day2 not in DAYS)):
        raise ValueError(f"{form}: give both days (of {', '.join(DAYS)}) or neither, "
                         f"got {text!r}")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name like Europe/Berlin") from None
    weekly = bool(day1)
    start = int(m[2]) * 60 + int(m[3]) + (DAYS.index(day1) * 1440 if weekly else 0)
    end = int(m[5]) * 60 + int(m[6]) + (DAYS.index(day2) * 1440 if weekly else 0)
    if start == end:
        raise ValueError(f"{form}: the window {text!r} is empty")
    return Recurrence(start, end, weekly, tz, text.strip() if m[7] else f"{text.strip()} {tz}")


def to_ms(value: Any) -> int:
    """A YAML time: ISO-8601 text, a YAML timestamp or epoch milliseconds."""
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000)
    if isinstance(value, date):
        return to_ms(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return iso_to_ms(str(value))


def _in_range(minute: int, lo: int, hi: int) -> bool:
    return lo <= minute < hi if lo < hi else minute >= lo or minute < hi


def zone(s: Section) -> str:
    """The section's ``timezone`` (default UTC), an IANA name the machine knows."""
    tz = s.text("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise s.error("timezone", f"unknown time zone {tz!r}",
                      "use an IANA name like Europe/Berlin or UTC") from None
    return tz


def parse_window(s: Section) -> TimeWindow:
    tz = zone(s)
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
