"""The period a report covers and the one it is compared with.

A month (``2026-11``) is compared with the month before, a quarter (``2026-Q4``) with the
quarter before and also broken into its months; any other range (``--from``/``--to``) with
the range of the same length just before it. All in UTC, so two people asking for the same
month get the same numbers.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start_ms: int
    end_ms: int
    kind: str = "range"  # month | quarter | range
    months: tuple[Period, ...] = ()  # a quarter's months, in order

    @property
    def days(self) -> float:
        return (self.end_ms - self.start_ms) / 86_400_000


def _ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def month(year: int, mon: int) -> Period:
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
    return Period(f"{year:04d}-{mon:02d}", _ms(start), _ms(end), "month")


def quarter(year: int, q: int) -> Period:
    months = tuple(month(year, 3 * (q - 1) + i) for i in (1, 2, 3))
    return Period(f"{year:04d}-Q{q}", months[0].start_ms, months[-1].end_ms, "quarter", months)


def parse_period(text: str) -> Period:
    """``2026-11`` or ``2026-Q4``; ValueError saying which forms are accepted."""
    m = _MONTH.match(text.strip())
    if m and 1 <= int(m.group(2)) <= 12:
        return month(int(m.group(1)), int(m.group(2)))
    q = _QUARTER.match(text.strip())
    if q:
        return quarter(int(q.group(1)), int(q.group(2)))
    raise ValueError(f"--period {text!r}: expected a month like 2026-11 or a quarter like 2026-Q4")


def _instant(text: str, flag: str) -> datetime:
    try:
        d = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected a date like 2026-11-01 or "
                         "2026-11-01T08:00:00Z") from None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def between(start: str, end: str) -> Period:
    """``--from 2026-11-01 --to 2026-11-15``: ``--to`` as a bare date includes that day."""
    s = _instant(start, "--from")
    e = _instant(end, "--to")
    if len(end.strip()) == 10:  # a date: the whole day
        e += timedelta(days=1)
    if e <= s:
        raise ValueError(f"--to {end!r} is not after --from {start!r}")
    return Period(f"{start.strip()} to {end.strip()}", _ms(s), _ms(e))


def previous(p: Period) -> Period:
    """The period a report compares ``p`` with (same kind, just before it)."""
    start = datetime.fromtimestamp(p.start_ms / 1000, UTC)
    if p.kind == "month":
        return month(start.year - (start.month == 1), (start.month - 2) % 12 + 1)
    if p.kind == "quarter":
        q = (start.month - 1) // 3 + 1
        return quarter(start.year - (q == 1), (q - 2) % 4 + 1)
    length = p.end_ms - p.start_ms
    return Period("previous range", p.start_ms - length, p.start_ms)


def day_starts(p: Period, now_ms: int | None = None) -> list[int]:
    """Every UTC day of ``p`` that has begun: a day without traffic is drawn as zero (an
    outage day must show, not vanish from the axis) and a day still to come is not drawn
    (a running month's last weeks are not a drop to zero)."""
    end = min(p.end_ms, int(time.time() * 1000) if now_ms is None else now_ms)
    return list(range(p.start_ms - p.start_ms % 86_400_000, end, 86_400_000))


def day_label(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d")


def time_label(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def short_time_label(ms: int) -> str:
    """Within a period the year goes without saying: ``11-04 13:00``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%m-%d %H:%M")
