"""`midwatch doctor` runs each configured probe once against the real services: a ``probe``
row per probe, FAIL for a target on a closed port, and the other rows as before."""

from __future__ import annotations

import pytest
from probe_targets import free_port

from midwatch.cli import main

pytestmark = pytest.mark.timeout(90)


def _rows(out: str) -> list[list[str]]:
    return [line.split(maxsplit=3) for line in out.splitlines()]


def test_doctor_runs_each_probe_once(tmp_path, capsys, monkeypatch, kafka_bootstrap,
                                     rabbitmq_url):
    monkeypatch.setenv("RABBITMQ_PASSWORD", "guest")
    closed = free_port()
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 'm.sqlite'}"}}}}
kafka: {{bootstrap: ["{kafka_bootstrap}"]}}
probes:
  - {{name: lag, kind: kafka}}
  - {{name: broker, kind: rabbitmq, url: "{rabbitmq_url}", username: guest,
     password: "${{RABBITMQ_PASSWORD}}"}}
  - {{name: gone, kind: rabbitmq, url: "http://127.0.0.1:{closed}"}}
  - {{name: health, kind: http, url: "http://127.0.0.1:{closed}/health"}}
  - {{name: paused, kind: http, url: "http://127.0.0.1:{closed}/", enabled: false}}
""")
    rc = main(["doctor", "-c", str(cfg)])
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [r[:3] for r in rows] == [
        ["store", "OK", "sqlite"], ["kafka", "OK", kafka_bootstrap],
        ["probe", "OK", "lag"], ["probe", "OK", "broker"],
        ["probe", "FAIL", "gone"], ["probe", "FAIL", "health"]], out
    # The backend column keeps its width: "probe" is no wider than "store".
    assert out.splitlines()[0].startswith("store  OK    sqlite  ")
    detail = {r[2]: r[3] for r in rows if r[0] == "probe"}
    assert detail["lag"].startswith(f"kafka {kafka_bootstrap}: ") and "readings in" in detail["lag"]
    assert detail["broker"].startswith(f"rabbitmq {rabbitmq_url}: ")
    assert detail["gone"].startswith(f"rabbitmq http://127.0.0.1:{closed}: probe.up: ")
    assert "Connection refused" in detail["gone"]
    assert detail["health"].startswith(f"http http://127.0.0.1:{closed}/health: endpoint.up: ")
    assert "guest" not in out  # secrets stay out of the table
    assert rc == 1


def test_doctor_without_probes_adds_no_row_and_a_bad_probes_section_is_one_fail_row(
        tmp_path, capsys):
    store = f"store: {{kind: sqlite, sqlite: {{path: \"{tmp_path / 'm.sqlite'}\"}}}}\n"
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(store)
    assert main(["doctor", "-c", str(cfg)]) == 0
    assert [r[0] for r in _rows(capsys.readouterr().out)] == ["store"]

    cfg.write_text(store + "probes:\n  - {name: lag, kind: kafak}\n")
    assert main(["doctor", "-c", str(cfg)]) == 1
    rows = _rows(capsys.readouterr().out)
    assert [r[:3] for r in rows] == [["store", "OK", "sqlite"], ["probe", "FAIL", "probes:"]]
    assert "unknown probe kind 'kafak'" in rows[1][3] and "kafka" in rows[1][3]
