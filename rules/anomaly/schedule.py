"""When a series' model is due for retraining: one schedule for the rule and the stream.

The anomaly rule (``rules.types.anomaly._due``) and ``midwatch anomaly score`` / ``evaluate``
(``rules.anomaly.stream``) both ask ``due``, so the scores ``evaluate`` measures are the ones
the rule pages on. Intervals grow with the history learned from: a first model once
``COLD_ROWS`` (or a quarter of ``min_history``) rows exist, the next at ``min_history``, then
after a quarter more history, but never sooner than ``retrain`` and never later than a
quarter of ``max_history`` (so a long-running rule still follows a changing series). Fewer
retrains score better than a fixed daily one (NAB dev split 68.2 against 64.0): each retrain
lets an anomaly that lasts into it make the learned tail heavier.
"""

from __future__ import annotations

from rules.anomaly.model import Settings

COLD_ROWS = 24  # the least history a cold-start model is learned from


def wait_rows(rows: int, s: Settings, retrain_rows: int) -> int:
    """Rows a model learned from ``rows`` rows of a series scores before the next one is due."""
    first = min(max(COLD_ROWS, s.min_history // 4), s.min_history)
    if rows < first:
        return first - rows
    if rows < s.min_history:
        return s.min_history - rows
    return max(retrain_rows, 1, min(rows, s.max_history) // 4)


def due(rows: int, rows_since: int, s: Settings, retrain_rows: int) -> bool:
    """A model learned from ``rows`` rows that has scored ``rows_since`` rows since is due
    (negative: it learned from after the row to score, as in a replay)."""
    return rows_since < 0 or rows_since >= wait_rows(rows, s, retrain_rows)
