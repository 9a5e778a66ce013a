"""`midwatch trace`, `traces` and `reconcile` run for real against a SQLite file filled by the
correlator, as `midwatch run` would leave it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event, event_id
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import load
from midwatch.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"
CATALOG = build_catalog(load(EXAMPLE))
# Half an hour before the fixture runs (not before the module is imported: in CI the unit
# files run half an hour after collection, and the traces fell out of `traces`' last hour).
START_AGO_MS = 30 * 60_000


def _ev(t0: int, n: int, dt_s: float, platform: str, ids: list[str], **kw) -> Event:
    ev = Event(timestamp_ms=t0 + int(dt_s * 1000), dataset=f"{platform}.test",
               platform=platform, id=event_id("cli", str(n)), **kw)
    for i in ids:
        ev.add_id(*i.split(":", 1))
    return ev


def events(t0: int) -> list[Event]:
    api = {"url_path": "/api/orders"}
    return [
        _ev(t0, 1, 0, "apigw", ["correlation:c1"], labels=api, service="kong", outcome="success"),
        _ev(t0, 2, 0.25, "mulesoft", ["correlation:c1", "order:4711"], service="order-sync",
            outcome="success"),
        _ev(t0, 3, 2, "kafka", ["order:4711"], labels={"kafka_topic": "orders"}, outcome="success"),
        _ev(t0, 4, 3, "boomi", ["order:4711", "boomi.exec:e1"], service="Orders to ERP",
            outcome="failure", error_class="mapping",
            error_message="Map 'Order->IDoc': field PO_NUMBER is required"),
        _ev(t0, 11, 60, "apigw", ["correlation:c2"], labels=api, service="kong", outcome="success"),
        _ev(t0, 12, 61, "mulesoft", ["correlation:c2", "order:4712"], service="order-sync",
            outcome="success"),
        _ev(t0, 13, 62, "kafka", ["order:4712"], labels={"kafka_topic": "orders"}, outcome="success"),
        _ev(t0, 14, 63, "boomi", ["order:4712", "boomi.exec:e2"], service="Orders to ERP",
            outcome="success"),
        _ev(t0, 15, 70, "generic", ["boomi.exec:e2"], service="sap-bridge", action="delivered",
            outcome="success"),
        _ev(t0, 21, 120, "apigw", ["correlation:c3"], labels=api, service="kong", outcome="success"),
        _ev(t0, 22, 121, "mulesoft", ["correlation:c3", "order:4713"], service="order-sync",
            outcome="success"),
    ]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("cli")
    db = root / "midwatch.sqlite"
    store = SQLiteStore(db)
    store.setup()
    correlator = Correlator(CATALOG, store)
    now = int(time.time() * 1000)
    batch = events(now - START_AGO_MS)
    correlator.process(batch)
    store.write_events(batch)
    correlator.flush()
    correlator.sweep(now)
    store.close()
    cfg = root / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {db}}}\nflows: {EXAMPLE}\n")
    return str(cfg)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_by_bare_id_prints_header_and_aligned_hops(capsys, config):
    code, out, _ = cli(capsys, "trace", "4711", "-c", config)
    assert code == 0
    head, table = out.split("\n\n")
    assert "trace     correlation:c1" in head
    assert "flow      order-to-cash" in head
    assert "status    failed" in head
    assert "duration 3.0s" in head
    assert "correlation:c1, order:4711, boomi.exec:e1" in head
    rows = table.splitlines()
    assert rows[0].split() == ["TIME", "STAGE", "SERVICE", "PLATFORM", "OUTCOME", "LATENCY",
                               "ERROR"]
    assert [r.split()[1] for r in rows[1:]] == ["api.received", "mule.transformed",
                                                "kafka.published", "boomi.mapping_failed"]
    assert "+250ms" in rows[2] and "+1.8s" in rows[3]
    assert rows[4].endswith("Map 'Order->IDoc': field PO_NUMBER is required")
    # aligned: every column starts at the same offset in every row
    col = rows[0].index("STAGE")
    assert all(r[col - 2:col] == "  " and r[col] != " " for r in rows[1:])


def test_trace_typed_id_and_json(capsys, config):
    code, out, _ = cli(capsys, "trace", "boomi.exec:e2", "--json", "-c", config)
    doc = json.loads(out)
    assert code == 0
    assert (doc["trace_key"], doc["status"], doc["hop_count"]) == ("correlation:c2",
                                                                    "completed", 5)
    assert [h["latency_ms"] for h in doc["hops"]] == [None, 1000, 1000, 1000, 7000]


def test_trace_not_found_exits_1_with_a_message(capsys, config):
    code, out, err = cli(capsys, "trace", "order:nope", "-c", config)
    assert (code, out) == (1, "")
    assert "no trace has the ID 'order:nope'" in err


def test_traces_filters_and_json(capsys, config):
    code, out, _ = cli(capsys, "traces", "--status", "stuck", "-c", config)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["TRACE", "FLOW"]
    assert [ln.split()[0] for ln in lines[1:-1]] == ["correlation:c3"]
    assert lines[-1] == "* SLA breached"
    code, out, _ = cli(capsys, "traces", "--flow", "order-to-cash", "--since", "1h", "--json",
                       "-c", config)
    assert sorted(d["trace_key"] for d in json.loads(out)) == ["correlation:c1",
                                                               "correlation:c2",
                                                               "correlation:c3"]
    code, out, _ = cli(capsys, "traces", "--limit", "1", "--json", "-c", config)
    assert [d["trace_key"] for d in json.loads(out)] == ["correlation:c3"]  # newest first


def test_traces_of_a_flow_the_catalog_does_not_have_names_the_closest(capsys, config):
    code, out, err = cli(capsys, "traces", "--flow", "order-to-csh", "-c", config)
    assert (code, out) == (0, "")
    assert err.splitlines() == [
        "no traces match",
        "--flow order-to-csh: no such flow in the catalog; did you mean 'order-to-cash'? the "
        "catalog's flows: " + ", ".join(sorted(CATALOG.flows))]
    code, _, err = cli(capsys, "traces", "--flow", "order-to-cash", "--partner", "NOBODY",
                       "-c", config)
    assert (code, err) == (0, "no traces match\n")  # a known flow: nothing else to say


def test_reconcile_lists_what_did_not_arrive(capsys, config):
    code, out, _ = cli(capsys, "reconcile", "--flow", "order-to-cash", "--from", "kafka.published",
                       "--to", "erp.posted", "-c", config)
    assert code == 0
    assert "2 reached kafka.published, 1 also reached erp.posted, 1 did not" in out
    assert "correlation:c1" in out and "boomi.mapping_failed" in out
    assert "correlation:c2" not in out
    code, out, _ = cli(capsys, "reconcile", "--flow", "order-to-cash", "--from", "api.received",
                       "--to", "kafka.published", "--json", "-c", config)
    doc = json.loads(out)
    assert (doc["reached_from"], doc["reached_both"], doc["missing_count"]) == (3, 2, 1)
    assert doc["missing"][0]["ids"] == ["correlation:c3", "order:4713"]


@pytest.mark.parametrize("argv,expected", [
    (["--flow", "order-to-cahs", "--from", "api.received", "--to", "erp.posted"],
     "--flow order-to-cahs: no such flow in the catalog; did you mean 'order-to-cash'?"),
    (["--flow", "order-to-cash", "--from", "api.received", "--to", "sap.delivered"],
     "--to sap.delivered: flow order-to-cash has no such stage; did you mean 'api.received'? "
     "its stages: api.received, mule.failed, "),
    (["--flow", "order-to-cash", "--from", "api.recieved", "--to", "erp.posted"],
     "--from api.recieved: flow order-to-cash has no such stage; did you mean 'api.received'?"),
    (["--flow", "unknown", "--from", "a", "--to", "b"], "the catalog's flows: edi-850-inbound"),
])
def test_reconcile_refuses_names_the_catalog_does_not_have(capsys, config, argv, expected):
    code, out, err = cli(capsys, "reconcile", *argv, "-c", config)
    assert (code, out) == (2, "") and expected in err


def test_reconcile_without_a_catalog_says_how_to_give_one(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    bare = tmp_path / "m.yaml"
    bare.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'x.sqlite'}}}\n")
    code, _, err = cli(capsys, "reconcile", "--flow", "order-to-cash", "--from", "api.received",
                       "--to", "erp.posted", "-c", str(bare))
    assert code == 2 and "needs the flow catalog" in err and "-c FILE" in err


def test_the_readme_reconcile_example_runs_on_the_example_catalog(capsys, config):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("midwatch reconcile "))
    argv = line.split("#")[0].split()[1:]
    argv[argv.index("-c") + 1] = config
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    assert out.startswith("flow order-to-cash: since ")


def test_usage_errors_exit_2(capsys, config, tmp_path, monkeypatch):
    code, _, err = cli(capsys, "traces", "--since", "soon", "-c", config)
    assert code == 2 and "--since: expected a duration" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("store:\n  kind: sqlit\n")
    code, _, err = cli(capsys, "traces", "-c", str(bad))
    assert code == 2 and "bad.yaml:2" in err and "did you mean 'sqlite'" in err
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    code, _, err = cli(capsys, "trace", "4711")
    assert code == 2 and "no store at ./var/midwatch.sqlite" in err
    monkeypatch.setenv("MIDWATCH_CONFIG", config)
    assert cli(capsys, "trace", "4711")[0] == 0
