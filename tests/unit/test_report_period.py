"""Report periods: months, quarters and ranges, and the period each is compared with."""

from __future__ import annotations

import pytest

from midwatch.report.period import (
    between,
    day_starts,
    parse_period,
    previous,
    short_time_label,
    time_label,
)


def test_month_and_the_month_before_across_a_year_end():
    jan = parse_period("2027-01")
    assert (time_label(jan.start_ms), time_label(jan.end_ms)) == ("2027-01-01 00:00",
                                                                  "2027-02-01 00:00")
    dec = previous(jan)
    assert dec.label == "2026-12" and dec.end_ms == jan.start_ms and dec.days == 31


def test_quarter_holds_its_months_and_compares_with_the_quarter_before():
    q1 = parse_period("2027-q1")
    assert q1.label == "2027-Q1" and [m.label for m in q1.months] == ["2027-01", "2027-02",
                                                                      "2027-03"]
    assert q1.days == 90
    q4 = previous(q1)
    assert q4.label == "2026-Q4" and q4.end_ms == q1.start_ms
    assert short_time_label(q4.start_ms) == "10-01 00:00"


def test_range_includes_its_last_day_and_compares_with_as_long_before():
    r = between("2026-11-01", "2026-11-15")
    assert r.days == 15
    before = previous(r)
    assert before.end_ms == r.start_ms and before.days == 15
    assert between("2026-11-01T08:00:00Z", "2026-11-01T20:00:00+00:00").days == 0.5


@pytest.mark.parametrize(("call", "message"), [
    (lambda: parse_period("2026-13"), "expected a month like 2026-11"),
    (lambda: parse_period("Nov 2026"), "or a quarter like 2026-Q4"),
    (lambda: between("2026-11-05", "2026-11-01"), "is not after --from"),
    (lambda: between("yesterday", "2026-11-01"), "--from 'yesterday': expected a date"),
])
def test_bad_periods_say_what_is_accepted(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_charts_draw_every_day_begun_and_none_to_come():
    """A day without traffic is a zero on the per-day charts (it used to vanish from the
    axis); the days of a running month still to come are not drawn."""
    nov = parse_period("2026-11")
    days = day_starts(nov, now_ms=nov.end_ms + 5)
    assert len(days) == 30 and days[0] == nov.start_ms and days[1] - days[0] == 86_400_000
    assert day_starts(nov, now_ms=nov.start_ms + 86_400_000 * 6 + 1) == days[:7]
    assert day_starts(nov, now_ms=nov.start_ms) == []
