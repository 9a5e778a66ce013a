"""Probe runs in the Prometheus text: the runner against the real RabbitMQ (and a closed
port), and ``/metrics`` of a real ``midwatch run`` process with a probe configured."""

from __future__ import annotations

import time

import pytest
from probe_targets import free_port
from service_runner import run_cli_until, scrape

from collector.config import config_from_doc
from collector.metrics import Registry
from collector.probes.config import load_probes
from collector.probes.runner import ProbeRunner
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads

pytestmark = pytest.mark.timeout(90)


def _samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("midwatch_probe_")}


def test_runner_counts_real_rabbitmq_runs(rabbitmq_url, tmp_sqlite_path, monkeypatch):
    monkeypatch.setenv("RABBITMQ_PASSWORD", "guest")
    doc = loads(f"""
probes:
  - {{name: broker, kind: rabbitmq, url: "{rabbitmq_url}", username: guest,
     password: "${{RABBITMQ_PASSWORD}}", interval: 1s, timeout: 1s}}
  - {{name: gone, kind: rabbitmq, url: "http://127.0.0.1:{free_port()}", username: guest,
     password: "${{RABBITMQ_PASSWORD}}", interval: 1s, timeout: 1s}}
""")
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    runner = ProbeRunner(load_probes(config_from_doc(doc)), store)
    registry = Registry()
    runner.expose_metrics(registry)
    started = time.time()
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(i.runs for i in runner.items) < 2:
            time.sleep(0.1)
    finally:
        runner.stop()
        store.close()
    samples = _samples(registry.expose())
    broker, gone = runner.items
    assert samples['midwatch_probe_runs_total{probe="broker",result="ok"}'] == broker.runs >= 2
    assert samples['midwatch_probe_runs_total{probe="broker",result="error"}'] == 0
    assert samples['midwatch_probe_runs_total{probe="gone",result="error"}'] == gone.runs >= 2
    assert samples['midwatch_probe_runs_total{probe="gone",result="ok"}'] == 0
    assert samples['midwatch_probe_duration_seconds_count{probe="broker"}'] == broker.runs
    assert samples['midwatch_probe_duration_seconds_bucket{probe="broker",le="+Inf"}'] == \
        broker.runs
    assert 0 < samples['midwatch_probe_duration_seconds_sum{probe="broker"}'] < broker.runs
    assert started <= samples[
        'midwatch_probe_last_success_timestamp_seconds{probe="broker"}'] <= time.time()
    assert 'midwatch_probe_last_success_timestamp_seconds{probe="gone"}' not in samples


def test_midwatch_run_serves_probe_metrics(tmp_path, rabbitmq_url):
    (tmp_path / "app.log").write_text("")
    port = free_port()
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 'mw.sqlite'}"}}}}
collector: {{checkpoint_dir: "{tmp_path / 'cp'}", state_dir: "{tmp_path}"}}
api: {{listen: "127.0.0.1:{port}"}}
inputs:
  - {{type: file, name: app, paths: ["{tmp_path / 'app.log'}"]}}
probes:
  - {{name: broker, kind: rabbitmq, url: "{rabbitmq_url}", username: guest,
     password: "${{RABBITMQ_PASSWORD}}", interval: 1s, timeout: 1s}}
""")
    samples: dict[str, float] = {}

    def two_runs() -> bool:
        samples.update(_samples(scrape(port)))
        return samples.get('midwatch_probe_runs_total{probe="broker",result="ok"}', 0) >= 2

    code, err = run_cli_until(["run", "-c", str(config)], two_runs,
                           env={"RABBITMQ_PASSWORD": "guest"})
    assert samples.get('midwatch_probe_runs_total{probe="broker",result="ok"}', 0) >= 2, \
        err[-2000:]
    assert samples['midwatch_probe_duration_seconds_count{probe="broker"}'] >= 2
    assert 'midwatch_probe_last_success_timestamp_seconds{probe="broker"}' in samples
    assert code == 0, err[-2000:]
