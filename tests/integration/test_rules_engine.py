"""Every rule type and every lifecycle step against the real SQLite store and the real
Elasticsearch: the same rules, the same data, the same alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.event import Event, event_id, iso_to_ms
from collector.store.base import Filter, MetricQuery, Store
from collector.trace import Hop, Trace
from collector.yamlconf import loads
from rules import sharing
from rules.config import load_rules_config
from rules.engine import CATCH_UP_MS, RUNS_KEY, RUNS_NAMESPACE, Engine, with_examples
from rules.silences import Silences, new_silence

T0 = 1_709_546_400_000  # Monday 2024-03-04T10:00:00Z
MIN = 60_000
HOUR = 60 * MIN

RULES = """\
rules:
  - {name: errors, type: threshold, filter: {log.level: error}, group_by: [midwatch.flow],
     above: 4, window: 10m, annotations: {summary: "{{ labels.flow }}: {{ count }} errors, e.g. {{ message_ids | top(2) }}"}}
  - {name: failing, type: ratio, filter: 'midwatch.platform:mulesoft', group_by: [midwatch.flow],
     where: {event.outcome: failure}, above: 0.2, min_events: 10, window: 10m}
  - {name: silent, type: absence, group_by: [midwatch.flow], window: 10m,
     expected: [{midwatch.flow: o2c}, {midwatch.flow: payroll}]}
  - {name: slow-hops, type: latency, source: hop, percentile: 95, above: 400ms,
     group_by: [midwatch.stage], window: 10m}
  - {name: slow-traces, type: latency, source: trace, percentile: 50, above_sla: true,
     group_by: [flow], window: 1h}
  - {name: stuck, type: stuck, sla: 30m, group_by: [flow], lookback: 1d}
  - {name: new-errors, type: new_error, group_by: [midwatch.flow], window: 10m, lookback: 1d}
  - {name: surge, type: spike, factor: 3, min_events: 10, window: 10m, group_by: [midwatch.flow]}
