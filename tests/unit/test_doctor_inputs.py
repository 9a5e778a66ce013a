"""`midwatch doctor` rows for file inputs, and the warning for a pattern matching nothing."""

from __future__ import annotations

import logging
from pathlib import Path

from collector.config import CollectorSettings, load_config
from collector.doctor import run_checks
from collector.inputs.base import parse_context
from collector.inputs.file import Config as FileInputConfig
from collector.inputs.file import FileInput
from collector.metrics import Registry
from midwatch.cli import main


def config(tmp_path: Path, paths: list[str], start_at: str = "beginning") -> Path:
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(
        f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n"
        f"collector:\n  checkpoint_dir: {tmp_path / 'ckpt'}\n"
        f"inputs:\n  - type: file\n    name: app\n    start_at: {start_at}\n"
        f"    paths: [{', '.join(paths)}]\n")
    return cfg


def input_row(cfg: Path):
    (row,) = [r for r in run_checks(load_config(cfg)) if r.backend == "input"]
    return row


def test_row_counts_files_and_unacknowledged_bytes(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text('{"message": "a"}\n')
    (logs / "b.log").write_text('{"message": "bb"}\n')
    cfg = config(tmp_path, [str(logs / "*.log")])
    row = input_row(cfg)
    assert (row.ok, row.target) == (True, "app")
    assert row.detail == "2 files matched, 2 readable, 35 bytes behind"
    # Once read and acknowledged, only what was appended since is behind.
    inp = FileInput(load_config(cfg).inputs[0], parse_context(CollectorSettings(), frozenset(),
                    None), str(tmp_path / "ckpt"), Registry())
    inp.scan()
    for tail in list(inp.tails.values()):
        while (chunk := inp.read(tail)) is not None and chunk.records:
            chunk.ack()
    inp.close()
    with (logs / "a.log").open("a") as fh:
        fh.write('{"message": "later"}\n')
    assert input_row(cfg).detail == "2 files matched, 2 readable, 21 bytes behind"
    assert input_row(config(tmp_path, [str(logs / "*.log")], "end")).detail.endswith(
        "21 bytes behind")


def test_pattern_matching_nothing_fails_the_row_and_the_exit_status(tmp_path, capsys):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("x\n")
    cfg = config(tmp_path, [str(logs / "*.log"), str(tmp_path / "typo" / "*.log")])
    assert main(["doctor", "-c", str(cfg)]) == 1
    out = capsys.readouterr().out.splitlines()
    (line,) = [x for x in out if x.startswith("input")]
    assert line.split()[:3] == ["input", "FAIL", "app"]
    assert f"{tmp_path / 'typo' / '*.log'} matches no file" in line
    assert "1 files matched, 1 readable" in line


def test_unmatched_pattern_is_warned_at_start_then_not_every_scan(tmp_path, caplog):
    cfg = FileInputConfig(name="t", paths=(str(tmp_path / "none" / "*.log"),),
                          parse_worker=False)
    metrics = Registry()
    inp = FileInput(cfg, parse_context(CollectorSettings(), frozenset(), None),
                    str(tmp_path / "ckpt"), metrics)
    with caplog.at_level(logging.WARNING, logger="midwatch.inputs.file"):
        inp.scan()
        inp.scan()
    warned = [r for r in caplog.records if "matches no file" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].patterns == [str(tmp_path / "none" / "*.log")]
    assert 'midwatch_input_file_patterns_unmatched{input="t"} 1' in metrics.expose()
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "a.log").write_text("x\n")
    inp.scan()
    assert 'midwatch_input_file_patterns_unmatched{input="t"} 0' in metrics.expose()
    inp.close()


def test_kafka_down_is_waited_for_once_and_every_kafka_row_says_why(tmp_path):
    """With the broker down each Kafka row waited kafka.bootstrap_timeout (30 s) again, and
    said only "KafkaTimeoutError"/"NoBrokersAvailable" (73 s for a new user's doctor)."""
    import socket
    import time

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(
        f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n"
        f"kafka: {{bootstrap: ['127.0.0.1:{port}'], bootstrap_timeout: 2s}}\n"
        "inputs:\n  - {type: kafka, name: orders, topics: [orders], group_id: g}\n"
        "  - {type: kafka, name: invoices, topics: [invoices], group_id: g}\n")
    started = time.monotonic()
    rows = [r for r in run_checks(load_config(cfg)) if r.backend in ("kafka", "input")]
    took = time.monotonic() - started
    assert [(r.backend, r.target, r.ok) for r in rows] == [
        ("kafka", f"127.0.0.1:{port}", False), ("input", "orders", False),
        ("input", "invoices", False)]
    assert {r.detail for r in rows} == {
        f"cannot reach 127.0.0.1:{port} within 2s (KafkaTimeoutError): is the broker running, "
        "and is kafka.bootstrap its listener?"}
    assert took < 3 * 2  # one wait of 2 s, not three
