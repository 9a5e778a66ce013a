"""``rules backfill``'s timeline names each change's severity, as ``rules eval`` does: with
severity bands a "notified" line is a severity change, and without its severity the text
gave no clue why it paged again (new-user walk-through of issue 26)."""

from __future__ import annotations

from rules.backfill import Change, Report, render

T0 = 1_796_040_000_000  # 2026-11-30T12:00:00Z


def test_each_timeline_line_names_its_severity():
    report = Report(start_ms=T0, end_ms=T0 + 120_000, step_ms=60_000, steps=3, timeline=[
        Change(T0, "o2c", "firing", {"flow": "o2c"}, 4.0, "critical", ("audit",)),
        Change(T0 + 60_000, "o2c", "notified", {"flow": "o2c"}, 2.0, "warning", ("audit",)),
        Change(T0 + 120_000, "o2c", "eval_failed", {}, None, "", (), "store down"),
    ])
    lines = render(report).splitlines()[1:4]
    assert lines == [
        "2026-11-30T12:00:00.000Z firing     critical o2c {flow=o2c} value=4.0 -> audit",
        "2026-11-30T12:01:00.000Z notified   warning  o2c {flow=o2c} value=2.0 -> audit",
        "2026-11-30T12:02:00.000Z eval_failed -        o2c {} value=None (store down)",
    ]
