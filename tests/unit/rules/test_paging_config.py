"""Paging configuration: notifier secrets resolve only for what sends; ``doctor`` loads
notifiers as ``run`` does; the top-level ``alertmanager:`` section is a notifier; unknown
keys under it and under ``anomaly:`` are errors; the pack's self-alerts go to ``fallback``."""

from __future__ import annotations

import pytest

from collector.config import load_config
from collector.yamlconf import ConfigError, loads
from midwatch.cli import main
from rules.config import load_rules_config
from rules.scheduler import scheduler_worker


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv("PD_KEY_NOT_SET", raising=False)
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 's.sqlite'}"}}}}
rules: {{paths: [pack:midwatch], notify: [pd]}}
notifiers:
  pd: {{type: pagerduty, routing_key: "${{PD_KEY_NOT_SET}}"}}
  hook: {{type: webhook, url: "${{HOOK_URL_NOT_SET}}"}}
""")
    return path


def test_commands_that_do_not_send_need_no_notifier_secret(config, capsys):
    assert main(["silence", "add", "--match", "rule=x", "--for", "1h", "--comment", "maint",
                 "--author", "ana", "-c", str(config)]) == 0
    assert main(["silence", "list", "-c", str(config)]) == 0
    assert "by ana: maint" in capsys.readouterr().out
    assert main(["rules", "list", "-c", str(config)]) == 0
    assert "Secret(unset:notifiers.pd.routing_key)" in capsys.readouterr().out


def test_what_sends_refuses_an_unset_secret_and_doctor_agrees(config, capsys):
    with pytest.raises(ConfigError, match="PD_KEY_NOT_SET is not set"):
        scheduler_worker(load_config(str(config)), None)
    assert main(["rules", "run", "-c", str(config)]) == 2
    assert "environment variable PD_KEY_NOT_SET is not set" in capsys.readouterr().err
    assert main(["doctor", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    rules_row = next(line for line in out.splitlines() if line.startswith("rules"))
    assert "FAIL" in rules_row and "notifiers.pd.routing_key" in rules_row
    assert "(+1 more)" in rules_row  # the webhook URL too


def test_doctor_passes_what_run_accepts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PD_KEY_SET", "k" * 32)
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 's.sqlite'}"}}}}
rules: {{paths: [pack:midwatch], notify: [pd]}}
notifiers: {{pd: {{type: pagerduty, routing_key: "${{PD_KEY_SET}}"}}}}
""")
    assert main(["doctor", "-c", str(path)]) == 0
    assert "rules  OK    7 rules, 1 notifiers" in capsys.readouterr().out
    assert scheduler_worker(load_config(str(path)), _sqlite(tmp_path)) is not None


def _sqlite(tmp_path):
    from collector.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "w.sqlite")
    store.setup()
    return store


def test_top_level_alertmanager_is_a_notifier_with_checked_keys():
    cfg = load_rules_config(loads("rules: {paths: []}\nalertmanager: {url: 'http://am:9093/'}\n"))
    assert not cfg.errors and cfg.notify == ("alertmanager",)
    assert cfg.notifiers["alertmanager"].options.url == "http://am:9093"
    bad = load_rules_config(loads("rules: {paths: []}\nalertmanager: {url: 'http://am', tls: 1}\n",
                                  "m.yaml"))
    assert str(bad.errors[0]).startswith("m.yaml:2:34: alertmanager.tls: unknown key")


def test_anomaly_section_takes_no_keys():
    cfg = load_rules_config(loads("rules: {paths: []}\nanomaly:\n  bucket: 1m\n", "m.yaml"))
    assert str(cfg.errors[0]).startswith("m.yaml:3:3: anomaly.bucket: unknown key")


def test_self_alerts_go_to_fallback_or_the_defaults():
    base = ("rules: {paths: [pack:midwatch], notify: [pd]}\nnotifiers:\n"
            "  pd: {type: webhook, url: 'http://pd'}\n")
    without = {r.name: r.notify for r in load_rules_config(loads(base)).rules}
    assert without["midwatch-notifier-failing"] == ("pd",)
    with_fb = load_rules_config(loads(base + "  fallback: {type: webhook, url: 'http://fb'}\n"))
    routed = {r.name: with_fb.notifiers_of(r) for r in with_fb.rules}
    assert routed["midwatch-notifier-failing"] == ("fallback",)
    assert routed["midwatch-rule-evaluation-failing"] == ("fallback",)
    assert routed["midwatch-dead-letters"] == ("pd",)
