"""The anomaly rule as it runs in production, against the real stores: what must not page
(a group the store's answer cut off) and what must not go silent (a model that fails).

Each test was written before its fix and failed on the code before it (see the commits)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from anomaly_support import STORES, filled_store

from collector.event import Event, event_id
from collector.store.base import Store
from collector.yamlconf import loads
from rules import types
from rules.anomaly import persist
from rules.config import load_rules_config
from rules.engine import Engine

HOUR = 3_600_000
DAY = 24 * HOUR
START = 1_772_409_600_000  # Monday 2026-03-02 00:00 UTC
END = START + 9 * DAY + 10 * HOUR  # Wednesday 2026-03-11 10:00
# Hourly Poisson levels of three flows; from 4 hours before END a fourth, busier one.
LEVELS = {"big": 40, "mid": 20, "small": 3}
NEWCOMER = ("burst", 150)


def dataset() -> list[Event]:
    rng = np.random.default_rng(7)
    out = []
    for at in range(START, END, HOUR):
        flows = dict(LEVELS)
        if at >= END - 4 * HOUR:
            flows[NEWCOMER[0]] = NEWCOMER[1]
        for flow, level in flows.items():
            n = int(rng.poisson(level))
            for i in range(n):
                ts = at + i * (HOUR // (n + 1))
                out.append(Event(ts, "mule.log", "mulesoft", "order", outcome="success",
                                 level="info", id=event_id("anomaly-prod", f"{flow}-{ts}-{i}"),
                                 flow=flow, stage="api.received", message_id=f"{flow}-{ts}-{i}"))
    return out


@pytest.fixture(params=STORES)
def store(request, tmp_path) -> Iterator[Store]:
    yield from filled_store(request, tmp_path, dataset())


def _config(tmp_path: Path, extra: str = "", max_groups: int = 3):
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""\
rules:
  - {{name: volume, type: anomaly, bucket: 1h, history: 8d, min_history: 2d,
     group_by: [midwatch.flow], max_groups: {max_groups}, model_dir: "{tmp_path / 'models'}"}}
{extra}""")
    cfg = load_rules_config(loads(f"rules:\n  paths: [{rules}]\n"))
    assert not cfg.errors, cfg.errors
    return cfg


@pytest.mark.timeout(180)
def test_a_learned_group_cut_from_a_full_answer_is_not_an_outage(store, tmp_path):
    """max_groups 3: the model learns big, mid and small (3 an hour); then a busier flow is
    born, and the scoring answer (capped at 3 groups, largest first) leaves small out.
    Small is still sending: counting it 0 in every bucket of the context paged "none in the
    last 118 buckets where ~350 were expected" on a healthy flow (before the fix)."""
    persist.forget()
    engine = Engine(_config(tmp_path), store, persist=False)
    first = engine.evaluate(END - 5 * HOUR + 60_000)
    assert not first.failed_rules and not first.alerts
    outcome = engine.evaluate(END + 60_000)
    assert not outcome.failed_rules
    assert [(a.labels, a.state) for a in outcome.alerts] == []


@pytest.mark.timeout(180)
def test_a_model_that_fails_fails_its_rule_alone_and_is_recorded(store, tmp_path, monkeypatch):
    """A model error (here: scoring raises) must not stop every other rule's pages, nor
    leave its own rule silently unevaluated: the rule is recorded ``eval_failed`` (what
    the midwatch pack's ``midwatch-rule-evaluation-failing`` pages on) and the other rules
    of the pass fire as usual. Before the fix the exception left ``Engine.evaluate``, which
    ends the scheduler's thread: no rule was evaluated again, and nothing paged."""
    from rules.types import anomaly

    def broken(*args, **kwargs):
        raise FloatingPointError("model error: overflow in rarity")

    monkeypatch.setattr(anomaly, "score", broken)
    persist.forget()
    cfg = _config(tmp_path, "  - {name: small-flow, type: threshold, "
                            "filter: {midwatch.flow: small}, above: 0, window: 1h}\n")
    outcome = Engine(cfg, store, persist=False).evaluate(END + 60_000)
    assert list(outcome.failed_rules) == ["volume"]
    assert "model error: overflow in rarity" in outcome.failed_rules["volume"]
    assert [(a.rule, a.state) for a in outcome.alerts] == [("small-flow", "firing")]


