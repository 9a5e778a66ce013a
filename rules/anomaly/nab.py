"""Window-based scoring with the semantics of the Numenta Anomaly Benchmark (NAB).

Follows numenta/NAB ``nab/sweeper.py`` (per-row weights, threshold sweep), ``nab/runner.py``
(normalization) and ``config/profiles.json`` (cost matrices):

- rows before the probation length ``min(floor(0.15 n), 0.15 * 5000)`` are not scored;
- a detection inside a window earns ``tp * scaledSigmoid(pos) / scaledSigmoid(-1)``, pos
  running from -1 at the window's first row towards 0 at its last (``-(right - i + 1) /
  width``); only the best (= the first) detection of a window counts;
- a detection outside every window costs ``fp * scaledSigmoid(|i - prev_right| /
  (prev_width - 1))`` after a window, ``fp`` before any window;
- a window without detection costs ``fn``;
- one threshold for all series, the one that maximizes the total (detections are rows with
  ``score >= threshold``); 100 * (raw - null) / (perfect - null) as ``nab/runner.py``'s
  ``normalize``: null is what a detector that never fires gets (``-fn`` for each window with
  a scored row), perfect is ``tp`` times every labelled window, also one that lies partly or
  wholly in the probation period (no detector can earn all of it, so such a window costs
  every detector alike, as in NAB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Costs:
    tp: float
    fp: float
    fn: float


PROFILES = {
    "standard": Costs(1.0, 0.11, 1.0),
    "reward_low_fp": Costs(1.0, 0.22, 1.0),
    "reward_low_fn": Costs(1.0, 0.11, 2.0),
}


@dataclass(frozen=True, slots=True)
class Labelled:
    """One scored series: per-row anomaly scores and windows as inclusive row ranges."""

    name: str
    scores: np.ndarray
    windows: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Result:
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float
    windows: int
    detected: int
    false_positives: int

    @property
    def precision(self) -> float:
        hits = self.detected + self.false_positives
        return self.detected / hits if hits else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 0.0


def scaled_sigmoid(x: float) -> float:
    if x >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probation(n: int) -> float:
    return min(math.floor(0.15 * n), 0.15 * 5000)


def row_weights(n: int, windows: tuple[tuple[int, int], ...], costs: Costs
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its window (-1 outside, -2 probation) and the weight a detection there gets."""
    window = np.full(n, -1, dtype=np.int64)
    weight = np.zeros(n)
    prev_right, prev_width = None, None
    spans = sorted(windows)
    k = 0
    i = 0
    while i < n:
        while k < len(spans) and spans[k][0] < i:  # overlapping: the earlier window wins
            k += 1
        if k < len(spans) and i == spans[k][0]:
            left, right = spans[k]
            width = right - left + 1
            for j in range(left, right + 1):
                window[j] = k
                weight[j] = scaled_sigmoid(-(right - j + 1) / width) * costs.tp / MAX_TP
            prev_right, prev_width = right, width
            k += 1
            i = right + 1
            continue
        if prev_right is None or prev_width == 1:
            weight[i] = -costs.fp
        else:
            weight[i] = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1)) * costs.fp
        i += 1
    window[: int(math.ceil(probation(n)))] = -2
    return window, weight


def evaluate(series: list[Labelled], costs: Costs) -> Result:
    """The best common threshold over all series, and the normalized score there."""
    scores, windows, weights = [], [], []
    offset = 0
    n_windows = 0
    for s in series:
        w, wt = row_weights(len(s.scores), s.windows, costs)
        scored = w != -2
        ids = np.where(w >= 0, w + offset, -1)[scored]
        scores.append(np.asarray(s.scores, dtype=float)[scored])
        windows.append(ids)
        weights.append(wt[scored])
        present = np.unique(w[w >= 0])
        n_windows += len(present)
        offset += len(s.windows)
    perfect = costs.tp * offset
    score = np.concatenate(scores) if scores else np.zeros(0)
    win = np.concatenate(windows) if windows else np.zeros(0, dtype=np.int64)
    wt = np.concatenate(weights) if weights else np.zeros(0)
    null = -costs.fn * n_windows
    best = _sweep(score, win, wt, costs, n_windows)
    detected, fps = _counts(score >= best[0], win)
    denom = perfect - null
    normalized = 100.0 * (best[1] - null) / denom if denom else 0.0
    return Result(best[0], best[1], null, perfect, normalized, n_windows, detected, fps)


def _sweep(score: np.ndarray, win: np.ndarray, wt: np.ndarray, costs: Costs,
           n_windows: int) -> tuple[float, float]:
    """(threshold, total) maximizing the total; ties keep the higher threshold."""
    order = np.argsort(-score, kind="stable")
    best_threshold, best_total = math.inf, -costs.fn * n_windows
    window_part: dict[int, float] = {}
    fp_total = 0.0
    base = -costs.fn * n_windows
    gain = 0.0  # sum over windows of (best weight + fn) for windows with a detection
    i = 0
    n = len(order)
    while i < n:
        threshold = score[order[i]]
        while i < n and score[order[i]] == threshold:
            j = order[i]
            if win[j] < 0:
                fp_total += wt[j]
            else:
                old = window_part.get(int(win[j]), -costs.fn)
                new = max(old, wt[j])
                gain += new - old
                window_part[int(win[j])] = new
            i += 1
        total = base + gain + fp_total
        if total > best_total:
            best_threshold, best_total = float(threshold), total
    return best_threshold, best_total


def _counts(detect: np.ndarray, win: np.ndarray) -> tuple[int, int]:
    detected = len(np.unique(win[detect & (win >= 0)]))
    return detected, int(np.sum(detect & (win < 0)))
