"""The anomaly rule through the normal alert lifecycle, against the real stores: it learns
three weeks of hourly order traffic, fires on a Tuesday-morning drop with a page that
explains itself, resolves when traffic is back, and keeps a new flow in cold start."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from anomaly_support import STORES, filled_store
from service_runner import run_cli_until, scrape

from collector.event import Event, event_id
from collector.store.base import Store
from collector.yamlconf import loads
from rules import types
from rules.anomaly import persist
from rules.config import load_rules_config
from rules.engine import Engine

HOUR = 3_600_000
START = 1_772_409_600_000  # Monday 2026-03-02 00:00 UTC
DROP = START + (3 * 7 + 1) * 24 * HOUR + 10 * HOUR  # Tuesday 2026-03-24 10:00


def _normal(hour_ms: int) -> int:
    hour = (hour_ms // HOUR) % 24
    weekday = ((hour_ms // (24 * HOUR)) + 3) % 7 < 5
    wobble = (hour_ms // HOUR) * 7 % 5 - 2
    return (30 if weekday and 8 <= hour < 18 else 3) + wobble


def dataset() -> list[Event]:
    out = []
    for hour_ms in range(START, DROP + 2 * HOUR, HOUR):
        n = 2 if hour_ms == DROP else _normal(hour_ms)
        for i in range(n):
            ts = hour_ms + i * (HOUR // (n + 1))
            out.append(Event(ts, "mule.log", "mulesoft", "order received", outcome="success",
                             level="info", id=event_id("anomaly-it", f"o2c-{ts}"),
                             flow="o2c", stage="api.received", message_id=f"o2c-{ts}"))
    for hour_ms in range(DROP - 10 * HOUR, DROP + 2 * HOUR, HOUR):  # a flow born today
        out.append(Event(hour_ms, "mule.log", "mulesoft", "invoice", outcome="success",
                         level="info", id=event_id("anomaly-it", f"new-{hour_ms}"),
                         flow="invoicing", stage="api.received", message_id=f"inv-{hour_ms}"))
    return out


@pytest.fixture(params=STORES)
def store(request, tmp_path) -> Iterator[Store]:
    yield from filled_store(request, tmp_path, dataset())


def _config(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""\
rules:
  - name: order-volume
    type: anomaly
    metric: rate
    bucket: 1h
    history: 21d
    min_history: 7d
    direction: drop
    label: orders/h
    group_by: [midwatch.flow]
    window: 1h
    model_dir: {tmp_path / "models"}
    annotations: {{summary: "{{{{ explanation }}}} (score {{{{ score }}}})"}}
""")
    doc = loads(f"rules:\n  paths: [{rules}]\n  notify: [hook]\n"
                "notifiers:\n  hook: {type: webhook, url: 'http://127.0.0.1:9/unused'}\n")
    cfg = load_rules_config(doc)
    assert not cfg.errors, cfg.errors
    return cfg


@pytest.mark.timeout(120)
def test_anomaly_rule_fires_on_a_drop_and_resolves(store, tmp_path):
    persist.forget()
    engine = Engine(_config(tmp_path), store)
    # 11:00:30: the 10:00 bucket is complete and holds 2 orders instead of ~30.
    fired = engine.evaluate(DROP + HOUR + 30_000)
    assert not fired.failed_rules
    assert [(a.rule, a.labels, a.state) for a in fired.alerts] == [
        ("order-volume", {"flow": "o2c"}, "firing")]
    alert = fired.alerts[0]
    assert alert.value == 2.0
    summary = alert.annotations["summary"]
    assert summary.startswith("orders/h 2, expected ") and "for Tue 10:00" in summary
    assert "lowest in 3 weeks" in summary
    low = float(summary.split("expected ")[1].split("-")[0])
    assert 5 < low < 30
    assert [n.action for _, n in fired.notified] == ["firing"]
    assert (tmp_path / "models" / "order-volume.joblib").exists()

    # The new flow is scored but in cold start: no alert.
    samples = {s.group["midwatch.flow"]: s for s in _samples(engine, store, DROP + HOUR + 30_000)}
    assert samples["invoicing"].context["state"] == "cold_start"
    assert not samples["invoicing"].active
    assert samples["o2c"].context["state"] == "learned"

    # 12:00:30: the 11:00 bucket is back to normal -> resolved, notified.
    resolved = engine.evaluate(DROP + 2 * HOUR + 30_000)
    assert [(a.rule, a.state) for a in resolved.alerts] == [("order-volume", "resolved")]
    assert [n.action for _, n in resolved.notified] == ["resolved"]


