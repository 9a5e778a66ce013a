"""What the on-call rule tests share: events written and made searchable, and a rules config
from a rule file's text (the stores: ``paging_support.paging_stores``)."""

from __future__ import annotations

from pathlib import Path

from collector.event import Event
from collector.store.base import Store
from collector.yamlconf import loads
from rules.config import RulesConfig, load_rules_config


def write(store: Store, events: list[Event]) -> None:
    result = store.write_events(events)
    assert result.written == len(events) and not result.rejected
    store.refresh()


def rules_config(tmp_path: Path, rules: str, extra: str = "") -> RulesConfig:
    """``rules`` (a rule file's text) as the only rule file of a config with ``extra``."""
    (tmp_path / "rules.yaml").write_text(rules)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/rules.yaml]\n{extra}"))
    assert not cfg.errors, cfg.errors
    return cfg