"""


def _ev(i: int, ts: int, flow: str, *, failed: bool = False, platform: str = "mulesoft",
        stage: str = "api.received", duration_ms: int = 100, signature: str | None = None) -> Event:
    return Event(ts, f"{platform}.log", platform, "m", outcome="failure" if failed else "success",
                 level="error" if failed else "info", id=event_id("rules-it", str(i)),
                 flow=flow, stage=stage, message_id=f"{flow}-{i}",
                 duration_ns=duration_ms * 1_000_000, signature=signature)


def dataset() -> list[Event]:
    out = []
    # o2c: 20 events in the last 10 minutes, 6 failed with a signature seen yesterday too.
    for i in range(20):
        out.append(_ev(i, T0 - 10 * MIN + i * 30_000, "o2c", failed=i % 3 == 0,
                       signature="refused" if i % 3 == 0 else None))
    out.append(_ev(100, T0 - 20 * HOUR, "o2c", failed=True, signature="refused"))
    # billing: 4 events 20 minutes ago, 16 in the last 10 (a surge), slow at one stage,
    # and a signature nobody has seen before.
    for i in range(4):
        out.append(_ev(200 + i, T0 - 20 * MIN + i * MIN, "billing", platform="kafka"))
    for i in range(16):
        out.append(_ev(300 + i, T0 - 9 * MIN + i * 30_000, "billing", platform="kafka",
                       stage="kafka.consumed", duration_ms=500 + i,
                       signature="timed out" if i == 0 else None, failed=i == 0))
    return out


def traces() -> list[Trace]:
    def trace(key: str, flow: str, status: str, started: int, ended: int | None,
              sla: int | None = None) -> Trace:
        hop = Hop("api.received", "svc", "mulesoft", started, "success", key)
        return Trace(key, [f"order:{key}"], started, ended or started, flow=flow, status=status,
                     ended_ms=ended, hops=[hop], hop_count=1, sla_ms=sla)

    return [
        trace("1", "o2c", "in_flight", T0 - 2 * HOUR, None),
        trace("2", "o2c", "stuck", T0 - 3 * HOUR, None),
        trace("3", "o2c", "in_flight", T0 - 10 * MIN, None),  # within the 30 min SLA
        trace("4", "o2c", "completed", T0 - 50 * MIN, T0 - 20 * MIN, sla=10 * MIN),
        trace("5", "billing", "completed", T0 - 40 * MIN, T0 - 39 * MIN, sla=10 * MIN),
    ]


# SQLite and each search engine (conftest ENGINE_FIXTURES: Elasticsearch 9, 8, OpenSearch 2, 3).
@pytest.fixture
def store(every_store: Store) -> Store:
    return every_store


@pytest.fixture
def loaded(store: Store) -> Store:
    result = store.write_events(dataset())
    assert result.written == len(dataset()) and not result.rejected
    store.upsert_traces(traces())
    store.refresh()
    return store


def _config(tmp_path: Path, rules: str = RULES, extra: str = ""):
    (tmp_path / "rules.yaml").write_text(rules)
    doc = loads(f"rules:\n  paths: [{tmp_path}/rules.yaml]\n  notify: [log]\n"
                f"  external_url: https://mw.example.com\n{extra}"
                "notifiers:\n  log: {type: webhook, url: 'http://127.0.0.1:9/unused'}\n")
    cfg = load_rules_config(doc)
    assert not cfg.errors, cfg.errors
    return cfg


def _alerts(outcome) -> set[tuple]:
    return {(a.rule, tuple(sorted(a.labels.items())), a.state,
             None if a.value is None else round(a.value, 3)) for a in outcome.alerts}


def test_every_rule_type(loaded, tmp_path):
    engine = Engine(_config(tmp_path), loaded)
    outcome = engine.evaluate(T0)
    assert not outcome.failed_rules
    assert _alerts(outcome) == {
        ("errors", (("flow", "o2c"),), "firing", 7.0),
        ("failing", (("flow", "o2c"),), "firing", 0.35),
        ("silent", (("flow", "payroll"),), "firing", 0.0),
        ("slow-hops", (("stage", "kafka.consumed"),), "firing", 514.25),
        ("slow-traces", (("flow", "o2c"),), "firing", 30 * MIN),
        ("stuck", (("flow", "o2c"),), "firing", 2.0),
        ("new-errors", (("flow", "billing"), ("signature", "timed out")), "firing", 1.0),
        ("surge", (("flow", "billing"),), "firing", 16.0),
        ("surge", (("flow", "o2c"),), "firing", 20.0),  # from nothing 10 minutes earlier
    }
    # Identical queries run once: silent and surge share their current-window count.
    assert outcome.queries == 10
    alerts = {a.rule: a for a in with_examples(engine, outcome, T0)}
    assert alerts["errors"].annotations["summary"] == "o2c: 7 errors, e.g. o2c-18, o2c-15"


def test_lifecycle_history_and_notifications(loaded, tmp_path):
    rules = ("rules:\n  - {name: errors, type: threshold, filter: {log.level: error},"
             " group_by: [midwatch.flow], above: 4, window: 10m, for: 2m, repeat_interval: 1h}\n")
    engine = Engine(_config(tmp_path, rules), loaded)
    steps = [engine.evaluate(T0 + i * MIN) for i in range(3)]
    assert [[a.state for a in s.alerts] for s in steps] == [["pending"], ["pending"], ["firing"]]
    assert [len(s.notified) for s in steps] == [0, 0, 1]
    assert steps[2].notified[0][1].message_ids[:2] == ("o2c-18", "o2c-15")  # newest first
    # Still firing a minute later: not sent again before the repeat interval...
    later = engine.evaluate(T0 + 3 * MIN)
    assert [a.state for a in later.alerts] == ["firing"] and not later.notified
    # ...and resolves (with a resolve notification) once the errors leave the window.
    done = engine.evaluate(T0 + 30 * MIN)
    assert [a.state for a in done.alerts] == ["resolved"]
    assert [n.action for _, n in done.notified] == ["resolved"]
    loaded.refresh()
    rows = loaded.metric(MetricQuery("alerts", T0 - HOUR, T0 + HOUR, group_by=("state",),
                                     filters=(Filter("rule", "eq", "errors"),)))
    assert {r.group["state"]: r.count for r in rows} == {"pending": 1, "firing": 1, "resolved": 1}
    assert loaded.get_state("alerts") == {}  # nothing open: nothing remembered


def test_restart_neither_repages_nor_forgets(loaded, tmp_path):
    cfg = _config(tmp_path)
    first = Engine(cfg, loaded)
    fired = first.evaluate(T0)
    assert len(fired.notified) == 9
    loaded.refresh()
    second = Engine(cfg, loaded)
    second.restore()
    again = second.evaluate(T0 + MIN)
    assert {a.state for a in again.alerts} == {"firing"} and again.notified == []
    later = second.evaluate(T0 + 2 * 86_400_000)
    sent = sorted((n.rule, n.action, n.labels.get("flow", n.labels.get("stage", "")))
                  for _, n in later.notified)
    assert sent == [
        ("errors", "resolved", "o2c"), ("failing", "resolved", "o2c"),
        ("new-errors", "resolved", "billing"),
        # payroll is still silent two days on: paged again after the 4h repeat interval;
        # o2c has gone silent too.
        ("silent", "firing", "o2c"), ("silent", "firing", "payroll"),
        ("slow-hops", "resolved", "kafka.consumed"), ("slow-traces", "resolved", "o2c"),
        ("stuck", "resolved", "o2c"), ("surge", "resolved", "billing"),
        ("surge", "resolved", "o2c"),
    ]


def test_silences_inhibition_and_mute_windows(loaded, tmp_path):
    extra = ("  inhibit:\n    - {source_matchers: [rule=stuck], target_matchers: [rule=~errors|failing],"
             " equal: [flow]}\n")
    cfg = _config(tmp_path, extra=extra)
    Silences(loaded).add(new_silence("rule=silent,flow=payroll", HOUR, "payroll is paused",
                                     "test", T0 - MIN))
    loaded.refresh()
    outcome = Engine(cfg, loaded).evaluate(T0)
    sent = {n.rule for _, n in outcome.notified}
    assert sent == {"slow-hops", "slow-traces", "stuck", "new-errors", "surge"}
    loaded.refresh()
    rows = loaded.metric(MetricQuery("alerts", T0 - HOUR, T0 + HOUR, group_by=("rule",),
                                     filters=(Filter("suppressed_by", "exists"),)))
    assert {r.group["rule"] for r in rows} == {"errors", "failing", "silent"}


# ---------------------------------------------------------------- sliding windows (issue 26)
# A burst the tick splits fires the same on every store (the stores bucket the span in
# uneven buckets, ``rules/sliding.py`` sums).
SLIDING_RULES = """\
rules:
  - {name: burst, type: threshold, filter: {event.outcome: failure}, group_by: [midwatch.flow],
     window: 5m, above: 5}
  - {name: share, type: ratio, group_by: [midwatch.flow], where: {event.outcome: failure},
     window: 5m, above: 0.5, min_events: 6}
  - {name: fixed-spread, type: threshold, filter: {midwatch.flow: inv}, window: 5m, above: 5}
  - {name: surge, type: spike, filter: {midwatch.flow: surge}, window: 5m, factor: 3,
     min_events: 6}
