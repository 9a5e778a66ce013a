"""Source timestamps -> UTC epoch milliseconds, for every layout the middleware writes.

Parsers call ``to_ms`` on whatever text their format holds; it never raises. Text without a
zone is read in the context's default zone (the collector's ``default_timezone``), text it
cannot read gives the ingest time with ``estimated=True`` so the event is kept and flagged;
times outside the sane range (``collector.time_range``) are caught by ``settle_time``.

The hot path (log4j ``2024-01-01 12:00:00,123`` and ISO-8601) avoids ``datetime`` entirely:
civil-date arithmetic plus a small cache of zone offsets per hour, because 50k events/s leave
about 20 microseconds per event for everything.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache

from collector.event import MAX_ISO_MS, MIN_ISO_MS, Event, ms_to_iso
from collector.parsers._base import ParseContext

_ISO = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)?\s*$",
    re.IGNORECASE,
)
# 12/31/2024 1:02:03 PM (Windows Event Viewer, en-US) and 31.12.2024 13:02:03 (de-DE).
_US = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9}))?\s*([AP]M)?\s*$",
    re.IGNORECASE,
)
_DOTTED = re.compile(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:[.,](\d{1,9}))?\s*$")
# 01/Mar/2024:10:15:32 +0000 (NGINX/Apache common log).
_CLF = re.compile(r"\s*(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*([+-]\d{4})?\s*$")
# Mar  1 10:15:32 (BSD syslog: no year, no zone).
_SYSLOG = re.compile(r"\s*([A-Za-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*$")
# 20240301 101532.123 (Boomi compact) and 20240301T101532Z.
_COMPACT = re.compile(r"\s*(\d{4})(\d{2})(\d{2})[T ]?(\d{2})(\d{2})(\d{2})(?:[.,](\d{1,9}))?\s*(Z)?\s*$")
# The ISO-8601 of JSON loggers, read without the layouts (``parse_ms``).
_ISO_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)
_NUMBER = re.compile(r"\s*(\d{9,19})(?:\.(\d+))?\s*$")

MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _frac_ms(frac: str | None) -> int:
    if not frac:
        return 0
    return int((frac + "00")[:3])


def _offset_ms(zone: str) -> int:
    zone = zone.upper()
    if zone in ("Z", "UTC", "GMT"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) >= 4 else 0
    return sign * (hours * 3_600_000 + minutes * 60_000)


@lru_cache(maxsize=4096)
def _zone_offset_ms(tz: tzinfo, days: int, hour: int) -> int:
    """UTC offset of a local wall-clock hour in ``tz`` (DST aware), cached per hour."""
    local = datetime(1970, 1, 1) + timedelta(days=days, hours=hour)
    offset = local.replace(tzinfo=tz).utcoffset()
    return int(offset.total_seconds() * 1000) if offset else 0


_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid(y: int, mo: int, d: int, h: int, mi: int, s: int) -> bool:
    """A date a clock can show: years 1-9999 (what ISO 8601 output and the zone database can
    hold: year 0 crashed the zone lookup), and a day the month has (30 February used to
    roll over silently into 1 March, a wrong time with no sign of it)."""
    if not (1 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= _MONTH_DAYS[mo]):
        return False
    if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return False
    return h <= 24 and mi <= 59 and s <= 60


def civil_to_ms(
    y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int, zone: str | None, tz: tzinfo
) -> int | None:
    """Wall-clock fields -> epoch ms; ``zone`` is an explicit offset, else ``tz`` applies."""
    if not _valid(y, mo, d, h, mi, s):
        return None
    days = days_from_civil(y, mo, d)
    local_ms = ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms
    if zone:
        return local_ms - _offset_ms(zone)
    if tz is UTC:
        return local_ms
    return local_ms - _zone_offset_ms(tz, days, min(h, 23))


@lru_cache(maxsize=4096)
def second_ms(stamp: str, zone: str | None, tz: tzinfo) -> int | None:
    """``YYYY-MM-DD HH:MM:SS`` (or with T) -> epoch ms of that second, None if impossible.

    Cached because log lines arrive in bursts that share their second; the log4j parsers
    add the milliseconds themselves.
    """
    try:
        y, mo, d = int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10])
        h, mi, s = int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])
    except ValueError:
        return None
    return civil_to_ms(y, mo, d, h, mi, s, 0, zone, tz)


def parse_ms(text: str | None, tz: tzinfo = UTC, now_ms: int = 0) -> int | None:
    """Epoch ms for ``text`` in any known layout, or None when it is not a timestamp.

    ``2024-03-01T10:15:32.123Z`` (what JSON loggers write) is read as its second, cached, plus
    the milliseconds; other text is cached whole: access logs repeat one stamp per second
    (``01/Mar/2024:10:15:32 +0000``), and trying the layouts in turn cost several regexes."""
    if not text:
        return None
    if len(text) == 24 and _ISO_MS_Z.match(text):
        base = second_ms(text[:19], "Z", tz)
        if base is not None:
            return base + int(text[20:23])
    return _parse_ms(text, tz, now_ms)


@lru_cache(maxsize=1024)
def _parse_ms(text: str, tz: tzinfo, now_ms: int) -> int | None:
    m = _ISO.match(text)
    if m:
        y, mo, d, h, mi, s, frac, zone = m.groups()
        return civil_to_ms(int(y), int(mo), int(d), int(h), int(mi), int(s or 0),
                           _frac_ms(frac), zone, tz)
    m = _NUMBER.match(text)
    if m:
        return _epoch_to_ms(int(m.group(1)), m.group(2))
    m = _US.match(text)
    if m:
        mo, d, y, h, mi, s, frac, ampm = m.groups()
        hour = int(h)
        if ampm:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
        return civil_to_ms(int(y), int(mo), int(d), hour, int(mi), int(s or 0), _frac_ms(frac), None, tz)
    m = _DOTTED.match(text)
    if m:
        d, mo, y, h, mi, s, frac = m.groups()
        return civil_to_ms(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), _frac_ms(frac), None, tz)
    m = _CLF.match(text)
    if m:
        d, mon, y, h, mi, s, frac, zone = m.groups()
        month = MONTHS.get(mon.lower())
        if month is None:
            return None
        return civil_to_ms(int(y), month, int(d), int(h), int(mi), int(s), _frac_ms(frac), zone, tz)
    m = _COMPACT.match(text)
    if m:
        y, mo, d, h, mi, s, frac, zone = m.groups()
        return civil_to_ms(int(y), int(mo), int(d), int(h), int(mi), int(s), _frac_ms(frac), zone, tz)
    m = _SYSLOG.match(text)
    if m:
        return _syslog_ms(m, tz, now_ms)
    return None


def _epoch_to_ms(value: int, frac: str | None) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    if value < 100_000_000_000:  # seconds until year 5138
        return value * 1000 + _frac_ms(frac)
    if value < 100_000_000_000_000:
        return value
    if value < 100_000_000_000_000_000:
        return value // 1000
    return value // 1_000_000


# How far ahead of the reader a year-less stamp may be and still be this year's: a sender's
# clock a little fast, or local time of a zone east of the one assumed. Beyond it the stamp
# is last year's (``Dec 10`` read on Dec 6 was written a year ago, not in four days).
SYSLOG_SKEW_MS = 86_400_000


def _syslog_ms(m: re.Match, tz: tzinfo, now_ms: int) -> int | None:
    """BSD syslog has no year: the latest year that puts the stamp at or before the reading
    (plus ``SYSLOG_SKEW_MS``), as rsyslog and Filebeat do, so no line lands in the future.
    Feb 29 takes the latest leap year that does."""
    mon, d, h, mi, s, frac = m.groups()
    month = MONTHS.get(mon.lower())
    if month is None:
        return None
    # The reader's year in the stamp's zone, and next year first: ``Jan 01 00:00:20`` read
    # at 23:59:50 on Dec 31 is a fast clock's, a few seconds ahead, not a year behind.
    now_year = datetime.fromtimestamp((now_ms or 0) / 1000, tz=tz).year
    for year in range(now_year + 1, now_year - 9, -1):  # a Feb 29 is at most eight years back
        ms = civil_to_ms(year, month, int(d), int(h), int(mi), int(s), _frac_ms(frac), None, tz)
        if ms is not None and ms <= now_ms + SYSLOG_SKEW_MS:
            return ms
    return None


def to_ms(text: str | None, ctx: ParseContext) -> tuple[int, bool]:
    """(epoch ms, estimated): the source time, or the ingest time flagged as an estimate."""
    value = parse_ms(text, ctx.tz, ctx.now_ms)
    if value is None:
        return ctx.now_ms, True
    return value, False


# --- the sane range ------------------------------------------------------------------------

# Labels of an event whose time is not the source's: ``ingest`` (no readable, believable source
# time; ``@timestamp`` is when midwatch read it), and the unbelievable source value as text.
TIME_SOURCE_LABEL = "midwatch_time_source"
TIME_RAW_LABEL = "midwatch_time_raw"
MAX_TIME_TEXT = 64
TRUNCATED = "…[truncated]"


def year_start_ms(year: int) -> int:
    """Epoch ms of 1 January of ``year``, 00:00 UTC (the bounds of ``collector.time_range``)."""
    return days_from_civil(year, 1, 1) * 86_400_000


def in_range(ms: object, ctx: ParseContext) -> bool:
    """Whether ``ms`` is a whole number of milliseconds inside the context's sane range."""
    return isinstance(ms, int) and ctx.time_min_ms <= ms <= ctx.time_max_ms


