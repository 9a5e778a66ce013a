"""Notifier secrets never appear in output, logs or errors; a literal secret in YAML is refused."""

from __future__ import annotations

import json
import logging
import time

from notify_support import (
    delivery,
    note,
)

from collector.yamlconf import Secret, make_secret
from midwatch.cli import main
from rules.notify import pagerduty


def test_secrets_never_in_output(tmp_path, monkeypatch, capsys, caplog, receivers):
    pd_key = "deadbeefdeadbeefdeadbeefdeadbeef"
    slack_url = "https://hooks.slack.com/services/T000/B000/supersecrettoken"
    monkeypatch.setenv("PD_KEY", pd_key)
    monkeypatch.setenv("SLACK_URL", slack_url)
    (tmp_path / "pw").write_text("smtp-password-42\n")
    (tmp_path / "r.yaml").write_text("rules: [{name: a, type: threshold, above: 1}]\n")
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}
rules: {{paths: [{tmp_path}/r.yaml], notify: [pd, slack, mail]}}
notifiers:
  pd: {{type: pagerduty, routing_key: "${{PD_KEY}}"}}
  slack: {{type: slack, url: "${{SLACK_URL}}"}}
  mail: {{type: email, host: smtp.example.com, from: a@example.com, to: [b@example.com],
         username: midwatch, password: "file:{tmp_path}/pw"}}
""")
    assert main(["rules", "list", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Secret(env:notifiers.pd.routing_key)" in out and "smtp.example.com" in out
    # A receiver that echoes the request back in its error, as some APIs do.
    echo = receivers(lambda path, headers, body: [body.decode()])
    make_secret(pd_key, "env:PD_KEY")
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(pd_key, "env:PD"), f"{echo.url}/v2/enqueue"))
    history: list[dict] = []
    d = delivery(tmp_path, [pd], history)
    d.start()
    caplog.set_level(logging.INFO)
    d.submit(["pd"], note())
    d.flush()
    deadline = time.monotonic() + 10
    while not history and time.monotonic() < deadline:
        time.sleep(0.01)
    d.stop()
    assert history[0]["state"] == "notify_failed" and "***" in history[0]["error"]
    everything = out + capsys.readouterr().err + caplog.text + json.dumps(history)
    for secret in (pd_key, slack_url, "supersecrettoken", "smtp-password-42"):
        assert secret not in everything


def test_literal_secret_in_yaml_is_refused(tmp_path, capsys):
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text("rules: {paths: []}\nnotifiers:\n  pd: {type: pagerduty, routing_key: abc123}\n")
    assert main(["rules", "validate", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}:3:25: notifiers.pd.routing_key: secrets must not be written in YAML" in err
    assert "abc123" not in err
