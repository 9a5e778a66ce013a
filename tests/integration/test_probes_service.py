"""Probes inside the real ``midwatch run`` process, ``midwatch probes run`` and its ``--once``:
readings reach the store on their interval, both stop cleanly, ``--once`` prints a table."""

from __future__ import annotations

import pytest
from probe_targets import free_port, http_server
from service_runner import run_cli_until

from collector.store.base import Filter, MetricQuery, StoreError
from collector.store.sqlite import SQLiteStore
from midwatch.cli import main

pytestmark = pytest.mark.timeout(90)


def _config(tmp_path, port: int, down_port: int) -> str:
    (tmp_path / "app.log").write_text("")
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 'mw.sqlite'}"}}}}
collector: {{checkpoint_dir: "{tmp_path / 'cp'}", state_dir: "{tmp_path}"}}
inputs:
  - {{type: file, name: app, paths: ["{tmp_path / 'app.log'}"]}}
probes:
  - {{name: health, kind: http, url: "http://127.0.0.1:{port}/health", interval: 1s,
     timeout: 1s, body_contains: UP}}
  - {{name: gone, kind: http, url: "http://127.0.0.1:{down_port}/health", interval: 1s,
     timeout: 1s}}
""")
    return str(path)


def _up_counts(db_path) -> dict[tuple, int]:
    store = SQLiteStore(db_path)
    try:
        [rows] = store.metrics([MetricQuery(
            "events", 0, 2**62, filters=(Filter("labels.probe.metric", "eq", "endpoint.up"),),
            group_by=("service.name", "event.outcome"))])
    finally:
        store.close()
    return {(r.group["service.name"], r.group["event.outcome"]): r.count for r in rows}


@pytest.mark.parametrize("command", [("run", "-c", "{config}", "--no-api"),
                                     ("probes", "run", "-c", "{config}")],
                         ids=["midwatch run", "midwatch probes run"])
def test_probes_run_on_their_interval_until_stopped(tmp_path, command):
    with http_server({"/health": (200, b"UP", None)}) as port:
        config = _config(tmp_path, port, free_port())
        argv = [a.format(config=config) for a in command]
        counts: dict = {}

        def three_up() -> bool:
            if not (tmp_path / "mw.sqlite").exists():
                return False
            try:
                counts.update(_up_counts(tmp_path / "mw.sqlite"))
            except StoreError:  # created by the child, its tables not yet
                return False
            return counts.get(("health", "success"), 0) >= 3

        code, err = run_cli_until(argv, three_up)
    assert counts.get(("health", "success"), 0) >= 3, err[-2000:]
    assert counts.get(("gone", "failure"), 0) >= 2
    assert ("health", "failure") not in counts and ("gone", "success") not in counts
    assert code == 0, err[-2000:]


def test_probes_run_once_prints_a_table_and_fails_on_a_failure(tmp_path, capsys):
    with http_server({"/health": (200, b"UP", None)}) as port:
        config = _config(tmp_path, port, free_port())
        assert main(["probes", "run", "-c", config, "--once", "--probe", "health"]) == 0
        ok = capsys.readouterr().out
        assert main(["probes", "run", "-c", config, "--once", "--no-store"]) == 1
        both = capsys.readouterr().out
    header, *rows = ok.splitlines()
    assert header.split() == ["PROBE", "METRIC", "VALUE", "STATUS", "LABELS"]
    assert [r.split()[:2] for r in rows] == [["health", "probe.up"], ["health", "endpoint.up"],
                                             ["health", "http.latency_ms"]]
    assert [r.split()[3] for r in rows] == ["ok", "ok", "ok"]
    gone = [line for line in both.splitlines() if line.split()[:2] == ["gone", "endpoint.up"]]
    assert len(gone) == 1 and gone[0].split()[2:4] == ["0", "FAIL"]
    assert "Connection refused" in gone[0]
    # --once stored the first run (health only), not the --no-store one
    assert _up_counts(tmp_path / "mw.sqlite") == {("health", "success"): 1}
    assert main(["probes", "run", "-c", config, "--once", "--probe", "nope"]) == 2
    assert "no probe named nope" in capsys.readouterr().err
