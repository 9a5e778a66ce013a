"""`midwatch doctor` checks the ``exporters:`` section as ``midwatch run`` loads it, against the
real Jaeger (services.sh): a wrong key under ``exporters:`` used to pass doctor and fail only
at ``run``, and a dead tracing backend was never named."""

from __future__ import annotations

import os
import socket

from midwatch.cli import main

JAEGER_OTLP = os.environ.get("MIDWATCH_JAEGER_OTLP", "http://127.0.0.1:14318")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _doctor(tmp_path, capsys, otlp: str) -> tuple[int, dict[str, str]]:
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n"
                   f"exporters:\n  otlp:\n{otlp}")
    rc = main(["doctor", "-c", str(cfg)])
    return rc, {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}


def test_doctor_sends_an_empty_otlp_request_to_jaeger(tmp_path, capsys):
    rc, rows = _doctor(tmp_path, capsys, f"    endpoint: {JAEGER_OTLP}\n")
    assert rows["exporter"].split()[1:3] == ["OK", "otlp"], rows
    assert f"{JAEGER_OTLP}/v1/traces accepts OTLP (HTTP 200)" in rows["exporter"]
    assert rc == 0


def test_doctor_fails_a_wrong_key_under_exporters_as_run_would(tmp_path, capsys):
    rc, rows = _doctor(tmp_path, capsys, f"    endpoint: {JAEGER_OTLP}\n    service_name: x\n")
    assert rows["exporter"].split()[1:3] == ["FAIL", "exporters:"], rows
    assert "midwatch.yaml:8:5: exporters.otlp.service_name: unknown key" in rows["exporter"]
    assert rc == 1


def test_doctor_names_a_dead_tracing_backend(tmp_path, capsys):
    dead = f"http://127.0.0.1:{_free_port()}/v1/traces"
    rc, rows = _doctor(tmp_path, capsys, f"    endpoint: {dead}\n")
    assert f"FAIL  otlp  cannot reach {dead}: " in rows["exporter"]
    assert rc == 1


def test_doctor_names_a_url_that_is_not_an_otlp_receiver(tmp_path, capsys):
    wrong = JAEGER_OTLP + "/v1/logs-not-traces"
    rc, rows = _doctor(tmp_path, capsys, f"    endpoint: {wrong}\n")
    assert "answered HTTP 404 to an empty OTLP request" in rows["exporter"], rows
    assert rc == 1
