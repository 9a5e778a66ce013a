"""Severity bands, hysteresis and flap detection in the engine (issue 26 item 7): what is
paged at each evaluation, on the real SQLite store, across a restart; and the rule keys'
validation. The rule test of the same rules: tests/data/rules-bands/bands_test.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.event import Event, event_id, iso_to_ms
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import Secret, loads
from midwatch.cli import main
from rules import bands
from rules.config import load_rules_config
from rules.engine import Engine
from rules.loader import load_rules
from rules.notify import pagerduty

DATA = Path(__file__).parents[1] / "data" / "rules-bands"
# per flow, failures per 5 minutes from 10:00 (the rule test's input)
PER_SLOT = {"o2c": (8, 25, 4, 1), "inv": (8, 0, 8, 0, 8)}


def test_rule_test_of_bands_hysteresis_and_flapping(capsys):
    assert main(["rules", "test", str(DATA / "bands_test.yaml")]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "bands.sqlite")
    s.setup()
    events = []
    start = iso_to_ms("2024-03-04T10:00:10Z")
    for flow, counts in PER_SLOT.items():
        for slot, n in enumerate(counts):
            events += [Event(start + slot * 300_000 + i * 10_000, "x.log", "generic", "failed",
                             outcome="failure", flow=flow, id=event_id("bands", f"{flow}-{slot}-{i}"))
                       for i in range(n)]
    assert not s.write_events(events).rejected
    s.refresh()
    yield s
    s.close()


def _engine(store) -> Engine:
    doc = loads(f"rules:\n  paths: [{DATA / 'bands.yaml'}]\n  notify: [pager]\n"
                "notifiers:\n  pager: {type: webhook, url: 'http://127.0.0.1:9/unused'}\n")
    cfg = load_rules_config(doc)
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, store)
    engine.restore(0)
    return engine


def _paged(engine: Engine, at: str) -> list[tuple]:
    outcome = engine.evaluate(iso_to_ms(f"2024-03-04T{at}Z"))
    return sorted((n.rule.split("-")[1], n.action, n.severity, n.key,
                   "flapping" in n.annotations) for _, n in outcome.notified)


def test_severity_moves_within_one_incident_and_survives_a_restart(store):
    engine = _engine(store)
    [warn] = [p for p in _paged(engine, "10:05:00") if p[0] == "banded"]
    assert warn[1:3] == ("firing", "warning")
    [crit] = [p for p in _paged(engine, "10:10:00") if p[0] == "banded"]
    assert crit[1:4] == ("firing", "critical", warn[3])  # the same dedup key: one incident
    body = pagerduty.event(engine.notification(
        engine.rules[0], engine.alerts[warn[3]], "firing", 0),
        pagerduty.Options(Secret("k", "test")))
    assert (body["dedup_key"], body["payload"]["severity"]) == (warn[3], "critical")
    engine = _engine(store)  # restart: the alert, its severity and what was paged are kept
    [back] = [p for p in _paged(engine, "10:15:00") if p[0] == "banded"]
    assert back[1:4] == ("firing", "warning", warn[3])  # held by resolve_below, one band down
    assert [p[1] for p in _paged(engine, "10:20:00") if p[0] == "banded"] == ["resolved"]


def test_flapping_is_paged_once_and_held_until_stable_across_a_restart(store):
    engine = _engine(store)
    flap = [("10:05:00", [("firing", False)]), ("10:10:00", [("resolved", False)]),
            ("10:15:00", [("firing", False)]), ("10:20:00", [("firing", True)])]
    for at, want in flap:
        assert [(p[1], p[4]) for p in _paged(engine, at) if p[0] == "flapping"] == want, at
    engine = _engine(store)
    key = next(k for k, a in engine.alerts.items() if a.rule == "failures-flapping")
    assert engine.alerts[key].flapping and engine.alerts[key].held
    for at in ("10:25:00", "10:30:00", "10:55:00"):  # changes, but no page while flapping
        assert [p for p in _paged(engine, at) if p[0] == "flapping"] == [], at
    assert [p[1] for p in _paged(engine, "11:01:00") if p[0] == "flapping"] == ["resolved"]
    assert key not in engine.alerts


@pytest.mark.parametrize("keys, error", [
    ("above: 3, warning: {above: 5}", "rules.0.warning: with warning/critical bounds the rule "
     "has no above/below of its own"),
    ("warning: {above: 5}, critical: {above: 2}", "rules.0.critical: critical must lie beyond warning"),
    ("warning: {above: 5}, critical: {below: 2}", "rules.0.critical: warning and critical must both"),
    ("warning: {above: 5, below: 1}", "rules.0.warning: expected one bound: above or below"),
    ("above: 5, resolve_below: 6", "rules.0.resolve_below: must lie inside the firing bound (above 5)"),
    ("above: 5, resolve_above: 6", "rules.0.resolve_above: goes with an below bound"),
    ("above: 5, flap: {window: 1h}", "rules.0.flap: max_changes is required"),
    ("above: 5, measure: {field: midwatch.probe.value, unit: ms}, resolve_below: 2",
     "rules.0.resolve_below: bands compare the alert value"),
])
def test_band_keys_are_validated(tmp_path, keys, error):
    path = tmp_path / "r.yaml"
    path.write_text(f"rules:\n  - {{name: r, type: threshold, {keys}}}\n")
    errors = [str(e) for e in load_rules([path]).errors]
    assert len(errors) == 1 and error in errors[0], errors


def test_bands_below_severity_and_resolve_above(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - {name: ok-share, type: ratio, where: {event.outcome: success},\n"
                    "     warning: {below: 0.9}, critical: {below: 0.5}, resolve_above: 0.95}\n")
    [rule] = load_rules([path]).rules
    assert (rule.spec.above, rule.spec.below) == (None, 0.9)  # the lowest band fires
    assert [bands.severity(rule.bands, v, "info") for v in (0.4, 0.7, 0.92)] == [
        "critical", "warning", "warning"]
    assert [bands.holds(rule.bands, v) for v in (0.92, 0.95, 0.97, None)] == [
        True, True, False, False]
