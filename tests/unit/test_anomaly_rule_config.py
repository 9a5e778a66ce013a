"""Anomaly rule settings are validated with file:line errors like every other rule key."""

from __future__ import annotations

from collector.yamlconf import loads
from rules.config import load_rules_config


def _load(tmp_path, extra: str):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - name: vol\n    type: anomaly\n    group_by: [midwatch.flow]\n"
                    + extra)
    return load_rules_config(loads(f"rules:\n  paths: [{path}]\n"))


def test_defaults_and_derived_settings(tmp_path):
    cfg = _load(tmp_path, "    bucket: 10m\n    min_history: 2d\n    holidays: [2026-12-25]\n"
                          "    timezone: Europe/Berlin\n")
    assert not cfg.errors
    spec = cfg.rules[0].spec
    assert spec.metric == "rate" and spec.bucket_ms == 600_000 and spec.threshold == 0.8
    assert spec.settings.min_history == 2 * 144  # buckets
    assert spec.settings.holidays == frozenset({20_812})  # 2026-12-25 as an epoch day
    assert spec.label == "events/10min" and spec.settings.timezone == "Europe/Berlin"


def test_bad_settings_name_file_line_and_key(tmp_path):
    for extra, words in (("    bucket: 7m\n", "bucket"), ("    bucket: 2h\n", "bucket"),
                         ("    metric: volume\n", "metric"),
                         ("    timezone: Mars/Olympus\n", "timezone"),
                         ("    holidays: [christmas]\n", "holidays"),
                         ("    threshold: 2\n", "threshold")):
        cfg = _load(tmp_path, extra)
        assert cfg.errors, extra
        text = str(cfg.errors[0])
        assert "r.yaml:" in text and words in text, text
