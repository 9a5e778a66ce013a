"""``midwatch rules eval``, ``silence add/list/expire`` and the scheduler hook of
``midwatch run``, on a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.config import load_config
from collector.event import Event, event_id
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import ConfigError
from midwatch.cli import main
from rules.scheduler import scheduler_worker

T0 = 1_709_546_400_000


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "r.yaml").write_text("""\
rules:
  - name: errors
    type: threshold
    filter: {log.level: error}
    group_by: [midwatch.flow]
    above: 2
    annotations: {summary: "{{ labels.flow }}: {{ count }} errors ({{ message_ids | top(2) }})"}
""")
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}
rules: {{paths: [{tmp_path}/r.yaml], interval: 30s, notify: [hook]}}
notifiers:
  hook: {{type: webhook, url: "http://127.0.0.1:9/hook"}}
""")
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    store.write_events([Event(T0 - (i + 1) * 1000, "t", "mulesoft", "boom", level="error", flow="o2c",
                              message_id=f"o{i}", id=event_id("cli", str(i))) for i in range(3)])
    store.close()
    return cfg


def test_eval_prints_one_json_object_per_alert(config, capsys):
    assert main(["rules", "eval", "-c", str(config), "--at", "2024-03-04T10:00:00Z", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "rule": "errors", "labels": {"flow": "o2c"}, "state": "firing", "value": 3.0,
        "summary": "o2c: 3 errors (o0, o1)", "severity": "warning",
        "dedup_key": json.loads(line)["dedup_key"], "notify": ["hook"],
    }
    # Nothing was remembered: eval never writes alert state.
    assert SQLiteStore(config.parent / "s.sqlite").get_state("alerts") == {}


def test_eval_text_and_bad_time(config, capsys):
    assert main(["rules", "eval", "-c", str(config), "--at", str(T0)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("firing   errors {flow=o2c} value=3.0 -> hook\n")
    assert main(["rules", "eval", "-c", str(config), "--at", "yesterday"]) == 2
    assert "--at: expected ISO-8601" in capsys.readouterr().err


def test_silence_add_list_expire(config, capsys):
    assert main(["silence", "add", "--match", "rule=errors,flow=o2c", "--for", "2h",
                 "--comment", "SAP maintenance", "--author", "ana", "-c", str(config)]) == 0
    sid = capsys.readouterr().out.split()[0]
    assert main(["silence", "list", "-c", str(config)]) == 0
    listed = capsys.readouterr().out
    assert f"{sid}  active   rule=errors,flow=o2c" in listed and "by ana: SAP maintenance" in listed
    assert main(["silence", "expire", sid, "-c", str(config)]) == 0
    assert "expired" in capsys.readouterr().out
    assert main(["silence", "expire", "nope", "-c", str(config)]) == 1
    assert main(["silence", "add", "--match", "flow", "--for", "2h", "--comment", "x",
                 "-c", str(config)]) == 1
    assert "expected label=value" in capsys.readouterr().err


def test_scheduler_hook_restores_then_evaluates(config):
    cfg = load_config(config)
    store = cfg.open_store()
    store.setup()
    scheduler = scheduler_worker(cfg, store)
    assert scheduler.leadership.renew()  # the only process: it takes the rules lease
    scheduler.tick(T0)
    assert scheduler.restored_under == scheduler.leadership.token and scheduler.ticks == 1
    (doc,) = store.get_state("alerts").values()
    assert [a["state"] for a in doc["alerts"].values()] == ["firing"]
    store.close()


def test_scheduler_hook_refuses_broken_rules(config):
    (config.parent / "r.yaml").write_text("rules: [{name: x, type: treshold}]\n")
    cfg = load_config(config)
    with pytest.raises(ConfigError, match="did you mean 'threshold'"):
        scheduler_worker(cfg, cfg.open_store())


def test_times_take_a_duration_ago_so_examples_work_on_any_days_data(monkeypatch):
    from midwatch.commands import rules as cli

    monkeypatch.setattr(cli, "_now_ms", lambda: 1_764_000_000_000)
    assert cli._parse_at("24h") == 1_764_000_000_000 - 86_400_000
    assert cli._parse_at("now") == 1_764_000_000_000
    assert cli._parse_at("1700000000000") == 1_700_000_000_000
    assert cli._parse_at("2026-11-29T00:00:00Z") == 1_795_910_400_000


def test_silencing_a_rule_the_config_does_not_have_warns_with_the_closest(config, capsys):
    assert main(["silence", "add", "--match", "rule=erors", "--for", "1h", "--comment", "x",
                 "-c", str(config)]) == 0
    err = capsys.readouterr().err
    assert "warning: no rule named 'erors' in this config; did you mean 'errors'?" in err
    assert main(["silence", "add", "--match", "rule=errors", "--for", "1h", "--comment", "x",
                 "-c", str(config)]) == 0
    assert "warning" not in capsys.readouterr().err
