"""The anomaly rule and ``anomaly score`` / ``evaluate`` retrain at the same rows of a series,
so what ``evaluate`` measures is what the rule pages on."""

from __future__ import annotations

import numpy as np

from collector.store.base import MetricRow
from collector.yamlconf import loads
from rules.anomaly import persist, schedule
from rules.anomaly.model import Settings
from rules.anomaly.stream import retrain_points
from rules.config import load_rules_config
from rules.types import anomaly

HOUR = 3_600_000
START = 1_772_409_600_000  # Monday 2026-03-02 00:00 UTC


def _rule(tmp_path, metric: str = "rate"):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - name: vol\n    type: anomaly\n    group_by: [midwatch.flow]\n"
                    f"    model_dir: {tmp_path / 'models'}\n    bucket: 1h\n    history: 14d\n"
                    f"    min_history: 2d\n    retrain: 1d\n    metric: {metric}\n")
    cfg = load_rules_config(loads(f"rules:\n  paths: [{path}]\n"))
    assert not cfg.errors, cfg.errors
    return cfg.rules[0]


def _rows_the_rule_trains_at(rule, times: np.ndarray, values: np.ndarray) -> list[int]:
    """Evaluate the rule once per bucket (scoring row i); rows where it asked for history."""
    trained = []
    for row, t in enumerate(times):
        end = int(t) + HOUR
        qs = anomaly.queries(rule, end + 30_000)
        if all(q.start_ms >= anomaly._context_start(rule, end) for q in qs):
            continue  # the scored context alone: no history asked
        trained.append(row)
        anomaly.evaluate(rule, end + 30_000, [
            [MetricRow({"midwatch.flow": "o2c"}, float(v), int(v), int(b))
             for b, v in zip(times, values, strict=True)
             if q.start_ms <= b < q.end_ms and not np.isnan(v)]
            for q in qs])
    return trained


def test_the_rule_and_the_stream_retrain_at_the_same_rows(tmp_path):
    persist.forget()
    rule = _rule(tmp_path)
    n = 30 * 24
    times = START + np.arange(n, dtype=np.int64) * HOUR
    values = 1 + np.random.default_rng(3).poisson(20, n)
    by_rule = _rows_the_rule_trains_at(rule, times, values)
    by_stream = retrain_points(n, rule.spec.settings, rule.spec.retrain_ms // HOUR)
    assert by_rule[0] == 0  # no model yet: the first evaluation learns (from nothing)
    assert by_rule[1:] == by_stream
    # cold start at 24 rows, min_history (48), then a day or a quarter more history, the
    # quarter capped by max_history (337 buckets of 14 days: every 84 rows at the end)
    assert by_stream == [24, 48, 72, 96, 120, 150, 187, 233, 291, 363, 447, 531, 615, 699]


def test_a_sparse_series_is_not_retrained_as_a_young_one(tmp_path):
    """p95 latency of a flow with traffic every other hour: half its buckets have no value.
    Counting those as history, not as missing, keeps the rule on the stream's schedule
    instead of retraining every few buckets just short of ``min_history``."""
    persist.forget()
    rule = _rule(tmp_path, "p95_latency")
    n = 20 * 24
    times = START + np.arange(n, dtype=np.int64) * HOUR
    values = 200 + np.random.default_rng(4).normal(0, 10, n)
    values[1::2] = np.nan
    by_rule = _rows_the_rule_trains_at(rule, times, values)
    by_stream = retrain_points(n, rule.spec.settings, rule.spec.retrain_ms // HOUR)
    # Until the 14 days of history are full, the same rows; after that a series' history is
    # the window from its first value in it, so a gap at the window's start counts a row less.
    young = [r for r in by_stream if r <= 14 * 24]
    assert by_rule[1:len(young) + 1] == young == [24, 48, 72, 96, 120, 150, 187, 233, 291]
    assert np.diff(by_rule[len(young):]).tolist() == [72, 83]  # uncapped: 72, 90


def test_retrain_is_the_least_interval_and_a_model_from_the_future_is_due():
    s = Settings(min_history=168, max_history=673)
    assert schedule.wait_rows(0, s, 24) == 42  # a quarter of min_history
    assert schedule.wait_rows(100, s, 24) == 68  # up to min_history
    assert schedule.wait_rows(168, s, 24) == 42 and schedule.wait_rows(168, s, 72) == 72
    assert schedule.wait_rows(10_000, s, 24) == 168  # capped by max_history / 4
    assert schedule.due(168, -1, s, 24) and not schedule.due(168, 41, s, 24)
