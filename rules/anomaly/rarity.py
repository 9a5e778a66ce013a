"""How rare a deviation is for this series: a per-series tail fit that turns deviations in
units of the series' own spread into ``-log10`` probabilities.

Why: a z-score means different things on different series. A CPU metric that idles at
0.1% with a MAD near zero produces z = 80 every hour; a Poisson count stays within z = 4 for
months. One threshold for all series (NAB's rule, and a rule pack's) only works when the
score means the same everywhere: the probability of seeing this deviation on this series.

The fit is peaks-over-threshold (as SPOT, Siffer et al. 2017): above the series' own
quantile ``u`` the deviations are taken as exponentially distributed with the mean excess
``beta`` seen in training, so a probability can be given beyond anything observed (an
empirical quantile alone stops at 1/n). An exponential tail is heavier than a Gaussian one,
so this errs towards "less rare". Below ``u`` the rarity rises linearly to ``-log10 q``.
"""

from __future__ import annotations

import math

import numpy as np

LN10 = math.log(10.0)
MIN_EXCEEDANCES = 10  # the tail's mean excess needs this many points above u
MIN_BETA = 0.25  # in units of spread: a perfectly regular training set still has a tail
TAIL = 0.02
TRIM = 0.1  # the fraction of training rows that make up the tail


def fit(d: np.ndarray, tail: float = TAIL) -> np.ndarray:
    """(S, 3) per row of ``d`` (S, T; NaN ignored): u, -log10 q, beta.

    q is the tail fraction (at least ``MIN_EXCEEDANCES`` points); u the (1-q) quantile,
    never below 1 spread; beta the mean excess over u, never below ``MIN_BETA`` nor
    below a tenth of u (a heavy-bodied series has a heavy tail too)."""
    d = np.where(np.isfinite(d), d, np.nan)
    n = np.sum(~np.isnan(d), axis=1)
    q = np.clip(MIN_EXCEEDANCES / np.maximum(n, 1), tail, 0.5)
    ordered = np.sort(d, axis=1)  # NaN last
    k = np.clip(np.floor((1.0 - q) * (n - 1)).astype(np.int64), 0, max(d.shape[1] - 1, 0))
    u = ordered[np.arange(len(d)), k] if d.shape[1] else np.zeros(len(d))
    u = np.maximum(np.nan_to_num(u, nan=1.0), 1.0)
    excess = np.sort(np.where(d > u[:, None], d - u[:, None], np.nan), axis=1)  # NaN last
    k = np.sum(~np.isnan(excess), axis=1)
    keep = k - np.maximum(np.ceil(TRIM * k), 1 if TRIM > 0 else 0).astype(np.int64)
    mask = np.arange(excess.shape[1])[None, :] < keep[:, None]
    mean_excess = np.where(keep > 0, np.sum(np.where(mask, np.nan_to_num(excess), 0.0), axis=1)
                           / np.maximum(keep, 1), 0.0)
    beta = np.maximum(np.maximum(mean_excess, MIN_BETA), 0.1 * u)
    return np.stack([u, -np.log10(q), beta], axis=1)


def _row_median(x: np.ndarray) -> np.ndarray:
    n = np.sum(~np.isnan(x), axis=1)
    ordered = np.sort(x, axis=1)
    rows = np.arange(len(x))
    lo = ordered[rows, np.maximum((n - 1) // 2, 0)] if x.shape[1] else np.zeros(len(x))
    hi = ordered[rows, np.maximum(n // 2, 0)] if x.shape[1] else np.zeros(len(x))
    return np.where(n > 0, (lo + hi) / 2, np.nan)


def rarity(d: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """-log10 of the probability of a deviation at least ``d`` (S, T) under each row's tail."""
    u, lq, beta = (tails[:, i:i + 1] for i in range(3))
    d = np.nan_to_num(d, nan=0.0, posinf=1e6, neginf=0.0)
    body = lq * np.clip(d / u, 0.0, 1.0)
    return body + np.maximum(d - u, 0.0) / (beta * LN10)


def deviation_at(r: float | np.ndarray, tails: np.ndarray) -> np.ndarray:
    """Inverse of ``rarity``: the deviation (S,) at which rarity ``r`` is reached."""
    u, lq, beta = tails[:, 0], tails[:, 1], tails[:, 2]
    r = np.asarray(r, dtype=float)
    return np.where(r <= lq, u * r / lq, u + (r - lq) * beta * LN10)
