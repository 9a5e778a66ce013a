"""``timeparse.parse_ms`` reads JSON loggers' ``...T10:15:32.123Z`` by its cached second and
caches other text whole; both must give what reading the layouts in turn gives."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.timeparse import _parse_ms, parse_ms

_STAMPS = st.builds(
    lambda y, mo, d, h, mi, s, ms, sep, z: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}.{ms:03d}{z}",
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 60), st.integers(0, 61), st.integers(0, 999), st.sampled_from("T tx"),
    st.sampled_from(["Z", "z", "", "+01:00", "Zq"]))


@settings(max_examples=2000, deadline=None)
@given(_STAMPS, st.sampled_from([UTC, ZoneInfo("Europe/Berlin")]))
def test_fast_reading_is_the_layouts_reading(stamp: str, tz) -> None:
    assert parse_ms(stamp, tz, 5) == _parse_ms.__wrapped__(stamp, tz, 5)


def test_known_values() -> None:
    assert parse_ms("2024-03-01T10:15:32.123Z") == 1_709_288_132_123
    assert parse_ms("01/Mar/2024:10:15:32 +0100") == 1_709_284_532_000
    assert parse_ms("2024-02-29T10:15:32.123Z") == 1_709_201_732_123


def test_days_no_calendar_has_are_not_times() -> None:
    """30 February used to roll into 1 March (a wrong time, silently) and year 0 east of UTC
    crashed the zone lookup (a parser-crash dead letter): both are now no time at all, so
    the event takes the ingest time flagged as estimated, like any unreadable stamp."""
    berlin = ZoneInfo("Europe/Berlin")
    for stamp in ("2024-02-30T10:15:32.123Z", "2023-02-29 10:15:32", "2024-04-31 10:15:32",
                  "0000-03-01 10:15:32", "0000-03-01T10:15:32.123Z"):
        assert parse_ms(stamp, berlin, 5) is None, stamp
        assert parse_ms(stamp, UTC, 5) is None, stamp
    assert parse_ms("0001-01-01 10:15:32", UTC) == -62_135_559_868_000
    assert parse_ms("Feb 29 10:15:32", UTC, parse_ms("2026-12-07T00:00:00.000Z")) == parse_ms(
        "2024-02-29T10:15:32.000Z")
    assert parse_ms("2024-13-01T10:15:32.123Z") is None


def test_a_year_less_stamp_just_after_new_year_is_next_years() -> None:
    """BSD syslog's ``Jan 01`` read a few seconds before midnight on Dec 31 is a fast clock's
    (next year), not a year old; and the year is the reader's in the stamp's zone, so a Berlin
    line 30 minutes into 1 January read at 23:31 UTC on Dec 31 is that New Year's."""
    eve = parse_ms("2026-12-31T23:59:50.000Z")
    assert parse_ms("Jan  1 00:00:20", UTC, eve) == parse_ms("2027-01-01T00:00:20.000Z")
    assert parse_ms("Dec 31 23:59:40", UTC, eve) == parse_ms("2026-12-31T23:59:40.000Z")
    berlin = ZoneInfo("Europe/Berlin")
    assert parse_ms("Jan  1 00:30:00", berlin, parse_ms("2026-12-31T23:31:00.000Z")) == parse_ms(
        "2026-12-31T23:30:00.000Z")
    # beyond the skew it is still last year's, and Feb 29 eight years back is still found
    assert parse_ms("Jan  3 00:00:00", UTC, eve) == parse_ms("2026-01-03T00:00:00.000Z")
    assert parse_ms("Feb 29 10:15:32", UTC, parse_ms("2104-01-05T00:00:00.000Z")) == parse_ms(
        "2096-02-29T10:15:32.000Z")
