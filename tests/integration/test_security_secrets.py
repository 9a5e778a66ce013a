"""No secret value in any output: a whole midwatch session — run (files into the real ES, the
API, rules firing into notifiers that cannot be reached), doctor, rules list/eval, dashboards
push, the API with good and bad tokens, demo — with pager, Grafana, SMTP, Alertmanager, a
webhook URL that carries a token (as Slack's do), API, Elasticsearch and Kafka SASL credentials
in the environment or in files. Every byte of stdout, stderr and every log file is searched for
each secret (and for the token part of the webhook URL alone, which an HTTP error would print
without the rest of the URL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

MIDWATCH = [str(Path(sys.executable).parent / "midwatch")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secrets() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "PAGERDUTY_ROUTING_KEY": f"pdkey{tag}R0UT1NG",
        "OPSGENIE_API_KEY": f"genie-{tag}-4p1k3y",
        "HOOK_URL": f"http://127.0.0.1:9/services/T0{tag}/B0HOOK/h00kp4th{tag}",
        "GRAFANA_TOKEN": f"glsa_{tag}_gr4f4n4",
        "SMTP_PASSWORD": f"smtp-{tag}-p4ss",
        "AM_BEARER": f"am-{tag}-b34r3r",
        "MIDWATCH_API_TOKEN": f"api-{tag}-t0k3n",
        "ES_PASSWORD": f"es-{tag}-p4ssw0rd",
    }


def _config(tmp_path: Path, es_url: str, prefix: str, secure_kafka, api_port: int) -> Path:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.jsonl").write_text("".join(
        f'{{"timestamp": "{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}", '
        f'"level": "error", "message": "payment failed {i}", "orderId": "o-{i}"}}\n'
        for i in range(5)))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "errors.yaml").write_text("""
rules:
  - name: any-error
    type: threshold
    description: every error pages, so that every notifier is called
    filter: {log.level: error}
    above: 0
    window: 1d
    interval: 1s
    severity: critical
    annotations: {summary: "{{ count }} errors"}
""")
    kafka_pw = tmp_path / "kafka-password"
    kafka_pw.write_text(secure_kafka.password + "\n")
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"""
store:
  kind: elasticsearch
  elasticsearch:
    url: {es_url}
    index_prefix: {prefix}
    username: midwatch
    password: ${{ES_PASSWORD}}
collector:
  checkpoint_dir: {tmp_path / "checkpoints"}
  state_dir: {tmp_path / "var"}
  spool: {{dir: {tmp_path / "spool"}}}
  batch: {{flush_interval: 100ms}}
inputs:
  - {{type: file, name: app, paths: ["{tmp_path}/logs/*.jsonl"]}}
api:
  listen: 127.0.0.1:{api_port}
  tokens:
    - {{name: grafana, token: "${{MIDWATCH_API_TOKEN}}"}}
kafka:
  bootstrap: [{secure_kafka.url}]
  security:
    protocol: SASL_SSL
    ssl_cafile: {secure_kafka.ca}
    sasl_mechanism: PLAIN
    sasl_plain_username: midwatch
    sasl_plain_password: file:{kafka_pw}
rules:
  paths: [{tmp_path / "rules"}]
  interval: 1s
  notify: [pager, genie, chat, mail, am]
  # unreachable receivers are retried until the page expires: make that seconds, not a day
  retry_backoff: 100ms
  retry_backoff_max: 1s
  notification_expiry: 5s
notifiers:
  pager: {{type: pagerduty, routing_key: "${{PAGERDUTY_ROUTING_KEY}}", url: "http://127.0.0.1:9/v2/enqueue"}}
  genie: {{type: opsgenie, api_key: "${{OPSGENIE_API_KEY}}", url: "http://127.0.0.1:9"}}
  chat: {{type: webhook, url: "${{HOOK_URL}}"}}
  mail: {{type: email, to: [ops@example.com]}}
  am: {{type: alertmanager, url: "http://127.0.0.1:9", bearer_token: "${{AM_BEARER}}"}}
smtp:
  host: 127.0.0.1
  port: 9
  tls: starttls
  from: midwatch@example.com
  username: midwatch
  password: ${{SMTP_PASSWORD}}
grafana:
  url: http://127.0.0.1:9
  token: ${{GRAFANA_TOKEN}}
""")
    return path


def _cli(args: list[str], env: dict, cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run([*MIDWATCH, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    return f"$ midwatch {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}\n"


def _get(port: int, path: str, token: str) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _session(tmp_path: Path, config: Path, env: dict, api_port: int, es_url: str) -> str:
    """Every command once; all they printed, in order."""
    out = []
    run_log = tmp_path / "run.log"
    with open(run_log, "w") as log:
        proc = subprocess.Popen([*MIDWATCH, "run", "-c", str(config), "--log-level", "debug"],
                                env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            # until every notifier has failed for good (each retries with backoff first)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if run_log.read_text().count("giving up on firing") >= 5:
                    break
                time.sleep(0.5)
            assert _get(api_port, "/api/traces", env["MIDWATCH_API_TOKEN"]) == 200
            assert _get(api_port, "/api/traces", "wrong-" + env["MIDWATCH_API_TOKEN"]) == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    out.append(run_log.read_text())
    out.append(_cli(["doctor", "-c", str(config)], env, tmp_path))
    out.append(_cli(["rules", "list", "-c", str(config)], env, tmp_path))
    out.append(_cli(["rules", "validate", str(config)], env, tmp_path))
    out.append(_cli(["rules", "eval", "-c", str(config), "--json"], env, tmp_path))
    out.append(_cli(["dashboards", "push", "-c", str(config)], env, tmp_path))
    out.append(_cli(["demo", "--messages", "20", "--workdir", str(tmp_path / "demo")], env,
                    tmp_path, timeout=300))
    return "".join(out)


@pytest.mark.timeout(600)
def test_no_secret_in_any_output_of_a_whole_session(tmp_path, es, es_url, es_index_prefix,
                                                     secure_kafka):
    secrets = _secrets()
    api_port = _free_port()
    config = _config(tmp_path, es_url, f"{es_index_prefix}mw", secure_kafka, api_port)
    env = {**os.environ, **secrets}
    printed = _session(tmp_path, config, env, api_port, es_url)

    # the session did what it should: events stored, the rule fired, notifiers were tried
    assert printed.count("giving up on firing any-error") >= 5, printed[-3000:]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".log", ".json",
                                                                           ".jsonl", ".txt")]
    everything = printed + "".join(p.read_text(errors="replace") for p in files
                                   if p.parent.name != "logs")
    needles = {**secrets, "SASL password": secure_kafka.password,
               "webhook URL path": secrets["HOOK_URL"].rsplit("/", 1)[1]}
    leaked = {name: everything.count(value) for name, value in needles.items() if value in everything}
    assert not leaked, f"secrets in the output: {leaked}"
