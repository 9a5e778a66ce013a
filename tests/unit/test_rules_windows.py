"""Sliding windows (issue 26 item 1): the rule test of the burst a tick splits, and the
span a sliding query asks for."""

from __future__ import annotations

from pathlib import Path

from collector.event import iso_to_ms
from collector.store.base import MetricRow
from midwatch.cli import main
from rules import sliding
from rules.ruletests import run_file
from rules.schema import Rule
from rules.types import COUNT

DATA = Path(__file__).parents[1] / "data" / "rules-windows"
MIN = 60_000


def test_straddling_burst_rule_test_passes(capsys):
    assert main(["rules", "test", str(DATA / "burst_test.yaml")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    assert run_file(DATA / "burst_test.yaml").evaluations == 3


def test_query_buckets_only_where_windows_start_and_end():
    rule = Rule("r", "threshold", None, window_ms=5 * MIN)
    at = iso_to_ms("2024-03-04T09:10:00Z")
    q = sliding.query(rule, at, at - 30_000, COUNT)
    # windows end at 09:09:40, :50, 09:10:00 and start 5 minutes earlier; the stretch
    # 09:05:00-09:09:40 that every window holds is one bucket
    assert q.edges_ms == tuple(at + d * 1000 for d in (-320, -310, -300, -20, -10, 0))
    assert (q.start_ms, q.end_ms, q.bucket_ms) == (at - 320_000, at, None)
    # a first evaluation (no previous one) looks back one bucket: the window ending now
    q = sliding.query(rule, at, None, COUNT)
    assert q.edges_ms == (at - 5 * MIN, at)
    # after a long pause at most MAX_LOOKBACK_WINDOWS windows, every bucket boundary an edge
    q = sliding.query(rule, at, at - 1_000 * MIN, COUNT)
    assert q.start_ms == at - (sliding.MAX_LOOKBACK_WINDOWS + 1) * 5 * MIN + 10_000
    assert len(q.edges_ms) == (sliding.MAX_LOOKBACK_WINDOWS + 1) * 30


def test_windows_from_uneven_buckets():
    rule = Rule("r", "threshold", None, window_ms=5 * MIN)
    at = iso_to_ms("2024-03-04T09:10:05Z")  # not on a bucket boundary
    q = sliding.query(rule, at, at - 25_000, COUNT)
    assert [e - at for e in q.edges_ms] == [-315_000, -305_000, -295_000, -15_000, -5_000, 0]
    rows = [MetricRow({}, None, n, start)
            for n, start in zip((1, 2, 3, 4, 5), q.edges_ms[:-1], strict=True)]
    [(_, ws)] = sliding.windows(rule, rows, at)
    # ends 09:09:50, 09:10:00 and now; the last window, 09:05:10-09:10:05, is the shorter
    assert [(w.end_ms - at, w.count) for w in ws] == [(-15_000, 1 + 2 + 3), (-5_000, 2 + 3 + 4),
                                                    (0, 3 + 4 + 5)]
