"""Backfill's batching against the real SQLite store: every window answered from a chunk's
date histogram (``rules.backfill.prepare``) equals the store's own answer to that window,
for every foldable aggregation, grouped and not, with windows that do and do not divide the
step; what cannot be folded is answered exactly."""

from __future__ import annotations

import random

import pytest

from collector.event import Event, event_id
from collector.store.base import Agg, Filter, MetricQuery
from collector.store.sqlite import SQLiteStore
from rules import sliding
from rules.backfill import histogram_bucket, prepare
from rules.schema import Rule

T0 = 1_796_040_000_000  # 2026-11-30T12:00:00Z
MIN = 60_000


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rnd = random.Random(5)
    events = []
    for i in range(1500):
        failed = rnd.random() < 0.2
        events.append(Event(T0 - rnd.randrange(3 * 60 * MIN), "mulesoft.log", "mulesoft", "m",
                            outcome="failure" if failed else "success",
                            level="error" if failed else "info", id=event_id("fold", str(i)),
                            flow=f"flow-{rnd.randrange(4)}", message_id=f"m{i}",
                            duration_ns=rnd.randrange(1, 900) * 1_000_000))
    s = SQLiteStore(tmp_path_factory.mktemp("fold") / "s.sqlite")
    s.setup()
    assert s.write_events(events).written == len(events)
    yield s
    s.close()


AGGS = [Agg("count"), Agg("sum", "event.duration"), Agg("min", "event.duration"),
        Agg("max", "event.duration"), Agg("avg", "event.duration"),
        Agg("ratio", where=(Filter("event.outcome", "eq", "failure"),))]


@pytest.mark.parametrize("agg", AGGS, ids=lambda a: a.kind)
@pytest.mark.parametrize("group_by", [(), ("midwatch.flow",)])
@pytest.mark.parametrize(("step", "window"), [(MIN, 5 * MIN), (2 * MIN, 5 * MIN),
                                              (5 * MIN, 15 * MIN)])
def test_folded_windows_equal_the_store_answer(store, agg, group_by, step, window):
    times = range(T0 - 2 * 60 * MIN + 30_000, T0, step)  # off the minute: a 30 s bucket
    plans = {at: [MetricQuery("events", at - window, at, agg, group_by=group_by)]
             for at in times}
    prepared = prepare(store, plans, step)
    assert prepared.folded == len(times)
    assert prepared.requests == 1  # one histogram for the whole chunk
    for at, (q,) in plans.items():
        want = store.metric(q)
        got = prepared.answers[q]
        assert [(r.group, r.count) for r in got] == [(r.group, r.count) for r in want], at
        assert [r.value for r in got] == pytest.approx([r.value for r in want]), at


def test_unfoldable_queries_are_answered_exactly(store):
    p95 = Agg("percentile", "event.duration", q=95)
    plans = {at: [MetricQuery("events", at - 5 * MIN, at, p95)] for at in range(T0 - 10 * MIN, T0, MIN)}
    prepared = prepare(store, plans, MIN)
    assert prepared.folded == 0 and prepared.requests == 10
    for (q,) in plans.values():
        assert prepared.answers[q] == store.metric(q)


def test_a_full_group_list_falls_back_to_exact_windows(store):
    plans = {at: [MetricQuery("events", at - 5 * MIN, at, group_by=("midwatch.flow",),
                              max_groups=2)] for at in range(T0 - 10 * MIN, T0, MIN)}
    prepared = prepare(store, plans, MIN)
    assert prepared.folded == 0
    for (q,) in plans.values():
        assert prepared.answers[q] == store.metric(q)


def _windows(width: int, *ends: int) -> list[MetricQuery]:
    return [MetricQuery("events", end - width, end) for end in ends]


def test_histogram_bucket_divides_step_and_every_window_edge():
    assert histogram_bucket(MIN, _windows(5 * MIN, T0, T0 + MIN)) == MIN
    assert histogram_bucket(MIN, _windows(5 * MIN, T0 + 30_000)) == 30_000
    # windows of 5 and 15 minutes of one shape share a histogram
    assert histogram_bucket(5 * MIN, _windows(5 * MIN, T0) + _windows(15 * MIN, T0)) == 5 * MIN
    assert histogram_bucket(MIN, _windows(5 * MIN, T0 + 1)) is None  # sub-second: exact
    assert histogram_bucket(MIN, _windows(7 * 24 * 60 * MIN, T0)) is None  # a week of minutes


