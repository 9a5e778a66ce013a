"""Production shapes that must not page (or must page once): series built in code, scored
as the rule scores them (``stream``: retrained on the rule's schedule, no lookahead), pages
counted as the rule's alert would start (page score at or above its 0.8 threshold)."""

from __future__ import annotations

import numpy as np

from rules.anomaly import pages
from rules.anomaly.model import DAY_MS, HOUR_MS, Settings, local_ms, score, train
from rules.anomaly.stream import stream

MONDAY = 1_772_409_600_000  # 2026-03-02 00:00 UTC
THRESHOLD = 0.8
WEEK = 7 * 24


def hours(n: int, start: int = MONDAY) -> np.ndarray:
    return start + np.arange(n, dtype=np.int64) * HOUR_MS


def business(t: np.ndarray, seed: int, weekend: float = 0.2, offset_ms: int = 0) -> np.ndarray:
    """Hourly counts: ~60 on weekdays 08-18, 6 at night, ``weekend`` of that on weekends
    (hours of ``t + offset_ms``: local time)."""
    local = t + offset_ms
    hour = (local % DAY_MS) // HOUR_MS
    weekend_day = ((local // DAY_MS) + 3) % 7 >= 5
    level = np.where((hour >= 8) & (hour < 18), 60.0, 6.0) * np.where(weekend_day, weekend, 1.0)
    return np.random.default_rng(seed).poisson(level).astype(float)


def started(values: np.ndarray, settings: Settings | None = None) -> list[int]:
    """Rows where the rule's alert would start (its page score reaches the threshold)."""
    scores, _ = stream(hours(len(values)), values, settings or Settings())
    return [int(i) for i in np.nonzero(scores.score[0] >= THRESHOLD)[0]]


def test_weekends_without_any_traffic_page_neither_as_a_drop_nor_monday_as_a_spike():
    for seed in range(3):
        assert started(business(hours(6 * WEEK), seed, weekend=0.0)) == [], seed


def test_a_flow_that_only_runs_at_night_pages_neither_by_day_nor_on_its_first_bucket():
    t = hours(6 * WEEK)
    hour = (t % DAY_MS) // HOUR_MS
    v = np.where((hour >= 1) & (hour < 4), np.random.default_rng(4).poisson(40.0, len(t)), 0)
    assert started(v.astype(float)) == []


def test_a_new_series_in_its_first_week_pages_on_nothing():
    """Cold start (first model after 24 rows, rarity halved until min_history): plain
    traffic's first week, three seeds, not one page."""
    for seed in range(3):
        assert [r for r in started(business(hours(2 * WEEK), seed)) if r < WEEK] == [], seed


def test_a_drop_that_becomes_the_new_normal_pages_once_and_adapts():
    """Traffic falls to a fifth for good on a Tuesday 10:00: one alert that day (its
    later page rows come while it fires: no new notification), none on the days after."""
    v = business(hours(8 * WEEK), 6)
    at = 3 * WEEK + 24 + 10
    v[at:] = np.random.default_rng(9).poisson(v[at:] * 0.2)
    scores, _ = stream(hours(len(v)), v, Settings())
    starts = [int(r) for r in np.nonzero(scores.score[0] >= THRESHOLD)[0]]
    assert starts and starts[0] == at and starts[-1] < at + 12, starts
    firing = [r for r in range(at, at + 3 * 24)
              if pages.firing(scores.score[:, :r + 1], scores.raw[:, :r + 1], THRESHOLD)[0]]
    assert firing == list(range(at, at + len(firing))), firing  # one unbroken alert


def test_an_outage_resolves_on_the_first_normal_bucket_after_it():
    """Six empty business hours: firing throughout, resolved by the first normal bucket
    (the 3-, 6- and 36-bucket windows still holding the outage do not keep it open)."""
    t = hours(5 * WEEK)
    v = business(t, 3)
    at = 4 * WEEK + 24 + 9
    m = train(t[:4 * WEEK], v[None, :4 * WEEK], Settings(direction="drop"))
    out = v.copy()
    out[at:at + 6] = 0.0
    s = score(m, t, out[None], start=0)
    firing = [bool(pages.firing(s.score[:, :r + 1], s.raw[:, :r + 1], THRESHOLD)[0])
              for r in range(at, at + 8)]
    assert firing == [True] * 6 + [False] * 2


def test_local_business_hours_across_daylight_saving_with_the_rule_timezone():
    """Traffic at 08-18 Berlin time, trained across the 2026-03-29 switch: with
    timezone Europe/Berlin the weeks after it page on nothing; in UTC the switch moves
    every business hour and pages (why ``timezone`` exists)."""
    t = hours(6 * WEEK)
    v = business(t, 0, offset_ms=local_ms(t, "Europe/Berlin") - t)
    assert started(v, Settings(timezone="Europe/Berlin")) == []
    assert started(v) != []


def test_constant_series_neither_raise_nor_page_on_float_noise():
    """Zero variance in training: a heartbeat of exactly 60 an hour, a gauge stuck at
    123.4, a series of zeros; then the last rows off by one event or by 1e-9."""
    n = 5 * WEEK
    for v, tiny in ((np.full(n, 60.0), 1.0), (np.full(n, 123.4), 1e-9), (np.zeros(n), 1e-9)):
        off = v.copy()
        off[-5:] += tiny
        scores, _ = stream(hours(n), off, Settings())
        assert np.isfinite(scores.raw).all() and not (scores.score >= THRESHOLD).any()
