"""The Prometheus alert rules shipped for the spool and the rest of the collector's /metrics
name only series the collector really registers (a renamed metric silently disables an alert)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "prometheus-midwatch-alerts.yaml"
REGISTERED = re.compile(r'\.(?:counter|gauge|histogram)\(\s*"(midwatch_[a-z_]+)"')


def registered_metrics() -> set[str]:
    names: set[str] = set()
    for path in [*(ROOT / "collector").rglob("*.py"), *(ROOT / "rules").rglob("*.py")]:
        names.update(REGISTERED.findall(path.read_text()))
    return names


def test_alert_rules_use_only_registered_metrics():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {"MidwatchSpoolFilling", "MidwatchSpoolFull",
                                           "MidwatchStoreUnavailable", "MidwatchCollectorStalled",
                                           "MidwatchRulePassesSkipped"}
    known = registered_metrics()
    assert {"midwatch_spool_bytes", "midwatch_spool_full", "midwatch_store_available"} <= known
    for rule in rules:
        used = set(re.findall(r"midwatch_[a-z_]+", rule["expr"]))
        assert used and used <= known, f"{rule['alert']}: unknown {sorted(used - known)}"
        assert rule["labels"]["severity"] in ("warning", "critical")