def test_a_restart_scores_with_the_saved_model(store, tmp_path):
    persist.forget()
    first = Engine(_config(tmp_path), store)
    trained = first.evaluate(DROP + 30_000).queries  # history + scoring queries
    persist.forget()  # a new process: only the file remains
    again = Engine(_config(tmp_path), store)
    outcome = again.evaluate(DROP + HOUR + 30_000)
    # No retraining within the retrain interval: only the scoring context is read (split
    # into searches of at most 60,000 group x bucket cells), and the collector's ingest
    # over it (one search).
    scoring = len(types.get("anomaly")._scoring_spans(again.rules[0], DROP + HOUR))
    assert outcome.queries == scoring + 1 < trained
    assert [a.state for a in outcome.alerts] == ["firing"]


def _samples(engine: Engine, store: Store, at_ms: int):
    """What the rule type itself reports for every series (the engine keeps active ones)."""
    rule = engine.rules[0]
    anomaly = types.get("anomaly")
    return anomaly.evaluate(rule, at_ms, store.metrics(anomaly.queries(rule, at_ms)))


@pytest.mark.timeout(90)
def test_midwatch_run_reports_training_and_scoring_times_in_metrics(tmp_path):
    """The wiring in ``midwatch run``: scheduler -> anomaly timings -> the API's /metrics."""
    port = _free_port()
    (tmp_path / "app.log").write_text("")
    (tmp_path / "rules.yaml").write_text(f"""\
rules:
  - {{name: vol, type: anomaly, bucket: 1m, history: 1h, min_history: 10m,
     group_by: [midwatch.flow], model_dir: "{tmp_path / 'models'}"}}
""")
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 'mw.sqlite'}"}}}}
collector: {{checkpoint_dir: "{tmp_path / 'cp'}", state_dir: "{tmp_path}"}}
inputs:
  - {{type: file, name: app, paths: ["{tmp_path / 'app.log'}"]}}
