"""The anomaly model on series whose right answer is known by construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rules.anomaly.explain import explain
from rules.anomaly.model import (
    DAY_MS,
    HOUR_MS,
    Settings,
    calendar,
    empty_run,
    from_model_scale,
    hour_of,
    score,
    train,
)
from rules.anomaly.schedule import COLD_ROWS
from rules.anomaly.stream import stream

MONDAY = 1_772_409_600_000  # 2026-03-02 00:00 UTC
WEEKS = 4


def traffic(rows: int = WEEKS * 7 * 24, series: int = 1, seed: int = 1) -> tuple:
    """Hourly event counts: busy weekdays 08-18, quiet nights and weekends."""
    t = MONDAY + np.arange(rows, dtype=np.int64) * HOUR_MS
    hour = (t % DAY_MS) // HOUR_MS
    weekend = ((t // DAY_MS) + 3) % 7 >= 5
    level = np.where((hour >= 8) & (hour < 18), 120.0, 10.0) * np.where(weekend, 0.2, 1.0)
    rng = np.random.default_rng(seed)
    return t, rng.poisson(np.tile(level, (series, 1))).astype(float)


def test_weekly_baseline_expects_business_hours_and_quiet_nights():
    t, v = traffic()
    m = train(t, v, Settings())
    assert m.profile[0] in (1, 2)  # seasonal, not flat
    expected = from_model_scale(m.center.astype(float), m.counts, m.settings)
    tuesday_10 = 1 * 24 + 10
    assert 100 < expected[0, tuesday_10] < 140
    assert expected[0, 1 * 24 + 3] < 20  # Tuesday 03:00


def test_drop_on_a_tuesday_morning_scores_high_and_night_lull_does_not():
    t, v = traffic(rows=(WEEKS * 7 + 2) * 24)
    train_to = WEEKS * 7 * 24
    m = train(t[:train_to], v[:, :train_to], Settings(direction="drop"))
    observed = v.copy()
    tue_10 = train_to + 24 + 10
    observed[0, tue_10] = 40
    s = score(m, t, observed, start=train_to)
    col = tue_10 - train_to
    assert s.score[0, col] > 0.8
    assert s.expected_low[0, col] > 40 and s.expected_high[0, col] < 200
    night = s.score[0, 24 + 3 - 0]  # Tuesday 03:00 with its normal ~10 events
    assert night < 0.5
    # The expected range is what scores below the threshold: a row is outside it exactly
    # when its raw score reaches the threshold.
    outside = (s.observed < s.expected_low) | (s.observed > s.expected_high)
    assert ((s.raw >= 0.8) == outside).mean() > 0.99


def test_direction_drop_ignores_spikes():
    t, v = traffic(rows=(WEEKS * 7 + 1) * 24)
    train_to = WEEKS * 7 * 24
    spiky = v.copy()
    spiky[0, train_to + 10] = 600
    for direction, high in (("drop", False), ("spike", True), ("both", True)):
        m = train(t[:train_to], v[:, :train_to], Settings(direction=direction))
        s = score(m, t, spiky, start=train_to)
        assert bool(s.score[0, 10] > 0.8) is high, direction


def test_cold_start_scores_nothing_until_min_history():
    t, v = traffic(rows=5 * 24)
    m = train(t, v, Settings(min_history=7 * 24))
    s = score(m, t, v * 0, start=len(t) - 3)
    assert bool(s.cold[0]) and (s.score == 0).all()


def test_lasting_level_shift_is_rebaselined():
    t, v = traffic(rows=(WEEKS * 7 + 3) * 24)
    train_to = WEEKS * 7 * 24
    settings = Settings(direction="drop", rebaseline=6)
    m = train(t[:train_to], v[:, :train_to], settings)
    shifted = v.copy()
    start = train_to + 24 + 9  # Tuesday 09:00: from now on half the traffic, for good
    shifted[0, start:] = np.round(shifted[0, start:] * 0.3)
    s = score(m, t, shifted, start=train_to)
    busy = [c for c in range(start - train_to, s.score.shape[1])
            if 8 <= (t[train_to + c] % DAY_MS) // HOUR_MS < 18]
    assert s.score[0, busy[0]] > 0.8  # the change pages
    later = [c for c in busy if c >= busy[0] + 6]
    assert max(s.score[0, c] for c in later) < 0.8  # ... and stops paging once it lasted


def test_holidays_count_as_sundays_or_are_excluded():
    t = np.array([MONDAY + 10 * HOUR_MS], dtype=np.int64)
    day = int(t[0] // DAY_MS)
    normal, _ = calendar(t, Settings())
    sunday, _ = calendar(t, Settings(holidays=frozenset({day})))
    _, excluded = calendar(t, Settings(holidays=frozenset({day}), holiday_mode="exclude"))
    assert normal[0] == 10 and sunday[0] == 6 * 24 + 10 and excluded[0]


def test_missing_buckets_score_zero_and_do_not_break_training():
    t, v = traffic(rows=(WEEKS * 7 + 1) * 24)
    gappy = v.copy()
    gappy[0, ::7] = np.nan
    m = train(t[:-24], gappy[:, :-24], Settings())
    s = score(m, t, gappy, start=len(t) - 24)
    assert np.isfinite(s.score).all()
    assert (s.score[0, np.isnan(gappy[0, -24:])] == 0).all()


def test_many_series_are_scored_independently():
    t, v = traffic(rows=(WEEKS * 7 + 1) * 24, series=50)
    train_to = WEEKS * 7 * 24
    m = train(t[:train_to], v[:, :train_to], Settings(direction="drop"), keys=list(range(50)))
    hit = v.copy()
    hit[7, train_to + 24 - 14] = 0  # series 7, Monday 10:00
    s = score(m, t, hit, start=train_to)
    flagged = np.nonzero(s.score.max(axis=1) > 0.8)[0]
    assert list(flagged) == [7]


def test_stream_never_looks_ahead():
    t, v = traffic(rows=3 * 7 * 24)
    v[0, 400] = 0
    full, _ = stream(t, v[0], Settings(min_history=48))
    cut, _ = stream(t[:401], v[0, :401], Settings(min_history=48))
    np.testing.assert_array_equal(full.score[0, :401], cut.score[0, :401])
    assert (full.score[0, :COLD_ROWS] == 0).all()  # nothing to learn from yet


@pytest.mark.parametrize("bad", [replace(Settings(), max_history=200)])
def test_training_history_is_capped(bad):
    t, v = traffic()
    m = train(t, v, bad)
    assert m.n_obs[0] <= 200 and m.trained_from_ms == int(t[-200])


def test_slots_follow_local_time_across_daylight_saving():
    berlin = Settings(timezone="Europe/Berlin")
    winter = MONDAY + 21 * DAY_MS + 8 * HOUR_MS  # Mon 2026-03-23 08:00 UTC = 09:00 CET
    summer = MONDAY + 28 * DAY_MS + 7 * HOUR_MS  # Mon 2026-03-30 07:00 UTC = 09:00 CEST
    slots, _ = calendar(np.array([winter, summer], dtype=np.int64), berlin)
    assert list(slots) == [9, 9]
    utc, _ = calendar(np.array([winter, summer], dtype=np.int64), Settings())
    assert list(utc) == [8, 7]


def test_no_series_yet_trains_an_empty_model_that_scores_nothing():
    t, _ = traffic(rows=48)
    m = train(t, np.zeros((0, len(t))), Settings())
    assert m.center.shape[0] == 0
    s = score(m, t, np.zeros((0, len(t))), start=len(t) - 1)
    assert s.score.shape == (0, 1)


def test_a_run_of_empty_buckets_is_scored_by_poisson_only_for_steady_low_counts():
    """Two events an hour, then six empty hours on a Tuesday: P = exp(-12), a page, though
    each empty hour alone is common (exp(-2)). Counts that come in bursts with long empty
    spells between them are not Poisson: their empty spells never page."""
    rows = (WEEKS * 7 + 2) * 24
    t = MONDAY + np.arange(rows, dtype=np.int64) * HOUR_MS
    rng = np.random.default_rng(3)
    steady = rng.poisson(2.0, rows).astype(float)
    bursty = np.where(rng.random(rows) < 0.05, 20.0, 0.0)
    train_to = WEEKS * 7 * 24
    tue_10 = train_to + 24 + 10
    steady[tue_10:tue_10 + 6] = 0.0
    bursty[tue_10 - 20:tue_10 + 30] = 0.0
    values = np.stack([steady, bursty])
    m = train(t[:train_to], values[:, :train_to], Settings())
    s = score(m, t, values, start=train_to)
    col = tue_10 - train_to
    assert s.score[0, col] < 0.8  # one empty hour
    assert s.score[0, col + 5] > 0.8  # six of them
    assert np.max(s.score[1]) < 0.8
    # The z-score alone cannot see it: that is what the Poisson run is for.
    z_only = replace(m, settings=replace(m.settings, zero_runs=False))
    assert np.max(score(z_only, t, values, start=train_to).score[0, col:col + 6]) < 0.8
    # The page says why: how long it has been empty, and how much was expected meanwhile.
    upto = tue_10 + 6
    runs, expected = empty_run(m, t[:upto], values[:, :upto])
    assert runs[0] == 6 and 9 < expected[0] < 15
    assert expected[1] == 0  # bursty: its empty runs are not scored, nor explained
    text = explain("orders/h", 0.0, 0.0, 5.0, int(t[upto - 1]), m, 0, HOUR_MS,
                   (int(runs[0]), float(expected[0])))
    assert text.endswith(f"none in the last 6 buckets where ~{round(expected[0])} were expected")


@pytest.mark.parametrize("minutes", [10, 45, 60])
def test_poisson_rates_follow_the_hour_of_the_week_at_any_bucket_size(minutes):
    """The rate of a run of empty buckets is the mean of that hour of the week, also for
    buckets that do not divide an hour (45 minutes: 32 a day)."""
    step = minutes * 60_000
    t = MONDAY + np.arange(WEEKS * 7 * DAY_MS // step, dtype=np.int64) * step
    hour = (t % DAY_MS) // HOUR_MS
    busy = np.where((hour >= 8) & (hour < 18), 3.0, 0.3) * minutes / 60
    v = np.random.default_rng(5).poisson(busy)[None].astype(float)
    m = train(t, v, Settings())
    slot, _ = calendar(np.array([MONDAY + DAY_MS + 11 * HOUR_MS, MONDAY + DAY_MS + 3 * HOUR_MS]),
                       m.settings, m.slot_ms)
    tue_11, tue_03 = m.rate[0, hour_of(slot, m.slot_ms)]
    assert 0.5 * 3 * minutes / 60 < tue_11 < 1.5 * 3 * minutes / 60
    assert tue_03 < 0.3 * tue_11


def test_three_bucket_window_raises_a_short_burst_not_the_noise_peaks():
    """Three 5-minute buckets 3 spreads high on a flat machine metric: each alone is near the
    row tail and six-bucket mean halves them; the 3-bucket window sees them together. The
    noise's own highest scores (600 rows) must not rise with it."""
    step, n, after = 300_000, 4 * 288, 600
    for seed in range(1, 5):
        rng = np.random.default_rng(seed)
        t = MONDAY + np.arange(n + after, dtype=np.int64) * step
        v = (40 + 2 * rng.standard_normal(n + after))[None, :] + 0.001  # not counts
        burst = v.copy()
        burst[0, n + 400:n + 403] = 46.0
        peaks = {}
        for short in (0, 3):
            s = replace(Settings(), short_window=short)
            raw = score(train(t[:n], v[:, :n], s), t, burst, start=n).raw[0]
            peaks[short] = (raw[400:403].max(), np.delete(raw, range(400, 440)).max())
        assert peaks[3][0] >= peaks[0][0] + 0.02, (seed, peaks)
        assert peaks[3][1] == pytest.approx(peaks[0][1], abs=0.005), (seed, peaks)

