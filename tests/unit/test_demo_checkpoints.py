"""After `midwatch demo`, `midwatch doctor` finds no input behind and a first `midwatch run`
reads nothing again: the demo stored every line of its files, so it leaves each file input's
checkpoint at its files' ends, as `run` would have. A real demo on SQLite, the real doctor
and the real file input."""

from __future__ import annotations

from collector.config import load_config
from collector.doctor import run_checks
from collector.inputs.base import parse_context
from collector.inputs.file import FileInput
from collector.metrics import Registry
from midwatch.demo.run import run_demo

NOW = 1_800_000_000_000


def test_doctor_finds_no_input_behind_and_run_reads_nothing_again(tmp_path):
    result = run_demo(tmp_path / "demo", messages=40, now_ms=NOW)
    config = load_config(result.config)
    rows = [r for r in run_checks(config) if r.backend == "input"]
    assert len(rows) == len(config.inputs) == 9
    assert [(r.ok, r.detail) for r in rows] == [
        (True, "1 files matched, 1 readable, 0 bytes behind")] * 9
    for cfg in config.inputs:
        inp = FileInput(cfg, parse_context(config.collector, config.edi_own_ids, None),
                        config.collector.checkpoint_dir, Registry())
        try:
            inp.scan()
            (tail,) = inp.tails.values()
            chunk = inp.read(tail)
            assert chunk is None or not chunk.records, cfg.name
            assert tail.position().line > 0  # line numbers go on where the demo's ended
        finally:
            inp.close()