def test_windows_of_several_lengths_share_one_histogram(store):
    plans = {at: [MetricQuery("events", at - w, at, group_by=("midwatch.flow",))
                  for w in (5 * MIN, 10 * MIN, 15 * MIN)] for at in range(T0 - 60 * MIN, T0, MIN)}
    prepared = prepare(store, plans, MIN)
    assert prepared.requests == 1 and prepared.folded == 180
    for qs in plans.values():
        for q in qs:
            assert prepared.answers[q] == store.metric(q)


def _sliding(at: int, since: int, window: int, agg: Agg, group_by=(), shift: int = 0,
             back: int = 1) -> MetricQuery:
    """A sliding window's query as ``rules.sliding.query`` shapes it: ``window / 30`` buckets
    where the windows ending in (since, at] end and start, one bucket between."""
    b = window // 30
    ends = range(since - since % b + b, at + 1, b)
    edges = sorted({*ends} | {e - k * window for e in ends for k in range(1, back + 1)})
    edges = [e - shift for e in edges]
    return MetricQuery("events", edges[0], edges[-1], agg, group_by=group_by,
                       edges_ms=tuple(edges))


@pytest.mark.parametrize("agg", [Agg("count"), AGGS[-1]], ids=lambda a: a.kind)
@pytest.mark.parametrize("group_by", [(), ("midwatch.flow",)])
def test_sliding_windows_fold_into_one_histogram(store, agg, group_by):
    """The uneven buckets of every step's sliding window are sums of one fine histogram, in
    the store's row order (groups by count over the span, every group every bucket)."""
    times = range(T0 - 2 * 60 * MIN + MIN, T0, MIN)
    plans = {at: [_sliding(at, at - MIN, 5 * MIN, agg, group_by),
                  _sliding(at, at - MIN, 15 * MIN, agg, group_by, back=2)] for at in times}
    prepared = prepare(store, plans, MIN)
    assert prepared.folded == 2 * len(times)
    assert prepared.requests == 1  # 10 s buckets divide the 30 s ones of the 15-minute rule
    rule = Rule("r", "threshold", None, 5 * MIN, group_by=group_by)
    ratio = agg.kind == "ratio"
    for qs in plans.values():
        for q in qs:
            # answered as the running sums the sliding types make of the store's rows
            want = [(h.group, run) for h, run in sliding.sums(rule, store.metric(q), q.end_ms,
                                                               ratio=ratio)]
            got = [(h.group, run) for h, run in sliding.sums(rule, prepared.answers[q],
                                                             q.end_ms, ratio=ratio)]
            assert got == want, q


def test_windows_a_week_apart_get_histograms_of_their_own(store):
    """A spike's last-week windows: one histogram over a week of 10 s buckets would exceed
    the span budget, so now and a week ago are each one histogram."""
    week = 7 * 24 * 60 * MIN
    times = range(T0 - 30 * MIN, T0, MIN)
    plans = {at: [_sliding(at, at - MIN, 5 * MIN, Agg("count")),
                  _sliding(at, at - MIN, 5 * MIN, Agg("count"), shift=week)] for at in times}
    prepared = prepare(store, plans, MIN)
    assert prepared.requests == 2 and prepared.folded == 2 * len(times)
    rule = Rule("r", "spike", None, 5 * MIN)
    for qs in plans.values():
        for q in qs:
            assert [(h.group, run) for h, run in sliding.sums(rule, prepared.answers[q],
                                                              q.end_ms)] == \
                [(h.group, run) for h, run in sliding.sums(rule, store.metric(q), q.end_ms)]


def test_counts_of_a_filter_come_out_of_its_ratio_histogram(store):
    """A threshold (count) and a ratio on one filter and group: one histogram, measuring the
    ratio, answers both, fixed and sliding windows alike."""
    group_by = ("midwatch.flow",)
    times = range(T0 - 60 * MIN, T0, MIN)
    plans = {at: [_sliding(at, at - MIN, 5 * MIN, Agg("count"), group_by),
                  _sliding(at, at - MIN, 5 * MIN, AGGS[-1], group_by),
                  MetricQuery("events", at - 10 * MIN, at, group_by=group_by)] for at in times}
    prepared = prepare(store, plans, MIN)
    assert prepared.requests == 1 and prepared.folded == 3 * len(times)
    rule = Rule("r", "threshold", None, 5 * MIN, group_by=group_by)
    for count, ratio, fixed in plans.values():
        for q, is_ratio in ((count, False), (ratio, True)):
            assert [(h.group, run) for h, run in sliding.sums(rule, prepared.answers[q],
                                                              q.end_ms, ratio=is_ratio)] == \
                [(h.group, run) for h, run in sliding.sums(rule, store.metric(q), q.end_ms,
                                                           ratio=is_ratio)]
        assert prepared.answers[fixed] == store.metric(fixed)
