"""Sliding windows that filter alike asked as one query (``rules.sharing``) against the real
SQLite store: a threshold, a ratio and a spike on one filter and window are one store query,
and each rule's rows read out of it equal the store's own answer to that rule's query; a
shared answer with a full group list falls back to the rules' own queries."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from collector.event import Event, event_id
from collector.store.base import Agg, Filter
from collector.store.sqlite import SQLiteStore
from rules import sharing, sliding
from rules.schema import Rule
from rules.types import COUNT

T0 = 1_796_040_000_000  # 2026-11-30T12:00:00Z
MIN = 60_000
FAILED = Agg("ratio", where=(Filter("event.outcome", "eq", "failure"),))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rnd = random.Random(7)
    events = []
    for i in range(1200):
        failed = rnd.random() < 0.3
        events.append(Event(T0 - rnd.randrange(40 * MIN), "mulesoft.log", "mulesoft", "m",
                            outcome="failure" if failed else "success",
                            id=event_id("share", str(i)), flow=f"flow-{rnd.randrange(5)}"))
    s = SQLiteStore(tmp_path_factory.mktemp("share") / "s.sqlite")
    s.setup()
    assert s.write_events(events).written == len(events)
    yield s
    s.close()


def _queries(max_groups: int = 100, window_ms: int = 5 * MIN):
    rule = Rule("r", "threshold", None, window_ms=window_ms, group_by=("midwatch.flow",),
                max_groups=max_groups)
    at, since = T0 - 7 * MIN + 5_000, T0 - 8 * MIN  # off the bucket grid, a minute since
    return [sliding.query(rule, at, since, COUNT),  # threshold
            sliding.query(rule, at, since, FAILED),  # ratio
            sliding.query(rule, at, since, COUNT, back=2)]  # spike


def test_alike_sliding_windows_are_one_query_and_answer_as_the_store(store):
    qs = _queries() + _queries(window_ms=15 * MIN)  # windows of any length share
    asked = sharing.share(qs)
    (shared,) = set(asked.values())
    assert shared.agg == FAILED and set(shared.edges_ms) >= {e for q in qs for e in q.edges_ms}
    out, retry = sharing.answers(asked, {shared: store.metric(shared)})
    assert retry == []
    for q in qs:
        want = store.metric(q)
        assert [(r.group, r.count, r.bucket_ms) for r in out[q]] == \
            [(r.group, r.count, r.bucket_ms) for r in want]
        assert [r.value for r in out[q]] == pytest.approx([r.value for r in want])


def test_different_filters_or_a_second_ratio_are_asked_apart():
    threshold, ratio, spike = _queries()
    errors = replace(ratio, agg=Agg("ratio", where=(Filter("log.level", "eq", "error"),)))
    elsewhere = replace(spike, filters=(Filter("midwatch.platform", "eq", "kafka"),))
    asked = sharing.share([threshold, ratio, spike, errors, elsewhere])
    assert asked[threshold] == asked[ratio] == asked[spike] != threshold
    assert asked[errors] == errors and asked[elsewhere] == elsewhere


def test_a_full_group_list_asks_each_query_itself(store):
    qs = _queries(max_groups=2)
    asked = sharing.share(qs)
    (shared,) = set(asked.values())
    out, retry = sharing.answers(asked, {shared: store.metric(shared)})
    assert out == {} and retry == qs
