"""Sliding windows (issue 26 item 1): the rule test of the burst a tick splits, and the
span a sliding query asks for."""

from __future__ import annotations

from pathlib import Path

from collector.event import iso_to_ms
from midwatch.cli import main
from rules import sliding
from rules.schema import Rule
from rules.testing import run_file
from rules.types import COUNT

DATA = Path(__file__).parents[1] / "data" / "rules-windows"
MIN = 60_000


def test_straddling_burst_rule_test_passes(capsys):
    assert main(["rules", "test", str(DATA / "burst_test.yaml")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert run_file(DATA / "burst_test.yaml").evaluations == 3


def test_query_covers_every_window_since_the_previous_evaluation():
    rule = Rule("r", "threshold", None, window_ms=5 * MIN)
    at = iso_to_ms("2024-03-04T09:10:00Z")
    q = sliding.query(rule, at, at - 5 * MIN, COUNT)
    # windows end at 09:05:10 .. 09:10:00: the first starts at 09:00:10
    assert (q.start_ms, q.end_ms, q.bucket_ms) == (at - 10 * MIN + 10_000, at, 10_000)
    # a first evaluation (no previous one) looks back one bucket: one window ending now
    q = sliding.query(rule, at, None, COUNT)
    assert (q.start_ms, q.end_ms) == (at - 5 * MIN, at)
    # after a long pause at most MAX_LOOKBACK_WINDOWS windows
    q = sliding.query(rule, at, at - 1_000 * MIN, COUNT)
    assert q.start_ms == at - (sliding.MAX_LOOKBACK_WINDOWS + 1) * 5 * MIN + 10_000


def test_no_summed_window_is_longer_than_the_rule_window():
    rule = Rule("r", "threshold", None, window_ms=7 * MIN + 1)  # not a multiple of 30
    b = sliding.bucket_ms(rule)
    at = iso_to_ms("2024-03-04T09:10:03Z")
    q = sliding.query(rule, at, at - 2 * MIN, COUNT)
    assert (rule.window_ms // b) * b <= rule.window_ms
    assert q.end_ms == at and q.start_ms % b == 0
