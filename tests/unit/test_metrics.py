"""The metrics registry: Prometheus text format and bounded label sets."""

from __future__ import annotations

from collector.metrics import MAX_SERIES, Registry


def test_exposition_of_each_kind():
    r = Registry()
    r.counter("mw_read_total", "Records read.", ("input",)).inc("a\"b", by=3)
    r.gauge("mw_depth", "Queue depth.").set(2.5)
    h = r.histogram("mw_bulk_seconds", "Bulk latency.", buckets=(0.1, 1))
    h.observe(0.05)
    h.observe(0.5)
    assert r.expose() == (
        "# HELP mw_bulk_seconds Bulk latency.\n# TYPE mw_bulk_seconds histogram\n"
        'mw_bulk_seconds_bucket{le="0.1"} 1\nmw_bulk_seconds_bucket{le="1"} 2\n'
        'mw_bulk_seconds_bucket{le="+Inf"} 2\nmw_bulk_seconds_sum 0.55\nmw_bulk_seconds_count 2\n'
        "# HELP mw_depth Queue depth.\n# TYPE mw_depth gauge\nmw_depth 2.5\n"
        "# HELP mw_read_total Records read.\n# TYPE mw_read_total counter\n"
        'mw_read_total{input="a\\"b"} 3\n'
    )


def test_label_sets_are_capped_into_one_overflow_series():
    c = Registry().counter("mw_dead_total", "Dead letters.", ("reason",))
    for i in range(MAX_SERIES + 50):
        c.inc(f"reason-{i}")
    assert c.value("overflow") == 50 and c.total() == MAX_SERIES + 50
    assert len(c.expose()) == 2 + MAX_SERIES + 1


def test_collect_callbacks_run_at_exposition():
    r = Registry()
    g = r.gauge("mw_behind_bytes", "Bytes behind.")
    r.on_collect(lambda: g.set(42))
    assert "mw_behind_bytes 42\n" in r.expose()
