"""The integration-traffic development set (``bench/anomaly_dataset.py``) as the detector sees it.

Month-end is normal: the last business day of March runs at 1.6x the usual volume (invoicing)
on every flow, unlabelled, and four weeks of history cannot have shown it. It must not page
at the rule's default threshold, while the labelled outages of the same set do.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rules.anomaly.corpus import read_corpus
from rules.anomaly.model import DAY_MS, Settings
from rules.anomaly.stream import stream

BENCH = Path(__file__).resolve().parents[3] / "bench" / "anomaly_dataset.py"
THRESHOLD = 0.8  # the rule's default


def _dataset():
    spec = importlib.util.spec_from_file_location("anomaly_dataset", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    ds = _dataset()
    root = tmp_path_factory.mktemp("anomaly-set")
    ds.build(root)
    settings = Settings(min_history=ds.DAY_ROWS * 7,
                        holidays=frozenset(ds.day_number(d) for d in ds.HOLIDAYS))
    series = read_corpus(root / "data", root / "labels" / "combined_windows.json")
    month_end = ds.day_number(ds.MONTH_END)
    return {s.name: (s, stream(s.times_ms, s.values, settings)[0].score[0], month_end)
            for s in series if s.name.startswith("traffic/")}


@pytest.mark.timeout(300)
def test_month_end_pages_on_no_flow(scored):
    for name, (s, score, month_end) in scored.items():
        day = s.times_ms // DAY_MS == month_end
        assert day.sum() == 144, name
        worst = float(score[day].max())
        assert worst < THRESHOLD, f"{name}: month-end row scores {worst:.3f}"


@pytest.mark.timeout(300)
def test_outages_in_the_same_set_page(scored):
    for name in ("traffic/outage_2.csv", "traffic/outage_3.csv"):
        s, score, _ = scored[name]
        assert len(s.windows) == 2
        for lo, hi in s.windows:
            assert np.max(score[lo:hi + 1]) >= THRESHOLD, (name, lo, hi)


@pytest.mark.timeout(300)
def test_low_volume_outage_pages_and_quiet_low_volume_flows_do_not(scored):
    """0-5 events a bucket dropping to zero for five hours: no single bucket is odd (an empty
    10 minutes is common), five hours of them at ~2 a bucket are not (Poisson)."""
    s, score, _ = scored["traffic/low_volume_outage_11.csv"]
    (lo, hi), = s.windows
    assert np.max(score[lo:hi + 1]) >= THRESHOLD
    outside = np.ones(len(score), dtype=bool)
    outside[lo:hi + 1] = False
    assert np.max(score[outside]) < THRESHOLD
    s, score, _ = scored["traffic/low_volume_10.csv"]
    assert np.max(score) < THRESHOLD


@pytest.mark.timeout(300)
def test_slow_release_shift_pages(scored):
    """Traffic falling to 55% over six hours after a release: re-based after 12 buckets (2
    hours of 10-minute buckets) the expected level followed the ramp and it peaked at 0.72;
    after 15 the ramp has fallen far enough to page before it is taken as the new level."""
    s, score, _ = scored["traffic/release_shift_7.csv"]
    (lo, hi), = s.windows
    assert np.max(score[lo:hi + 1]) >= THRESHOLD
