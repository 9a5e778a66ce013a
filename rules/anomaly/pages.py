"""From per-row anomaly scores to pages: a long anomaly is one early, high score.

Why: an outage of six hours is six hours of rows that all look anomalous, but an on-call
engineer is paged once. HTM's and ARTime's post-processing make the same point for NAB:
after an alert, repeats are suppressed. Here a row keeps its score only when it is higher
than every score of the ``quiet`` rows before it by at least ``step``; otherwise it scores
0. For any threshold the first row that crosses it keeps its score (unless a row within
``step`` below the threshold came shortly before), so "score >= threshold" is "the rule
starts firing here, or pages again because it got clearly worse". The rule's alert then
stays firing while the raw score stays at or above the threshold (``firing``), and
resolves when it falls below.

Without the step, an outage whose score creeps up row by row (0.936, 0.938, 0.939...)
pages on each row; with a step of 0.01 it pages once (dev-set NAB standard 67.6 -> 67.2,
false positives 71 -> 56; larger steps lose first crossings: 66.0 at 0.02, 59.2 at 0.05).

Both functions only look back, at most ``quiet`` columns, so scoring the last bucket with
``quiet`` columns of context gives what scoring the whole series gives for that bucket.
"""

from __future__ import annotations

import numpy as np


def trailing_max(x: np.ndarray, n: int) -> np.ndarray:
    """At column t: the max of columns t-n..t-1 (0 where there are none), in log2(n)
    passes (windows doubled, the last one overlapping), not n."""
    n = min(n, x.shape[1])
    if n <= 0:
        return np.zeros(x.shape)
    cur = _shift(x, 1)
    width = 1
    while 2 * width <= n:
        cur = np.maximum(cur, _shift(cur, width))
        width *= 2
    return np.maximum(cur, _shift(cur, n - width)) if n > width else cur


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(x.shape)
    out[:, k:] = x[:, :x.shape[1] - k]
    return out


def pages(raw: np.ndarray, quiet: int, step: float = 0.0, episode: int = 1) -> np.ndarray:
    """Scores (S, T) that page: a row keeps its score when it is at least ``step`` above
    the last page of the ``quiet`` rows before it and above every row of the ``episode``
    rows before it (the anomaly it may belong to); other rows score 0.

    Only pages silence later rows for the whole quiet period (a row that did not page
    silences only the ``episode`` rows after it), so a second anomaly a few hours after a
    false alarm still pages. Pages within a quiet period only ever rise, so the last one
    is their highest and one pass suffices."""
    if quiet <= 0:
        return raw
    recent = trailing_max(raw, episode)
    out = np.zeros(raw.shape)
    last = np.zeros(raw.shape[0])
    since = np.full(raw.shape[0], quiet + 1)
    for t in range(raw.shape[1]):
        since += 1
        before = np.maximum(np.where(since <= quiet, last, 0.0), recent[:, t])
        page = (raw[:, t] > before) & ((raw[:, t] >= before + step) | (before == 0))
        out[:, t] = np.where(page, raw[:, t], 0.0)
        last = np.where(page, raw[:, t], last)
        since = np.where(page, 0, since)
    return out


def firing(page: np.ndarray, raw: np.ndarray, threshold: float,
           holds: np.ndarray | None = None) -> np.ndarray:
    """(S,) whether the rule is firing at the last column: a page at or above the threshold
    started it, and every row since has stayed at or above the threshold or is one that
    ``holds`` it (S x T: the rule's rows that are no recovery -- no data, or no event at
    all). Resolving on such a row closed the incident for good: the next anomalous row of
    the same episode does not page again."""
    on = np.zeros(raw.shape[0], dtype=bool)
    for t in range(raw.shape[1]):
        stays = raw[:, t] >= threshold
        if holds is not None:
            stays |= holds[:, t]
        on = (page[:, t] >= threshold) | (on & stays)
    return on
