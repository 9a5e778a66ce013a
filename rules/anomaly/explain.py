"""The sentence a page leads with: "orders/min 41, expected 95-140 for Tue 10:00, lowest in
4 weeks". It says what was seen, what was expected at that hour of the week, and whether the
value is outside everything the model learned from."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from rules.anomaly.model import DAY_MS, Model, calendar


def number(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.3g}"


def span(ms: int) -> str:
    days = ms / DAY_MS
    if days >= 14:
        return f"{round(days / 7)} weeks"
    if days >= 1:
        return f"{round(days)} days"
    return f"{max(1, round(ms / 3_600_000))} hours"


def slot_text(at_ms: int, timezone: str = "UTC") -> str:
    return dt.datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(timezone)).strftime("%a %H:%M")


def explain(label: str, value: float, low: float, high: float, at_ms: int, model: Model,
            row: int, bucket_ms: int, empty: tuple[int, float] = (0, 0.0)) -> str:
    """``lowest in 3 weeks``: below every value seen at this slot of the week in the weeks of
    data the series has (not the configured history, which a new flow has not filled).
    ``empty``: buckets in a row with no events and the events expected in them
    (``model.empty_run``), said when a low-volume flow has been silent for a while."""
    slot = slot_text(at_ms, model.settings.timezone)
    at = int(calendar(np.array([at_ms], dtype=np.int64), model.settings, model.slot_ms)[0][0])
    if bool(model.counts[row]):
        low, high = max(0.0, float(int(low))), float(int(high + 0.999))
    text = f"{label} {number(value)}, expected {number(low)}-{number(high)} for {slot}"
    learned = span(int(model.n_obs[row]) * bucket_ms)
    if value < model.low[row, at]:
        text += f", lowest in {learned}"
    elif value > model.high[row, at]:
        text += f", highest in {learned}"
    if empty[0] >= 2 and empty[1] >= 1:
        text += f", none in the last {empty[0]} buckets where ~{round(empty[1])} were expected"
    return text