def time_text(value: object) -> str:
    """An unbelievable source time as bounded text: a date when it has one (year 1 to 9999),
    else its first 64 characters, saying so; an integer too long even to print (Python
    refuses beyond 4,300 digits) is described."""
    if isinstance(value, int) and MIN_ISO_MS <= value <= MAX_ISO_MS:
        return ms_to_iso(value)
    try:
        text = str(value)
    except ValueError:
        return f"an integer of {value.bit_length()} bits"  # type: ignore[union-attr]
    return text if len(text) <= MAX_TIME_TEXT else text[:MAX_TIME_TEXT] + TRUNCATED


def settle_time(ev: Event, ctx: ParseContext) -> None:
    """The one check every parsed event passes (``normalize`` calls it first): a time outside
    the sane range is kept as text (``midwatch_time_raw``) and the ingest time takes its place,
    so no stage after parsing ever meets a time it cannot write (a span stamped past the year
    9999 crashed the trace write and with it the process). An event on the ingest time always
    says so (``midwatch_time_source: ingest``), whichever parser fell back."""
    if not in_range(ev.timestamp_ms, ctx):
        ev.labels.setdefault(TIME_RAW_LABEL, time_text(ev.timestamp_ms))
        ev.timestamp_ms = ev.ingested_ms or ctx.now_ms
        ev.timestamp_estimated = True
    if ev.timestamp_estimated:
        ev.labels[TIME_SOURCE_LABEL] = "ingest"