api: {{listen: "127.0.0.1:{port}"}}
rules: {{paths: ["{tmp_path / 'rules.yaml'}"], interval: 1s}}
""")
    want = ('midwatch_anomaly_duration_seconds_count{phase="train",rule="vol"}',
            'midwatch_anomaly_duration_seconds_count{phase="score",rule="vol"}')
    text = ""

    def timed_both() -> bool:
        nonlocal text
        text = scrape(port) or text
        return all(w in text for w in want)

    code, err = run_cli_until(["run", "-c", str(config)], timed_both, timeout_s=45)
    assert all(w in text for w in want), err[-2000:]
    assert 'midwatch_anomaly_series{phase="train",rule="vol"} 0' in text  # nothing ingested
    assert code == 0, err[-2000:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_a_restart_while_firing_does_not_page_again(store, tmp_path):
    """A new process (or leader) takes up the firing alert from the store and scores the
    same bucket with the saved model: still firing, no second page."""
    persist.forget()
    first = Engine(_config(tmp_path), store)
    assert [n.action for _, n in first.evaluate(DROP + HOUR + 30_000).notified] == ["firing"]
    persist.forget()
    again = Engine(_config(tmp_path), store)
    again.restore(DROP + HOUR + 330_000)
    outcome = again.evaluate(DROP + HOUR + 330_000)
    assert [(a.labels, a.state) for a in outcome.alerts] == [({"flow": "o2c"}, "firing")]
    assert outcome.notified == []


DAY = 24 * HOUR
OUTAGE_DAYS = (15, 22)  # the collector down on two Tuesdays, 09:00-13:00: no flow ingested
REAL_DROP = START + 29 * DAY + 10 * HOUR  # Tuesday 2026-03-31 10:00: only o2c stops


def outage_events() -> list[Event]:
    """Two flows hourly from Monday 2026-03-02; the collector down OUTAGE_DAYS 09:00-13:00;
    o2c alone sends nothing at REAL_DROP."""
    rng = np.random.default_rng(31)
    events = []
    for at in range(START, REAL_DROP + HOUR, HOUR):
        if any(START + d * DAY + 9 * HOUR <= at < START + d * DAY + 13 * HOUR
               for d in OUTAGE_DAYS):
            continue
        hour, weekday = (at % DAY) // HOUR, ((at // DAY) + 3) % 7 < 5
        for flow, busy in (("o2c", 40), ("invoicing", 10)):
            level = (busy if 8 <= hour < 18 else busy // 5) if weekday else busy // 8
            n = 0 if flow == "o2c" and at == REAL_DROP else int(rng.poisson(level))
            for i in range(n):
                ts = at + i * (HOUR // (n + 1))
                events.append(Event(ts, "mule.log", "mulesoft", "order received",
                                    outcome="success", level="info",
                                    id=event_id("outage", f"{flow}-{ts}-{i}"), flow=flow,
                                    stage="api.received", message_id=f"{flow}-{ts}-{i}"))
    return events


@pytest.fixture(params=STORES)
def outage_store(request, tmp_path) -> Iterator[Store]:
    yield from filled_store(request, tmp_path, outage_events())


@pytest.mark.timeout(300)
def test_collector_outages_are_not_learned_as_a_flows_normal(outage_store, tmp_path,
                                                             monkeypatch):
    """The collector was down two Tuesday mornings of the four weeks learned: every flow 0.
    Learned as the flows' own values, they halved Tuesday 10:00's expected level and made
    the tails heavier, so o2c stopping there the next Tuesday (the other flow busy) did not
    page. Buckets in which the collector ingested nothing, where other weeks it did, are
    now left out of training."""
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, outage_store)
    outcome = engine.evaluate(REAL_DROP + HOUR + 30_000)
    assert not outcome.failed_rules
    firing = {a.labels["flow"]: a.annotations["summary"] for a in outcome.alerts
              if a.moved == "firing"}
    assert list(firing) == ["o2c"], firing
    assert firing["o2c"].startswith("o2c: events/h 0, expected "), firing


STALL = START + 29 * DAY + 10 * HOUR  # Tuesday 2026-03-31 10:00: the collector ingests nothing
FLOWS = {"o2c": 20, "invoicing": 15, "shipping": 12, "payments": 30, "returns": 10}


def stall_events() -> list[Event]:
    """Five busy flows hourly from Monday 2026-03-02; from Tuesday 08:00 billing sends
    nothing (it stopped); from STALL for an hour the collector ingests nothing at all;
    then the flows send as before until 12:30. Two sources: returns comes from Boomi."""
    rng = np.random.default_rng(47)
    events = []
    for at in range(START, STALL + 2 * HOUR + 30 * 60_000, HOUR):
        if STALL <= at < STALL + HOUR:
            continue
        hour, weekday = (at % DAY) // HOUR, ((at // DAY) + 3) % 7 < 5
        for flow, busy in (*FLOWS.items(), ("billing", 25)):
            level = (busy if 8 <= hour < 18 else busy // 5) if weekday else busy // 8
            n = 0 if flow == "billing" and at >= STALL - 2 * HOUR else int(rng.poisson(level))
            for i in range(n):
                ts = at + i * (HOUR // (n + 1))
                source = ("boomi.process", "boomi") if flow == "returns" else \
                    ("mule.log", "mulesoft")
                events.append(Event(ts, *source, "order received",
                                    outcome="success", level="info",
                                    id=event_id("stall", f"{flow}-{ts}-{i}"), flow=flow,
                                    stage="api.received", message_id=f"{flow}-{ts}-{i}"))
    return events


@pytest.fixture(params=STORES)
def stall_store(request, tmp_path) -> Iterator[Store]:
    yield from filled_store(request, tmp_path, stall_events())


@pytest.mark.timeout(600)
def test_a_collector_that_ingests_nothing_pages_once_not_once_per_flow(stall_store, tmp_path,
                                                                      monkeypatch):
    """The collector ingests nothing for an hour (Kafka or the store's write path down)
    while the anomaly and midwatch packs run every 5 minutes. Every flow's bucket was 0:
    each busy flow paged as a drop and midwatch-source-silent each source: eight pages
    where one says what happened. Now a bucket in which the collector ingested nothing is
    no data for every flow (nothing fires or resolves there), and no source is judged
    silent while all are; midwatch-collector-stalled pages once and resolves when events
    are stored again. billing, which stopped on its own two hours before, pages and its
    alert stays firing through the stall."""
    monkeypatch.setenv("MIDWATCH_MODEL_DIR", str(tmp_path / "models"))
    persist.forget()
    cfg = load_rules_config(loads("rules:\n  paths: [pack:anomaly, pack:midwatch]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, stall_store)
    moves = []
    for at in range(STALL - HOUR, STALL + 2 * HOUR + 30 * 60_000, 5 * 60_000):
        outcome = engine.evaluate(at + 30_000)
        assert not outcome.failed_rules, outcome.failed_rules
        moves += [((at - STALL) // 60_000, a.rule, a.labels.get("flow", ""), a.moved)
                  for a in outcome.alerts if a.moved in ("firing", "resolved")]
    # One page for the stall, none for the flows and sources it silenced; billing's page
    # from before the stall stays open.
    assert moves == [(-60, "flow-volume-anomaly", "billing", "firing"),
                     (15, "midwatch-collector-stalled", "", "firing"),
                     (60, "midwatch-collector-stalled", "", "resolved")], moves
    held = [a for a in engine.alerts.values() if a.rule == "flow-volume-anomaly"]
    assert [(a.labels["flow"], a.state) for a in held] == [("billing", "firing")], held
