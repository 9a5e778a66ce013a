"""Backfill's fast paths against the slow ones they stand in for, on random events in the
real SQLite store: a backfill reads sliding windows as running sums (``rules.series.Runs``)
judged for all groups at once (``sliding.busiest``, ``ratio._worst``, numpy arrays) and skips
rules that are ``quiet``; a live evaluation judges the store's own rows window by window.
For any events, rules and steps, both must give the same samples, and ``quiet`` must say
"nothing active" exactly when the slow path has no active sample. A whole backfill must
give the timeline of the engine stepped with every query sent to the store."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.event import Event, event_id
from collector.store.base import Filter
from collector.store.sqlite import SQLiteStore
from rules import sliding
from rules.backfill import _plans, backfill, prepare, select
from rules.config import RulesConfig
from rules.engine import Engine, plan
from rules.schema import Rule
from rules.series import Runs
from rules.state import FIRING, RESOLVED
from rules.types import ratio, spike, threshold

T0 = 1_796_040_000_000  # 2026-11-30T12:00:00Z
MIN = 60_000
SPAN = 40 * MIN
FAILED = (Filter("event.outcome", "eq", "failure"),)

events = st.lists(st.tuples(st.integers(0, SPAN // 1000 - 1), st.integers(0, 3), st.booleans()),
                  max_size=160)
windows = st.sampled_from([MIN, 2 * MIN, 5 * MIN])
group_bys = st.sampled_from([(), ("midwatch.flow",)])


@st.composite
def rule_sets(draw) -> list[Rule]:
    """A threshold, a ratio and a spike (bounds low enough to fire on these few events)."""
    def common(name: str, kind: str, spec) -> Rule:
        return Rule(name, kind, spec, draw(windows), group_by=draw(group_bys),
                    for_ms=draw(st.sampled_from([0, MIN])))
    below = draw(st.none() | st.integers(1, 4))
    return [
        common("t", "threshold", threshold.Spec(draw(st.integers(0, 8)), below)),
        common("r", "ratio", ratio.Spec(FAILED, draw(st.sampled_from([0.2, 0.5, 0.8])),
                                        draw(st.none() | st.just(0.1)),
                                        draw(st.integers(1, 4)))),
        common("s", "spike", spike.Spec("previous", draw(st.sampled_from(["up", "down", "both"])),
                                        2.0, draw(st.integers(1, 4)))),
    ]


def _store(rows: list[tuple[int, int, bool]], tmp: str) -> SQLiteStore:
    store = SQLiteStore(Path(tmp) / "s.sqlite")
    store.setup()
    store.write_events([Event(T0 - SPAN + s * 1000, "mulesoft.log", "mulesoft", "m",
                              outcome="failure" if failed else "success",
                              id=event_id("fast", str(i)), flow=f"flow-{flow}",
                              message_id=f"m{i}")
                        for i, (s, flow, failed) in enumerate(rows)])
    return store


def _by_group(samples) -> list:
    """Samples in a fixed order (a threshold's come in set order)."""
    return sorted(samples, key=lambda x: sorted(x.group.items()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, rule_sets(), st.sampled_from([30_000, MIN]))
def test_running_sums_judge_as_the_store_rows(rows, rules, step):
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(rows, tmp)
        try:
            times = range(T0 - SPAN + 10 * MIN, T0 + 1, step)
            plans = _plans(rules, {}, times, step)
            prepared = prepare(store, plans, step)
            last: dict[str, int] = {}
            runs = 0
            for at in times:
                for rule in rules:
                    module = {"threshold": threshold, "ratio": ratio, "spike": spike}[rule.type]
                    qs = plan(rule, at, last.get(rule.name), step)
                    last[rule.name] = at
                    fast = [prepared.answers.get(q) or store.metric(q) for q in qs]
                    slow = [store.metric(q) for q in qs]
                    runs += sum(isinstance(a, Runs) for a in fast)
                    want = module.evaluate(rule, at, slow)
                    assert _by_group(module.evaluate(rule, at, fast)) == _by_group(want), \
                        (rule, at)
                    if rule.type == "threshold" and isinstance(fast[0], Runs):
                        assert sliding.busiest(rule, fast[0], at) == \
                            sliding.busiest(rule, slow[0], at)
                    if rule.type == "ratio" and isinstance(fast[0], Runs):
                        assert list(ratio._worst(rule, fast[0], at)) == \
                            list(ratio._worst(rule, slow[0], at))
                    if hasattr(module, "quiet") and isinstance(fast[0], Runs):
                        assert module.quiet(rule, at, fast) == \
                            (not any(x.active for x in want)), (rule, at)
            assert runs  # the fast path was taken
        finally:
            store.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, rule_sets())
def test_backfill_timeline_is_the_stepped_engines(rows, rules):
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(rows, tmp)
        try:
            config = RulesConfig(rules=rules, notify=("pager",))
            start, end = T0 - SPAN + 5 * MIN, T0 + 5 * MIN
            report = backfill(config, store, start, end, MIN)
            engine = Engine(select(config, None), store, persist=False)
            want = []
            for at in range(start, end + 1, MIN):
                for a in engine.evaluate(at).alerts:
                    if a.moved in (FIRING, RESOLVED):
                        want.append((at, a.rule, a.moved, sorted(a.labels.items()), a.value))
            got = [(c.at_ms, c.rule, c.event, sorted(c.labels.items()), c.value)
                   for c in report.timeline if c.event in (FIRING, RESOLVED)]
            assert _sorted(got) == _sorted(want)
        finally:
            store.close()


def _sorted(changes: list[tuple]) -> list[tuple]:
    """Changes of one step in a fixed order (groups of a threshold come in set order)."""
    return sorted(changes, key=lambda c: (c[0], c[1], c[2], str(c[3])))