"""


def _burst_events() -> list[Event]:
    out = []
    start = iso_to_ms("2024-03-04T09:02:10Z")
    for i in range(6):  # 4m50s: three failures before the 09:05 tick, three after
        out.append(Event(start + i * 58_000, "mule.log", "mulesoft", "refused", outcome="failure",
                         id=event_id("sliding-it", f"o{i}"), flow="o2c"))
    for i in range(6):  # 5m50s: no 5-minute window holds more than five
        out.append(Event(start - 10_000 + i * 70_000, "mule.log", "mulesoft", "x",
                         outcome="failure", id=event_id("sliding-it", f"i{i}"), flow="inv"))
    # surge: 2 per 5 minutes, and 6 more at 09:03:30..09:06:00 (8 against 2 in 09:01:10-09:06:10)
    steady = [iso_to_ms("2024-03-04T08:40:00Z") + i * 150_000 for i in range(16)]
    burst = [iso_to_ms("2024-03-04T09:03:30Z") + i * 30_000 for i in range(6)]
    for i, ts in enumerate(steady + burst):
        out.append(Event(ts, "mule.log", "mulesoft", "ok", id=event_id("sliding-it", f"s{i}"),
                         flow="surge"))
    return out


def test_burst_split_by_the_tick_fires_on_every_store(store: Store, tmp_path: Path):
    assert not store.write_events(_burst_events()).rejected
    store.refresh()
    (tmp_path / "r.yaml").write_text(SLIDING_RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/r.yaml]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, store, persist=False)

    def at(t: str) -> set[tuple]:
        outcome = engine.evaluate(iso_to_ms(f"2024-03-04T{t}Z"))
        assert not outcome.failed_rules
        return {(a.rule, a.labels.get("flow"), a.state, a.value) for a in outcome.alerts}

    assert at("09:05:00") == set()
    assert at("09:10:00") == {("burst", "o2c", "firing", 6.0), ("share", "o2c", "firing", 1.0),
                              ("surge", None, "firing", 8.0)}
    # Judged on the window ending now (two failures): resolved, with the value it fired at.
    assert at("09:15:00") == {("burst", "o2c", "resolved", 6.0), ("share", "o2c", "resolved", 1.0),
                              ("surge", None, "resolved", 8.0)}


# ---------------------------------------------------------------- restart catch-up (issue 26)
# A burst while the rules engine was down still fires after the restart: each rule's last
# evaluation is saved with the alert state, and the first evaluation after a restart looks
# back to it (at most the window plus ``CATCH_UP_MS``), not one interval.
CATCH_UP_RULES = """\
rules:
  - {name: burst, type: threshold, filter: {event.outcome: failure}, group_by: [midwatch.flow],
     window: 5m, above: 5}
