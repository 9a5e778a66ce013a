"""Writes the labelled development set for ``midwatch anomaly evaluate``.

    .venv/bin/python bench/anomaly_dataset.py [OUT_DIR]   # default /tmp/midwatch-anomaly

Layout as the Numenta Anomaly Benchmark: OUT/data/<category>/<name>.csv (timestamp,value) and
OUT/labels/combined_windows.json. Like NAB, each window is 10% of the series length divided
by its number of anomalies, centred on the anomaly's onset. Deterministic (fixed seeds).

Categories:
- ``traffic``: integration flows, 10-minute buckets over 4 weeks: daily and weekly seasonality,
  Poisson noise, bursts, outages, partial drops, a lasting level shift; failure ratios and
  p95 latencies;
- ``synthetic``: noise with spikes, drops, level shifts and variance bursts on flat or
  drifting levels, and series with no anomaly at all (every detection there is a false
  positive).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

START_MS = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)  # a Monday
STEP_MS = 600_000
ROWS = 4 * 7 * 144


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _windows(times: np.ndarray, onsets: list[int]) -> list[list[str]]:
    if not onsets:
        return []
    width = int(0.1 * len(times) / len(onsets))
    out = []
    for i in sorted(onsets):
        lo, hi = max(0, i - width // 2), min(len(times) - 1, i + width // 2)
        out.append([_stamp(int(times[lo])), _stamp(int(times[hi]))])
    return out


def _traffic_level(t: np.ndarray, peak: float) -> np.ndarray:
    hour = (t % 86_400_000) / 3_600_000
    dow = ((t // 86_400_000) + 3) % 7
    day = np.clip(np.sin((hour - 6) / 14 * np.pi), 0, None) ** 1.5  # 06:00-20:00 business day
    weekend = np.where(dow >= 5, 0.25, 1.0)
    return peak * (0.05 + 0.95 * day * weekend)


def traffic(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, list[int]]:
    t = START_MS + np.arange(ROWS) * STEP_MS
    level = _traffic_level(t, rng.uniform(40, 400))
    onsets: list[int] = []
    day_rows = 144

    def business_row(after: int) -> int:  # an onset during business hours on a weekday
        while True:
            i = int(rng.integers(after, ROWS - day_rows))
            hour = (t[i] % 86_400_000) / 3_600_000
            if 8 <= hour <= 16 and ((t[i] // 86_400_000) + 3) % 7 < 5:
                return i

    if kind == "outage":
        for i in sorted(business_row(ROWS // 4) for _ in range(2)):
            level[i:i + int(rng.integers(6, 18))] *= 0.02
            onsets.append(i)
    elif kind == "partial_drop":
        i = business_row(ROWS // 3)
        level[i:i + 18] *= 0.35
        onsets.append(i)
    elif kind == "burst":
        for i in sorted(business_row(ROWS // 4) for _ in range(2)):
            level[i:i + 4] *= 3.5
            onsets.append(i)
    elif kind == "level_shift":
        i = business_row(ROWS // 2)
        level[i:] *= 0.5
        onsets.append(i)
    values = rng.poisson(level).astype(float)
    # Ordinary bursts (batch jobs at 02:00) are normal: they recur every night.
    nightly = ((t % 86_400_000) // STEP_MS) == 12
    values[nightly] += rng.poisson(level.max() * 0.3, nightly.sum())
    return values, onsets


def failure_ratio(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    values = np.clip(rng.normal(0.02, 0.008, ROWS), 0, 1)
    i = int(rng.integers(ROWS // 3, ROWS - 200))
    values[i:i + 12] = np.clip(rng.normal(0.25, 0.05, 12), 0, 1)
    return np.round(values, 4), [i]


def latency(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    t = START_MS + np.arange(ROWS) * STEP_MS
    base = 180 + 60 * _traffic_level(t, 1.0)
    values = base * rng.lognormal(0, 0.12, ROWS)
    onsets = []
    for i in sorted(int(rng.integers(ROWS // 4, ROWS - 200)) for _ in range(2)):
        values[i:i + 9] *= 4
        onsets.append(i)
    return np.round(values, 1), onsets


def synthetic(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, list[int]]:
    drift = np.cumsum(rng.normal(0, 0.02, ROWS)) if kind.endswith("drift") else 0
    values = 50 + drift + rng.normal(0, 1.0, ROWS)
    onsets: list[int] = []
    if kind.startswith("spikes"):
        for i in sorted(int(rng.integers(ROWS // 5, ROWS - 50)) for _ in range(3)):
            values[i] += rng.choice([-1, 1]) * rng.uniform(6, 10)
            onsets.append(i)
    elif kind.startswith("shift"):
        i = int(rng.integers(ROWS // 3, ROWS * 2 // 3))
        values[i:] += 8
        onsets.append(i)
    elif kind.startswith("variance"):
        i = int(rng.integers(ROWS // 3, ROWS * 2 // 3))
        values[i:i + 60] += rng.normal(0, 6, 60)
        onsets.append(i)
    elif kind.startswith("drop"):
        i = int(rng.integers(ROWS // 3, ROWS * 2 // 3))
        values[i:i + 30] -= 7
        onsets.append(i)
    return np.round(values, 3), onsets


def build(out: Path) -> dict[str, list[list[str]]]:
    t = START_MS + np.arange(ROWS) * STEP_MS
    labels: dict[str, list[list[str]]] = {}
    jobs = [("traffic", k, i) for i, k in enumerate(
        ["outage", "outage", "partial_drop", "partial_drop", "burst", "burst", "level_shift",
         "none", "none"])]
    jobs += [("traffic", "failure_ratio", 10), ("traffic", "latency", 11)]
    jobs += [("synthetic", k, 20 + i) for i, k in enumerate(
        ["spikes", "spikes_drift", "shift", "shift_drift", "variance", "drop", "drop_drift",
         "none", "none_drift"])]
    for category, kind, seed in jobs:
        rng = np.random.default_rng(seed)
        if kind == "failure_ratio":
            values, onsets = failure_ratio(rng)
        elif kind == "latency":
            values, onsets = latency(rng)
        elif category == "traffic":
            values, onsets = traffic(rng, kind)
        else:
            values, onsets = synthetic(rng, kind)
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
          f"--labels {target}/labels/combined_windows.json")
