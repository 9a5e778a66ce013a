"""NAB-style scoring on hand-computed cases (numbers worked out in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rules.anomaly.corpus import row_windows
from rules.anomaly.nab import PROFILES, Labelled, evaluate, probation, row_weights, scaled_sigmoid

STD = PROFILES["standard"]
WINDOW = ((50, 59),)  # 10 rows; 100-row series: probation is rows 0..14


def one(detections: dict[int, float], n: int = 100, windows=WINDOW) -> Labelled:
    scores = np.zeros(n)
    for i, s in detections.items():
        scores[i] = s
    return Labelled("a.csv", scores, windows)


def test_scaled_sigmoid_matches_nab_edges():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0


def test_perfect_detector_scores_100_and_silent_0():
    assert evaluate([one({50: 1.0})], STD).score == pytest.approx(100.0)
    silent = evaluate([one({})], STD)
    assert silent.score == 0.0 and silent.detected == 0 and silent.threshold == math.inf


def test_late_detection_earns_less_than_early():
    # Last row of the window: position -(59 - 59 + 1) / 10 = -0.1
    # -> (2 / (1 + e^-0.5) - 1) / 0.98661 = 0.248242; 100 * (0.248242 + 1) / 2 = 62.41
    late = evaluate([one({59: 1.0})], STD)
    assert late.score == pytest.approx(62.412, abs=1e-3)
    middle = evaluate([one({55: 1.0})], STD)
    assert 62.412 < middle.score < 100.0
    # Only the first detection of a window counts: adding a late one changes nothing.
    assert evaluate([one({50: 1.0, 59: 1.0})], STD).score == pytest.approx(100.0)


def test_false_positive_cost_grows_with_distance_from_the_window():
    # FP 6 rows after the window: position 6 / (10 - 1) = 0.667 -> 0.11 * -0.93110 = -0.10242
    near = evaluate([one({50: 1.0, 65: 1.0})], STD)
    assert near.raw == pytest.approx(1 - 0.10242, abs=1e-4)
    # 36 rows after: position 4 >= 3 -> the full -0.11
    far = evaluate([one({50: 1.0, 95: 1.0})], STD)
    assert far.raw == pytest.approx(1 - 0.11)
    # Before any window: the full -0.11 too.
    before = evaluate([one({50: 1.0, 20: 1.0})], STD)
    assert before.raw == pytest.approx(1 - 0.11)
    assert near.score > far.score == pytest.approx(before.score)
    assert near.false_positives == 1 and near.precision == 0.5 and near.recall == 1.0


def test_probation_rows_are_not_scored():
    assert probation(100) == 15
    assert probation(10_000) == 750  # capped at 0.15 * 5000
    # A "false positive" in probation costs nothing.
    assert evaluate([one({5: 1.0, 50: 1.0})], STD).score == pytest.approx(100.0)
    # A window wholly inside probation cannot be detected, yet NAB's normalization counts it
    # in "perfect" (tp times every labelled window) and not in "null" (only windows with a
    # scored row cost the silent detector): raw 1, null -1, perfect 2 -> 100 * 2 / 3.
    both = evaluate([one({50: 1.0}, windows=((2, 8), (50, 59)))], STD)
    assert both.windows == 1 and both.detected == 1
    assert (both.null, both.perfect) == (-1.0, 2.0)
    assert both.score == pytest.approx(200 / 3)
    window, _ = row_weights(100, ((2, 8),), STD)
    assert (window[:15] == -2).all()


def test_one_threshold_for_all_files():
    # a: its window only reaches 0.5. b: window at 0.9, 20 FPs at 0.6 before it.
    a = Labelled("a.csv", np.r_[np.zeros(50), [0.5], np.zeros(49)], WINDOW)
    b_scores = np.zeros(100)
    b_scores[20:40] = 0.6
    b_scores[50] = 0.9
    b = Labelled("b.csv", b_scores, WINDOW)
    # 0.9: -1 + 1 = 0; 0.6: -1 + 1 - 2.2; 0.5: 1 + 1 - 2.2 = -0.2. Best 0.9 -> 100 * 2 / 4 = 50
    result = evaluate([a, b], STD)
    assert result.threshold == 0.9
    assert result.score == pytest.approx(50.0)
    # Each alone would have been perfect.
    assert evaluate([a], STD).score == evaluate([b], STD).score == pytest.approx(100.0)


def test_profiles_weigh_misses_and_false_positives_differently():
    # Two windows, the first detected at its start, one FP before it, the second missed.
    series = one({40: 1.0, 50: 1.0}, n=200, windows=((50, 59), (150, 159)))
    standard = evaluate([series], PROFILES["standard"])
    low_fp = evaluate([series], PROFILES["reward_low_fp"])
    low_fn = evaluate([series], PROFILES["reward_low_fn"])
    assert standard.score == pytest.approx(100 * (1 - 1 - 0.11 + 2) / 4)  # 47.25
    assert low_fp.score == pytest.approx(100 * (1 - 1 - 0.22 + 2) / 4)  # 44.5
    assert low_fn.score == pytest.approx(100 * (1 - 2 - 0.11 + 4) / 6)  # 48.17


def test_a_window_cut_by_probation_still_counts_whole_in_perfect():
    # Window 10..19, probation rows 0..14: the best detection (row 15) is at position
    # -(19 - 15 + 1) / 10 = -0.5 -> 0.84828 / 0.98661 = 0.85979, but perfect stays 1.
    cut = evaluate([one({15: 1.0}, windows=((10, 19),))], STD)
    assert cut.perfect == 1.0
    assert cut.score == pytest.approx(100 * (0.85979 + 1) / 2, abs=1e-3)


def test_windows_end_at_the_first_row_of_their_end_time_as_in_nab():
    # NAB leaves a window at timestamps.index(end): the first of repeated timestamps.
    times = np.array([0, 1, 2, 2, 2, 3, 4], dtype=np.int64) * 300_000
    start, end = "1970-01-01 00:05:00", "1970-01-01 00:10:00"
    assert row_windows(times, [[start, end]], "w") == ((1, 2),)
    # A time between rows still covers the rows inside it.
    assert row_windows(times, [["1970-01-01 00:04:00", "1970-01-01 00:19:00"]], "w") == ((1, 5),)


def _nab_reference(series: list[Labelled], costs) -> float:
    """NAB's scoring written the way nab/sweeper.py, optimizer.py and runner.py go, row by
    row: per-row sweep scores, the corpus threshold sweep from 1.1 down, the best total
    (ties: the higher threshold), and normalization with the null detector (0.5 on every
    row, itself optimized) and perfect = tp x labelled windows."""

    def rows(s: Labelled, scores) -> list[tuple[float, float, str | None]]:
        n = len(scores)
        prob = min(math.floor(0.15 * n), 0.15 * 5000)
        out, cur, prev_right, prev_width = [], None, None, None
        pending = list(s.windows)
        for i in range(n):
            if pending and i == pending[0][0]:
                cur = pending.pop(0)
            if cur is not None:
                width = cur[1] - cur[0] + 1
                sweep = scaled_sigmoid(-(cur[1] - i + 1) / width) * costs.tp / scaled_sigmoid(-1)
            else:
                pos = 3.0 if prev_right is None else abs(prev_right - i) / (prev_width - 1)
                sweep = scaled_sigmoid(pos) * costs.fp
            if i >= prob:
                out.append((scores[i], sweep, None if cur is None else f"{s.name}|{cur[0]}"))
            if cur is not None and i == cur[1]:
                prev_right, prev_width, cur = i, cur[1] - cur[0] + 1, None
        return out

    def best(points) -> float:
        points = sorted(points, key=lambda p: p[0], reverse=True)
        parts = {"fp": 0.0} | {p[2]: -costs.fn for p in points if p[2] is not None}
        totals, threshold = [], 1.1
        for score, sweep, window in points:
            if score != threshold:
                totals.append(sum(parts.values()))
                threshold = score
            if window is None:
                parts["fp"] += sweep
            else:
                parts[window] = max(parts[window], sweep)
        totals.append(sum(parts.values()))
        return max(totals)

    raw = best([p for s in series for p in rows(s, s.scores)])
    null = best([p for s in series for p in rows(s, np.full(len(s.scores), 0.5))])
    perfect = costs.tp * sum(len(s.windows) for s in series)
    return 100 * (raw - null) / (perfect - null)


@pytest.mark.parametrize("seed", range(6))
def test_evaluate_equals_nab_reference_on_random_corpora(seed):
    rng = np.random.default_rng(seed)
    series = []
    for k in range(3):
        n = int(rng.integers(120, 400))
        starts = sorted(rng.choice(np.arange(5, n - 20), size=int(rng.integers(1, 4)),
                                   replace=False))
        windows, last = [], -1
        for a in starts:  # non-overlapping, some in or across probation
            if a > last + 1:
                windows.append((int(a), int(min(a + rng.integers(2, 15), n - 1))))
                last = windows[-1][1]
        scores = np.round(rng.random(n) ** 3, 2)  # many ties, mostly low
        for a, b in windows:
            if rng.random() < 0.7:
                scores[int(rng.integers(a, b + 1))] = 0.9 + 0.1 * rng.random()
        series.append(Labelled(f"s{k}.csv", scores, tuple(windows)))
    for costs in PROFILES.values():
        assert evaluate(series, costs).score == pytest.approx(_nab_reference(series, costs))
