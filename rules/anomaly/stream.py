"""Score one series as if it arrived bucket by bucket: no row sees anything after it.

The model is retrained on everything before a row whenever ``rules.anomaly.schedule``
says it is due -- the same question, asked row by row, that the anomaly rule asks at each
evaluation, so ``anomaly score`` prints and ``anomaly evaluate`` measures what the rule
would page on (``retrain_ms`` is the rule's ``retrain``, 1d by default). Between retrains
the rows are scored in one vectorized call with ``context_rows`` rows before them, which
gives exactly what the rule scoring them one at a time with the same model would.
"""

from __future__ import annotations

import numpy as np

from rules.anomaly import schedule
from rules.anomaly.model import DAY_MS, Model, Scores, Settings, context_rows, score, step_ms, train
from rules.anomaly.nab import Labelled


def retrain_points(n: int, settings: Settings, retrain_rows: int) -> list[int]:
    """Rows (of ``n``) at which a model is learned from the rows before them. Before the
    first one there is no model: as if one had been learned from no rows at row 0."""
    points, last = [], 0
    for row in range(1, n):
        if schedule.due(min(last, settings.max_history), row - last, settings, retrain_rows):
            points.append(row)
            last = row
    return points


def stream(times_ms: np.ndarray, values: np.ndarray, settings: Settings,
           threshold: float = 0.8, retrain_ms: int = DAY_MS) -> tuple[Scores, list[Model]]:
    """Scores for every row of one series (0 and no expected range before the first model,
    learned from ``schedule.COLD_ROWS`` rows or a quarter of ``min_history``)."""
    t = np.asarray(times_ms, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    n = len(t)
    out = Scores(np.zeros((1, n)), np.full((1, n), np.nan), np.full((1, n), np.nan),
                 v[None, :].copy(), np.array([True]), np.zeros((1, n)))
    points = retrain_points(n, settings, retrain_ms // step_ms(t))
    context = context_rows(settings, step_ms(t))
    models = []
    for k, lo in enumerate(points):
        hi = points[k + 1] if k + 1 < len(points) else n
        first = max(0, lo - settings.max_history)
        model = train(t[first:lo], v[None, first:lo], settings)
        models.append(model)
        ctx = max(0, lo - context)
        part = score(model, t[ctx:hi], v[None, ctx:hi], start=lo - ctx, threshold=threshold)
        out.score[:, lo:hi] = part.score
        out.expected_low[:, lo:hi] = part.expected_low
        out.expected_high[:, lo:hi] = part.expected_high
        out.raw[:, lo:hi] = part.raw
    return out, models


def score_corpus(series: list, settings: Settings) -> list[Labelled]:
    """Stream-score every labelled series (``rules.anomaly.corpus.Series``) for ``nab``."""
    out = []
    for s in series:
        scores, _ = stream(s.times_ms, s.values, settings)
        out.append(Labelled(s.name, scores.score[0], s.windows))
    return out
