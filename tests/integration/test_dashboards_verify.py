"""Every panel replayed as Grafana's ES datasource would send it, against the real
Elasticsearch filled through the real store with a small realistic dataset."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass

import dashboard_dataset
import pytest

from collector.store.engines import engine_of_client
from dashboards.boards import BOARDS
from dashboards.datasources import by_uid
from dashboards.provision import board_docs
from dashboards.replay import TimeRange, board_variables, panels, replay_panel
from dashboards.settings import BoardSettings
from dashboards.verify import replay_boards
from midwatch.cli import main

# Every panel is replayed against each search engine (conftest ENGINE_FIXTURES); rendering
# PNGs (preview) is the same on all, so it runs on Elasticsearch 9 alone.
ENGINES = pytest.mark.parametrize("filled", ["elasticsearch", "es8", "opensearch", "opensearch3"],
                                  indirect=True)


@dataclass(frozen=True)
class Filled:
    prefix: str
    data: dashboard_dataset.Dataset
    es: object  # the engine's client
    url: str


@pytest.fixture(scope="module")
def filled(request, engine_store):
    """One dataset per engine for the module (writing it is the slow part), deleted afterwards."""
    name = getattr(request, "param", "elasticsearch")
    prefix = f"mwtest-{uuid.uuid4().hex[:12]}"
    data = dashboard_dataset.build(time.time_ns() // 1_000_000)
    with engine_store(name, prefix) as store:
        dashboard_dataset.write(store, data)
        client = request.getfixturevalue({"elasticsearch": "es"}.get(name, name))
        url = request.getfixturevalue({"elasticsearch": "es"}.get(name, name) + "_url")
        yield Filled(prefix, data, client, url)


def _results(es, prefix, data, chosen=None):
    """The boards as built for the engine (OpenSearch: the plugin flavor), replayed on it."""
    settings = BoardSettings(index_prefix=prefix, flavor=engine_of_client(es).product)
    return replay_boards(es, settings, TimeRange(data.start_ms, data.end_ms), chosen)


def _panel(results, slug, title):
    return next(r for r in results[slug] if r.title == title)


def _by_name(result):
    """{series or row name: value} for number frames and two-column tables."""
    out = {}
    for frame in result.frames:
        if len(frame.fields) == 1:
            out[frame.name] = frame.fields[0].values[0]
        else:
            out.update(zip(frame.fields[0].values, frame.fields[-1].values, strict=True))
    return out


@ENGINES
def test_every_panel_returns_data(filled):
    es, prefix, data = filled.es, filled.prefix, filled.data
    results = _results(es, prefix, data)
    statuses = {f"{r.board}/{r.title}": (r.status, r.error) for rs in results.values() for r in rs}
    assert len(statuses) == sum(len(rs) for rs in results.values()) >= 25
    assert {k: v for k, v in statuses.items() if v[0] != "OK"} == {}


@ENGINES
def test_panels_show_the_numbers_of_the_dataset(filled):
    es, prefix, data = filled.es, filled.prefix, filled.data
    expected = data.expected
    results = _results(es, prefix, data)

    failing = _by_name(_panel(results, "overview", "Top failing flows"))
    assert failing == {flow: float(n) for flow, n in expected["failures_by_flow"].items()}
    sla = _by_name(_panel(results, "overview", "SLA compliance by flow"))
    assert sla == pytest.approx(expected["sla_compliance"])
    assert sla["order-to-cash"] == pytest.approx(0.9)
    acks = _by_name(_panel(results, "partners", "997/999 acceptance rate by partner"))
    assert acks == pytest.approx({"ACME": 1.0, "GLOBEX": 0.7})

    per_minute = _panel(results, "overview", "Events per minute by flow")
    totals = {f.name: sum(f.fields[1].values) for f in per_minute.frames}
    assert totals == {flow: float(n) for flow, n in expected["events_by_flow"].items()}

    ratio = _panel(results, "overview", "Failure ratio by flow")
    assert {f.name for f in ratio.frames} == set(expected["events_by_flow"])
    assert max(v for f in ratio.frames for v in f.numbers()) <= 1.0

    stuck = _panel(results, "overview", "Stuck messages")
    assert sum(v for f in stuck.frames for v in f.numbers()) == expected["stuck"]
    rejected = _panel(results, "partners", "Rejected interchanges").frames[0]
    assert rejected.rows == expected["rejected"]
    assert set(rejected.column("Partner")) == {"GLOBEX"}
    fired = _panel(results, "alerts", "Alerts fired")
    assert sum(v for f in fired.frames for v in f.numbers()) == expected["alerts_fired"]
    broker = _panel(results, "platforms", "Broker log lines").frames[0]
    lines = " ".join(broker.column("message"))
    assert broker.rows == 8 and "rabbit@mq1" in lines and "AMQ9999E" in lines
    # the failure-ratio alert resolved; the overdue-ack alert is still firing
    firing = _panel(results, "alerts", "Firing now").frames[0]
    assert firing.column("Rule") == ["edi-ack-overdue"] and firing.column("Partner") == ["ACME"]

    dead = _panel(results, "overview", "Dead letters by reason")
    assert {f.name: sum(f.numbers()) for f in dead.frames} == expected["deadletters_by_kind"]
    assert sum(_panel(results, "overview", "Dead letters").frames[0].numbers()) == 5
    newest = _panel(results, "overview", "Newest dead letters").frames[0]
    assert newest.rows == 5 and newest.column("Time") == sorted(newest.column("Time"), reverse=True)
    assert set(newest.column("Input")) == {"mule-files", "edi-drop", ""}
    assert "/edi/in/globex-0912.x12:1" in newest.column("Source")


@ENGINES
def test_variables_narrow_the_panels(filled):
    es, prefix, data = filled.es, filled.prefix, filled.data
    results = _results(es, prefix, data, {"flow": ["customer-sync"], "message_id": '"order:1007"'})
    failing = _by_name(_panel(results, "overview", "Top failing flows"))
    assert failing == {"customer-sync": 2.0}
    traces = _panel(results, "traces", "Traces").frames[0]
    assert traces.rows == 0  # order 1007 is not a customer-sync trace
    hops = _panel(results, "traces", "Hops of the selected message").frames[0]
    assert hops.rows == 4 and set(hops.column("Stage")) == {
        "api.received", "mule.transformed", "kafka.published", "erp.delivered"}
    assert hops.column("Outcome").count("failure") == 1

    by_bare_id = _results(es, prefix, data, {"message_id": "1007"})
    trace = _panel(by_bare_id, "traces", "Traces").frames[0]
    assert trace.column("Trace") == ["order:1007"] and trace.column("Status") == ["failed"]


@ENGINES
def test_a_query_elasticsearch_refuses_is_an_error_naming_the_query(filled):
    es, prefix, data = filled.es, filled.prefix, filled.data
    settings = BoardSettings(index_prefix=prefix)
    board = board_docs(settings)["overview"]
    panel = {"title": "broken", "targets": [{
        "refId": "A", "datasource": {"type": "elasticsearch", "uid": "midwatch-events"},
        "query": "midwatch.flow:(", "metrics": [{"id": "1", "type": "count"}],
        "bucketAggs": [{"id": "2", "type": "date_histogram", "settings": {"interval": "auto"}}]}]}
    result = replay_panel(es, "overview", panel, by_uid(settings),
                          TimeRange(data.start_ms, data.end_ms), board_variables(board))
    assert result.status == "ERROR" and result.error.startswith("query A: ")


@ENGINES
def test_verify_cli_prints_one_line_per_panel(filled, capsys):
    es_url, prefix, data = filled.url, filled.prefix, filled.data
    args = ["dashboards", "verify", "--es", es_url, "--index-prefix", prefix,
            "--from", str(data.start_ms), "--to", str(data.end_ms)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    settings = BoardSettings(index_prefix=prefix)
    assert len(lines) == sum(len(panels(d)) for d in board_docs(settings).values())
    assert all(line.startswith("OK ") for line in lines), lines
    assert "OK overview/Failure ratio by flow" in lines

    empty = ["dashboards", "verify", "--es", es_url, "--index-prefix", f"{prefix}-none"]
    assert main(empty) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()} == {"EMPTY"}


def test_preview_writes_a_png_per_board(filled, tmp_path, capsys):
    es_url, prefix, data = filled.url, filled.prefix, filled.data
    assert main(["dashboards", "preview", "--es", es_url, "--index-prefix", prefix,
                 "--from", str(data.start_ms), "--to", str(data.end_ms),
                 "--out", str(tmp_path)]) == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted(f"board-{slug}.png" for slug in BOARDS)
    assert {"board-alerts.png", "board-overview.png", "board-partners.png",
            "board-platforms.png", "board-traces.png"} <= set(pngs)
    for name in pngs:
        raw = (tmp_path / name).read_bytes()
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 40_000


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("how", ["closed port", "https on a plain port"])
def test_verify_cli_says_what_to_change_when_the_engine_cannot_be_reached(es_url, capsys,
                                                                          how):
    """The client's nested exception reprs named neither the option nor the cause."""
    url, expected = {
        "closed port": (f"http://127.0.0.1:{_closed_port()}", "connection refused — is it "
                        "running?"),
        "https on a plain port": (f"https://{es_url.removeprefix('http://')}", "the node does "
                                  "not speak TLS on this port; use http:// in --es"),
    }[how]
    assert main(["dashboards", "verify", "--es", url, "--index-prefix", "walk2-none"]) == 2
    err = capsys.readouterr().err
    assert expected in err, err
    assert "Error(" not in err and "object at 0x" not in err, err
