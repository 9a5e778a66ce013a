"""Training and scoring times reach the Prometheus text of the service's registry."""

from __future__ import annotations

from collector.metrics import Registry
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.anomaly import timings
from rules.config import load_rules_config
from rules.scheduler import RuleScheduler


def test_scheduler_exposes_anomaly_timings(tmp_path):
    cfg = load_rules_config(loads("rules:\n  paths: []\n"))
    registry = Registry()
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    scheduler = RuleScheduler(cfg, store=store)
    scheduler.expose_metrics(registry)
    scheduler.expose_metrics(registry)  # idempotent: one sink per registry
    try:
        with timings.timed("train", "order-volume", 42):
            pass
        with timings.timed("score", "order-volume", 42):
            pass
        text = registry.expose()
        assert 'midwatch_anomaly_duration_seconds_count{phase="train",rule="order-volume"} 1' \
            in text
        assert 'midwatch_anomaly_duration_seconds_count{phase="score",rule="order-volume"} 1' \
            in text
        assert 'midwatch_anomaly_series{phase="train",rule="order-volume"} 42' in text
    finally:
        timings.detach(registry)
    with timings.timed("train", "order-volume", 1):
        pass
    # Detached: the count stays at 1.
    assert 'midwatch_anomaly_duration_seconds_count{phase="train",rule="order-volume"} 1' \
        in registry.expose()
