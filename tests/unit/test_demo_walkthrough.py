"""What a new user does right after `midwatch demo`, on the demo's real SQLite store:

- `midwatch doctor` finds no input behind and a first `midwatch run` reads nothing again: the
  demo stored every line of its files, so it leaves each file input's checkpoint at its files'
  ends, as `run` would have (the real doctor and the real file input);
- `midwatch trace <the order number a failed order's error names>` finds that failed order:
  order-sync logs the number as a logging variable, as Mule flows do."""

from __future__ import annotations

import json
import re

import pytest

from collector.config import load_config
from collector.doctor import run_checks
from collector.inputs.base import parse_context
from collector.inputs.file import FileInput
from collector.metrics import Registry
from midwatch.cli import main
from midwatch.demo.run import run_demo

NOW = 1_800_000_000_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("demo"), messages=40, now_ms=NOW)


def test_doctor_finds_no_input_behind_and_run_reads_nothing_again(demo):
    config = load_config(demo.config)
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


def test_trace_finds_the_order_a_failed_orders_error_names(demo, capsys):
    log = (demo.workdir / "logs" / "mule-order-sync.log").read_text()
    errors = re.findall(r"^ERROR .* for order (\d+) ", log, re.MULTILINE)
    assert errors  # the scenario fails some orders in the mapping
    for order in errors:
        assert main(["trace", order, "--json", "-c", str(demo.config)]) == 0, order
        doc = json.loads(capsys.readouterr().out)
        assert doc["status"] == "failed" and doc["flow"] == "order-to-cash"
        assert f"order:{order}" in doc["ids"]