def _late_flow(store: Store) -> None:
    """A flow of ~40 an hour of whose last hour only the first quarter is stored: the rest
    is still in a shipper's backlog (ingest lag)."""
    rng = np.random.default_rng(11)
    events = []
    for at in range(START, END, HOUR):
        n = int(rng.poisson(40))
        for i in range(n):
            ts = at + i * (HOUR // (n + 1))
            if ts < END - 3 * HOUR // 4:
                events.append(Event(ts, "mule.log", "mulesoft", "order", outcome="success",
                                    level="info", id=event_id("anomaly-late", f"{ts}-{i}"),
                                    flow="late", stage="api.received", message_id=f"l-{ts}-{i}"))
    assert store.write_events(events).written == len(events)
    store.refresh()


@pytest.mark.timeout(180)
def test_query_delay_keeps_a_bucket_still_filling_out_of_scoring(store, tmp_path):
    """At 10:01 the 09:00-10:00 bucket holds a quarter of its events (the rest arrive
    late). The rule scores the last complete bucket by the clock, so without
    ``query_delay`` that bucket pages as a drop; with ``query_delay: 1h`` the rule scores
    08:00, whose events are all in, and does not page. (Half a bucket missing did not
    page: ~20 against ~40 stays under 0.8.)"""
    _late_flow(store)
    rules = tmp_path / "late.yaml"
    states = {}
    for delay in ("0s", "1h"):
        rules.write_text(f"""\
rules:
  - {{name: late-{delay}, type: anomaly, bucket: 1h, history: 8d, min_history: 2d,
     filter: {{midwatch.flow: late}}, group_by: [midwatch.flow], query_delay: {delay},
     direction: drop, model_dir: "{tmp_path / 'models'}"}}
""")
        cfg = load_rules_config(loads(f"rules:\n  paths: [{rules}]\n"))
        assert not cfg.errors, cfg.errors
        persist.forget()
        engine = Engine(cfg, store, persist=False)
        outcome = engine.evaluate(END + 60_000)
        assert not outcome.failed_rules
        states[delay] = [(a.labels["flow"], a.state, a.value) for a in outcome.alerts]
    assert [(flow, state) for flow, state, _ in states["0s"]] == [("late", "firing")]
    assert states["0s"][0][2] < 15
    assert states["1h"] == [], states


@pytest.mark.timeout(180)
def test_a_new_leader_without_the_model_file_learns_from_the_store_not_from_scratch(
        store, tmp_path):
    """A leader change to a host without the model file (models are kept per host): the
    first evaluation learns from the store's whole ``history``, so the learned flows are
    scored as learned at once, not in a cold start that would first say nothing and then
    page on its thin tails; the flow born 4 hours ago is the only one still learning."""
    persist.forget()
    old = Engine(_config(tmp_path, max_groups=1000), store, persist=False)
    assert not old.evaluate(END - 5 * HOUR + 60_000).alerts
    persist.forget()  # another process; its model_dir holds nothing
    (tmp_path / "elsewhere").mkdir()
    cfg = _config(tmp_path / "elsewhere", max_groups=1000)
    new = Engine(cfg, store, persist=False)
    outcome = new.evaluate(END + 60_000)
    assert not outcome.failed_rules and not outcome.alerts
    assert (tmp_path / "elsewhere" / "models" / "volume.joblib").exists()
    rule = new.rules[0]
    anomaly = types.get("anomaly")
    at = END + 60_000
    samples = anomaly.evaluate(rule, at, store.metrics(anomaly.queries(rule, at)))
    assert {s.group["midwatch.flow"]: s.context["state"] for s in samples} == {
        "big": "learned", "mid": "learned", "small": "learned", "burst": "cold_start"}