"""


def _at(t: str) -> int:
    return iso_to_ms(f"2024-03-04T{t}Z")


def _catch_up_engine(store: Store, tmp_path: Path, *, persist: bool = True) -> Engine:
    (tmp_path / "r.yaml").write_text(CATCH_UP_RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/r.yaml]\n  interval: 30s\n"))
    assert not cfg.errors, cfg.errors
    return Engine(cfg, store, persist=persist)


def _catch_up_fired(engine: Engine, when: int) -> set[tuple]:
    outcome = engine.evaluate(when)
    assert not outcome.failed_rules
    return {(a.rule, a.labels.get("flow"), a.state, a.value) for a in outcome.alerts}


def test_a_burst_during_a_restart_fires_after_it(store: Store, tmp_path: Path):
    # six failures in 09:02:10-09:06:00, all while the engine was down (09:01 to 09:12)
    start = _at("09:02:10")
    events = [Event(start + i * 46_000, "mule.log", "mulesoft", "refused", outcome="failure",
                    id=event_id("catchup-it", str(i)), flow="o2c") for i in range(6)]
    assert not store.write_events(events).rejected
    store.refresh()
    before = _catch_up_engine(store, tmp_path)
    assert _catch_up_fired(before, _at("09:00:30")) == set()
    assert _catch_up_fired(before, _at("09:01:00")) == set()
    store.refresh()
    assert store.get_state(RUNS_NAMESPACE)[RUNS_KEY] == {"last_run": {"burst": _at("09:01:00")}}

    # Without the saved last run (a fresh store's first evaluation) the window ending at
    # 09:12 is empty: the burst would be missed.
    forgetful = _catch_up_engine(store, tmp_path, persist=False)
    assert _catch_up_fired(forgetful, _at("09:12:00")) == set()

    after = _catch_up_engine(store, tmp_path)
    after.restore(_at("09:12:00"))
    assert after.last_run == {"burst": _at("09:01:00")}
    # the burst starts the alert; the window ending now (empty) decides it at the next tick
    assert _catch_up_fired(after, _at("09:12:00")) == {("burst", "o2c", "firing", 6.0)}
    assert _catch_up_fired(after, _at("09:12:30")) == {("burst", "o2c", "resolved", 6.0)}


def test_the_catch_up_is_bounded(store: Store, tmp_path: Path):
    engine = _catch_up_engine(store, tmp_path)
    engine.evaluate(_at("09:00:00"))
    store.refresh()
    later = _catch_up_engine(store, tmp_path)
    day_after = _at("09:00:00") + 86_400_000
    later.restore(day_after)
    assert later.last_run == {"burst": day_after - 5 * 60_000 - CATCH_UP_MS}


# ---------------------------------------------------------------- shared sliding windows
SHARED_RULES = """\
rules:
  - {name: many, type: threshold, group_by: [midwatch.flow], window: 5m, above: 5}
  - {name: share, type: ratio, group_by: [midwatch.flow], where: {event.outcome: failure},
     window: 10m, above: 0.5, min_events: 6}
  - {name: surge, type: spike, group_by: [midwatch.flow], window: 15m, factor: 3,
     min_events: 6}
"""


def test_shared_sliding_windows_answer_as_each_rule_alone(loaded: Store, tmp_path: Path):
    """A threshold, a ratio and a spike on one filter are one query (``rules.sharing``); the
    rows read out of it for each rule are the store's own answer to that rule's query."""
    cfg = _config(tmp_path, SHARED_RULES)
    shared, alone = Engine(cfg, loaded, persist=False), Engine(cfg, loaded, persist=False,
                                                               share_windows=False)
    at = T0 - 5 * MIN + 5_000
    for engine in (shared, alone):
        for r in engine.rules:
            engine.last_run[r.name] = at - 90_000
    queries = list(dict.fromkeys(q for r in shared.rules for q in shared._plan(r, at)))
    assert len(queries) == 3 and len(set(sharing.share(queries).values())) == 1
    got, errors = shared._run(queries)
    want, _ = alone._run(queries)
    assert not errors and set(got) == set(want) == set(queries)
    for q in queries:
        assert [(r.group, r.count, r.bucket_ms) for r in got[q]] == \
            [(r.group, r.count, r.bucket_ms) for r in want[q]], q
        assert [r.value for r in got[q]] == pytest.approx([r.value for r in want[q]]), q
    assert any(r.count for q in queries for r in got[q])  # the windows hold events
