"""Writes the labelled integration-traffic development set for ``midwatch anomaly evaluate``.

    .venv/bin/python bench/anomaly_dataset.py [OUT_DIR]   # default /tmp/midwatch-anomaly

Layout as the Numenta Anomaly Benchmark: OUT/data/<category>/<name>.csv (timestamp,value) and
OUT/labels/combined_windows.json. Like NAB, each window is 10% of the series length divided
by its number of anomalies, centred on the anomaly's onset. Deterministic (fixed seeds).

Six weeks of 10-minute buckets per flow (Monday 2026-03-02 to 2026-04-12), what integration
platforms actually see:

- every series: business hours on weekdays (07-19 local, a lunch dip), quiet nights and
  weekends, Poisson noise; Good Friday and Easter Monday (2026-04-03, 04-06) look like
  Sundays and the last business day of March runs at 1.6x (month-end invoicing). Neither
  is labelled: a detector that pages on them pays a false positive (pass
  ``--holidays 2026-04-03,2026-04-06`` to tell it about the holidays; month-end it has to
  live with, as a four-week history cannot show it);
- ``traffic``: outages to zero, partial drops, retry storms (a partner's failures retried
  by a queue: several times the normal volume for half an hour), a slow level shift after
  a release (traffic falls to 55% over six hours and stays there), a nightly batch (a
  partner's file at 02:00 every night; one night it does not come: the absence is the
  anomaly), low-volume flows (0-5 messages per bucket, where a z-score lies) with an
  outage and a burst, and flows with no anomaly at all;
- ``metrics``: a flow's failure ratio (a partner rejecting everything for two hours) and
  its p95 latency (a slow backend for 90 minutes).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

START_MS = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)  # a Monday
STEP_MS = 600_000
DAY_ROWS = 144
ROWS = 6 * 7 * DAY_ROWS
HOLIDAYS = ("2026-04-03", "2026-04-06")
MONTH_END = "2026-03-31"


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def day_number(date: str) -> int:
    """A date as days since 1970-01-01: what ``anomaly evaluate --holidays`` takes."""
    return int(datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp() // 86_400)


def _day_index(date: str) -> int:
    return int((datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp() * 1000
                - START_MS) // (DAY_ROWS * STEP_MS))


def _windows(times: np.ndarray, onsets: list[int]) -> list[list[str]]:
    if not onsets:
        return []
    width = int(0.1 * len(times) / len(onsets))
    out = []
    for i in sorted(onsets):
        lo, hi = max(0, i - width // 2), min(len(times) - 1, i + width // 2)
        out.append([_stamp(int(times[lo])), _stamp(int(times[hi]))])
    return out


def shape() -> np.ndarray:
    """Relative volume per row: business days, nights, weekends, holidays, month-end."""
    row = np.arange(ROWS)
    hour = (row % DAY_ROWS) / 6
    day = row // DAY_ROWS
    weekday = (day % 7) < 5
    for holiday in HOLIDAYS:
        weekday &= day != _day_index(holiday)
    business = np.clip(np.sin((hour - 7) / 12 * np.pi), 0, None) ** 0.8
    business *= 1 - 0.25 * np.exp(-((hour - 12.5) ** 2) / 0.5)  # lunch
    level = 0.06 + np.where(weekday, business, 0.12 * business)
    return level * np.where(day == _day_index(MONTH_END), 1.6, 1.0)


def business_row(rng: np.random.Generator, after: int, before: int = ROWS - DAY_ROWS) -> int:
    """An onset at 09:00-16:00 on a business day (not a holiday, not month-end)."""
    skip = {_day_index(d) for d in (*HOLIDAYS, MONTH_END)}
    while True:
        i = int(rng.integers(after, before))
        day, hour = i // DAY_ROWS, (i % DAY_ROWS) / 6
        if day % 7 < 5 and day not in skip and 9 <= hour < 16:
            return i


def traffic(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, list[int]]:
    peak = rng.uniform(2, 5) if kind.startswith("low_volume") else rng.uniform(30, 300)
    level = peak * shape()
    onsets: list[int] = []
    if kind == "outage":
        for i in sorted({business_row(rng, ROWS // 3, ROWS // 2),
                         business_row(rng, 2 * ROWS // 3)}):
            level[i:i + int(rng.integers(6, 18))] = 0.0
            onsets.append(i)
    elif kind == "partial_drop":
        i = business_row(rng, ROWS // 2)
        level[i:i + 18] *= 0.35
        onsets.append(i)
    elif kind == "retry_storm":
        for i in sorted({business_row(rng, ROWS // 3, ROWS // 2),
                         business_row(rng, 2 * ROWS // 3)}):
            level[i:i + 3] *= rng.uniform(3, 6)
            onsets.append(i)
    elif kind == "release_shift":
        i = business_row(rng, ROWS // 2)
        ramp = np.clip((np.arange(ROWS) - i) / 36, 0, 1)
        level *= 1 - 0.45 * ramp
        onsets.append(i)
    elif kind == "low_volume_outage":
        i = business_row(rng, ROWS // 2)
        level[i:i + 30] = 0.0
        onsets.append(i)
    elif kind == "low_volume_burst":
        i = business_row(rng, ROWS // 2)
        level[i:i + 2] += 20
        onsets.append(i)
    values = rng.poisson(level).astype(float)
    if kind.startswith("batch"):
        nightly = np.arange(ROWS) % DAY_ROWS == 12  # the 02:00 bucket
        values[nightly] += rng.poisson(peak * 4, int(nightly.sum()))
        if kind == "batch_missing":
            night = int(rng.integers(4 * 7, 5 * 7)) * DAY_ROWS + 12
            values[night] = rng.poisson(level[night])
            onsets.append(night)
    return values, onsets


def failure_ratio(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    values = np.clip(rng.normal(0.02, 0.008, ROWS), 0, 1)
    i = business_row(rng, ROWS // 2)
    values[i:i + 12] = np.clip(rng.normal(0.6, 0.1, 12), 0, 1)
    return np.round(values, 4), [i]


def latency(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    base = 180 + 120 * shape()
    values = base * rng.lognormal(0, 0.12, ROWS)
    i = business_row(rng, ROWS // 2)
    values[i:i + 9] *= 3
    return np.round(values, 1), [i]


JOBS = [("traffic", k, i) for i, k in enumerate(
    ["none", "none", "outage", "outage", "partial_drop", "retry_storm", "retry_storm",
     "release_shift", "batch", "batch_missing", "low_volume", "low_volume_outage",
     "low_volume_burst"])] + [("metrics", "failure_ratio", 20), ("metrics", "latency", 21)]


def build(out: Path) -> dict[str, list[list[str]]]:
    t = START_MS + np.arange(ROWS) * STEP_MS
    labels: dict[str, list[list[str]]] = {}
    for category, kind, seed in JOBS:
        rng = np.random.default_rng(seed)
        if kind == "failure_ratio":
            values, onsets = failure_ratio(rng)
        elif kind == "latency":
            values, onsets = latency(rng)
        else:
            values, onsets = traffic(rng, kind)
        name = f"{category}/{kind}_{seed}.csv"
        path = out / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as f:
            f.write("timestamp,value\n")
            f.writelines(f"{_stamp(int(ms))},{v:g}\n" for ms, v in zip(t, values, strict=True))
        labels[name] = _windows(t, onsets)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    (out / "labels" / "combined_windows.json").write_text(json.dumps(labels, indent=1))
    return labels


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/midwatch-anomaly")
    found = build(target)
    print(f"{len(found)} series, {sum(map(len, found.values()))} windows in {target}")
    print(f"midwatch anomaly evaluate --data {target}/data "
          f"--labels {target}/labels/combined_windows.json --min-history 1008 "
          f"--holidays {','.join(HOLIDAYS)}")  # the settings of the score in rules/README.md
