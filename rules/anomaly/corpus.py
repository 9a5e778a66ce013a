"""Labelled series on disk: ``DIR/**/*.csv`` (``timestamp,value``) plus a JSON labels file.

The layout is the Numenta Anomaly Benchmark's (``data/<category>/<file>.csv`` and
``labels/combined_windows.json``): label keys are CSV paths relative to DIR with ``/``, each
mapping to ``[start, end]`` windows. Timestamps may be NAB's ``2014-04-10 07:15:00.000000``
or ISO-8601 with an offset; times without one are UTC.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


class CorpusError(ValueError):
    """Unreadable input; the message names the file (and line) and what was expected."""


@dataclass(frozen=True, slots=True)
class Series:
    name: str  # path relative to the corpus directory, with '/'
    times_ms: np.ndarray
    values: np.ndarray
    windows: tuple[tuple[int, int], ...] = ()  # inclusive row ranges
    stamps: tuple[str, ...] = ()  # timestamps as written, for output that echoes them


def parse_time_ms(text: str) -> int:
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def read_csv(path: Path, name: str | None = None) -> Series:
    times, values, stamps = [], [], []
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = [h.strip().lower() for h in next(rows, [])]
        if header[:2] != ["timestamp", "value"]:
            raise CorpusError(f"{path}:1: expected the header 'timestamp,value', got {header}")
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                times.append(parse_time_ms(row[0]))
                stamps.append(row[0].strip())
                values.append(float(row[1]) if row[1].strip() else np.nan)
            except (ValueError, IndexError) as exc:
                raise CorpusError(f"{path}:{line}: bad row {row!r}: {exc}") from None
    return Series(name or path.name, np.array(times, dtype=np.int64), np.array(values),
                  stamps=tuple(stamps))


def row_windows(times_ms: np.ndarray, windows: list, where: str) -> tuple[tuple[int, int], ...]:
    """[start, end] times to inclusive row ranges (rows whose time lies inside)."""
    out = []
    for i, w in enumerate(windows):
        if not isinstance(w, list | tuple) or len(w) != 2:
            raise CorpusError(f"{where}[{i}]: expected [start, end], got {w!r}")
        try:
            start, end = parse_time_ms(str(w[0])), parse_time_ms(str(w[1]))
        except ValueError as exc:
            raise CorpusError(f"{where}[{i}]: {exc}") from None
        left = int(np.searchsorted(times_ms, start, side="left"))
        # NAB leaves a window at the first row stamped with its end (``timestamps.index``):
        # a repeated timestamp (a DST hour in NAB's data) does not widen the window.
        right = int(np.searchsorted(times_ms, end, side="left"))
        if right == len(times_ms) or times_ms[right] != end:
            right -= 1
        if right >= left:
            out.append((left, right))
    return tuple(out)


def read_corpus(data: Path, labels: Path) -> list[Series]:
    try:
        label_doc = json.loads(labels.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{labels}: cannot read labels: {exc}") from None
    if not isinstance(label_doc, dict):
        raise CorpusError(f"{labels}: expected an object mapping CSV paths to windows")
    out = []
    for path in sorted(data.rglob("*.csv")):
        name = path.relative_to(data).as_posix()
        if name not in label_doc:
            raise CorpusError(f"{path}: no entry {name!r} in {labels}")
        series = read_csv(path, name)
        order = np.argsort(series.times_ms, kind="stable")
        times, values = series.times_ms[order], series.values[order]
        out.append(Series(name, times, values,
                          row_windows(times, label_doc[name], f"{labels}: {name!r}")))
    if not out:
        raise CorpusError(f"{data}: no CSV files found")
    return out
