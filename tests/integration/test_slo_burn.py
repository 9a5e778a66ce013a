"""``slo_burn`` on a scripted timeline against the real SQLite store and the real
Elasticsearch: messages of a flow arrive minute by minute, half of them fail for twenty
minutes, and the burn-rate alert fires (fast window set) and resolves once its short window
is clean and the slow set burns below its rate; one aggregation per evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.store.base import Filter, MetricQuery, Store
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine
from rules.slo import Slo, budget, budget_query, parse_objective

T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z
MIN = 60_000
RULES = """\
rules:
  - name: o2c-slo-burn
    type: slo_burn
    flow: o2c
    objective: 99%
    group_by: [flow]
    windows:
      - {long: 1h, short: 5m, burn_rate: 14.4}
      - {long: 6h, short: 30m, burn_rate: 6}
    severity: critical
    annotations:
      summary: "{{ labels.flow }} burns its error budget at {{ burn_rate }}x ({{ window_set }})"
"""


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "slo.sqlite")
    else:
        s = ElasticsearchStore(client=request.getfixturevalue("es"),
                               index_prefix=request.getfixturevalue("es_index_prefix"))
    s.setup()
    yield s
    s.close()


def _trace(minute: int) -> Trace:
    """One message per minute, decided at that minute: failed from T0 for 20 minutes every
    other minute, else completed within its SLA."""
    at = T0 + minute * MIN
    failed = 0 <= minute < 20 and minute % 2 == 0
    hop = Hop("api.received", "svc", "mulesoft", at - 30_000, "success", f"e{minute}")
    return Trace(f"order:{minute}", [f"order:{minute}"], at - 30_000, at, flow="o2c",
                 status="failed" if failed else "completed", ended_ms=at, hops=[hop],
                 hop_count=1, sla_ms=15 * MIN)


def _config(tmp_path: Path):
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/rules.yaml]\n"))
    assert not cfg.errors, cfg.errors
    return cfg


def test_fires_holds_and_resolves_on_the_timeline(store, tmp_path):
    engine = Engine(_config(tmp_path), store)
    written = -180  # three hours of good traffic first
    store.upsert_traces([_trace(m) for m in range(written, -5)])
    written = -5
    states = {}
    for minute in (-5, 10, 20, 35, 50, 60):
        store.upsert_traces([_trace(m) for m in range(written, minute)])
        written = minute
        store.refresh()
        outcome = engine.evaluate(T0 + minute * MIN)
        assert not outcome.failed_rules, outcome.failed_rules
        assert outcome.queries == 1  # one aggregation per window set
        states[minute] = [(a.state, a.value, a.annotations.get("summary")) for a in outcome.alerts]
    assert states[-5] == []
    # 10 min in: 5 of the last 70 messages failed: 1h at 8.3x is below 14.4 (the 5m window,
    # at 40x, alone pages nobody), 6h at 2.6x below 6
    assert states[10] == []
    # 20 min in: 10 of the last hour's 60 failed (16.7x) and 2 of the last 5 (40x)
    assert states[20] == [("firing", 16.67, "o2c burns its error budget at 16.67x (1h/5m)")]
    # 35 min: the last 5 minutes are clean, and 10 failures in 6 h (215 messages) burn 4.7x,
    # below the slow set's 6x: resolved
    assert [s[0] for s in states[35]] == ["resolved"]
    assert states[50] == states[60] == []
    history = store.metric(MetricQuery("alerts", T0 - MIN, T0 + 2 * 60 * MIN,
                                       filters=(Filter("rule", "eq", "o2c-slo-burn"),),
                                       group_by=("state",)))
    assert {r.group["state"]: r.count for r in history} == {"firing": 1, "resolved": 1}


def test_budget_and_the_days_it_burned(store):
    store.upsert_traces([_trace(m) for m in range(-180, 60)])
    store.refresh()
    doc = loads("slos: [{name: o2c, flow: o2c, objective: 99.5}]\n")
    from collector.config_values import Section

    slo = Slo("o2c", parse_objective(Section(doc, ("slos", 0), doc.data["slos"][0],
                                              ("name", "flow", "objective"))), 30 * 1440 * MIN)
    b = budget(slo, store.metric(budget_query(slo, T0 + 60 * MIN)))
    assert (b.total, b.bad) == (240, 10)
    assert b.consumed == pytest.approx(10 / (0.005 * 240))  # 8.3x the budget: objective missed
    assert [day for day, _ in b.burned_days] == [T0 - T0 % (1440 * MIN)]


def test_slo_status_prints_each_budget_and_fails_a_missed_objective(tmp_path, capsys):
    from midwatch.cli import main

    store = SQLiteStore(tmp_path / "mw.sqlite")
    store.setup()
    store.upsert_traces([_trace(m) for m in range(-180, 60)])
    store.close()
    config = tmp_path / "mw.yaml"
    config.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path / 'mw.sqlite'}}}}}\n"
                      "slos:\n  - {name: o2c, flow: o2c, objective: 99.5, window: 7d}\n"
                      "  - {name: loose, flow: o2c, objective: '90%'}\n")
    at = "2024-03-04T11:00:00Z"
    assert main(["slo", "status", "-c", str(config), "--at", at]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["o2c", "sla", "o2c", "99.5%", "7d", "240", "95.83%", "-733%", "1"]
    assert lines[2].split() == ["loose", "sla", "o2c", "90%", "30d", "240", "95.83%", "58%", "0"]
    config.write_text(config.read_text().replace("objective: 99.5", "objective: 100"))
    assert main(["slo", "status", "-c", str(config), "--at", at]) == 2
    err = capsys.readouterr().err
    assert "mw.yaml:3:28: slos.0.objective" in err and "100 would leave no error budget" in err


def test_availability_of_an_endpoint_probe(store, tmp_path):
    """The same rule type over probe readings: an endpoint down for ten minutes pages, and
    resolves once it answers again."""
    from collector.probes.reading import ProbeIdentity, Reading, to_event

    probe = ProbeIdentity("orders-api", "http", "http", "https://orders.example.com/health")

    def reading(minute: int):
        down = 0 <= minute < 10
        return to_event(probe, Reading("endpoint.up", 0 if down else 1, {"endpoint": "orders"},
                                       ok=not down), T0 + minute * MIN)

    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - {name: api-availability, type: slo_burn, probe: orders-api, objective: 99,"
        " group_by: [labels.probe.name], windows: [{long: 1h, short: 5m, burn_rate: 14.4}]}\n")
    cfg = load_rules_config(loads(f"rules:\n  paths: [{tmp_path}/rules.yaml]\n"))
    assert not cfg.errors, cfg.errors
    engine = Engine(cfg, store)
    store.write_events([reading(m) for m in range(-120, 10)])
    store.refresh()
    fired = engine.evaluate(T0 + 10 * MIN)
    assert [(a.state, a.labels, a.value) for a in fired.alerts] == [
        ("firing", {"probe_name": "orders-api"}, 16.67)]  # 10 of 60 readings down: 16.7x
    store.write_events([reading(m) for m in range(10, 20)])
    store.refresh()
    assert [a.state for a in engine.evaluate(T0 + 20 * MIN).alerts] == ["resolved"]
