"""An ID several traces hold finds all of them, in both stores, from the CLI and the API.

The interchange of tests/data/x12/purchase-orders.edi carries two purchase orders (PO-4711
and PO-4712, ST 0001 and 0002 of GS 1001 in ISA 000001001). Its ISA and GS control numbers
are label IDs (they must not join the two orders into one trace), so each order's trace holds
them; looking one up showed only one order. Fixture shape: tests/data/x12/SOURCES.md.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.metrics import Registry
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.base import Store
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace
from collector.yamlconf import load
from midwatch.cli import main

ROOT = Path(__file__).resolve().parents[2]
EDI = ROOT / "tests" / "data" / "x12" / "purchase-orders.edi"
EXAMPLE = ROOT / "deploy" / "flows.example.yaml"
ISA = "x12.isa:ACMEBUYER>WIDGETSUPPLY:000001001"
GS = "x12.gs:ACMEBUYER>WIDGETSUPPLY:1001"


def _events() -> list[Event]:
    ctx = ParseContext(now_ms=1, edi_own_ids=frozenset({"ACMEBUYER"}))
    with EDI.open("rb") as f:
        return [e for e in parse_stream(f, str(EDI), "x12", ctx) if isinstance(e, Event)]


@pytest.fixture(params=["sqlite", "elasticsearch"])
def filled(request, tmp_path) -> Iterator[tuple[Store, Path]]:
    """A store holding the correlated interchange, and a config file that reads it."""
    if request.param == "sqlite":
        store: Store = SQLiteStore(tmp_path / "m.sqlite")
        section = f"  kind: sqlite\n  sqlite: {{path: {tmp_path / 'm.sqlite'}}}\n"
    else:
        es, prefix = request.getfixturevalue("es"), request.getfixturevalue("es_index_prefix")
        store = ElasticsearchStore(client=es, index_prefix=prefix)
        url = request.getfixturevalue("es_url")
        section = f"  kind: elasticsearch\n  elasticsearch: {{url: '{url}', index_prefix: '{prefix}'}}\n"
    store.setup()
    events = _events()
    correlator = Correlator(build_catalog(load(EXAMPLE)), store)
    correlator.process(events)
    store.write_events(events)
    correlator.flush()
    store.refresh()
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"store:\n{section}")
    try:
        yield store, config
    finally:
        store.close()


def _orders(traces) -> list[str]:
    return sorted(i for t in traces for i in t.ids if i in ("order:PO-4711", "order:PO-4712"))


def test_an_envelope_id_finds_every_order_it_carried(filled):
    store, _ = filled
    for any_id in (ISA, GS, ISA.split(":", 1)[1]):  # typed, and bare (any type)
        found = store.find_traces(any_id)
        assert len(found) == 2 and _orders(found) == ["order:PO-4711", "order:PO-4712"], any_id
        assert found[0].last_seen_ms >= found[1].last_seen_ms
    # one order's own ID, and a trace key, still name one trace
    (po,) = store.find_traces("order:PO-4712")
    assert [t.trace_key for t in store.find_traces(po.trace_key)] == [po.trace_key]
    assert store.get_trace(ISA).trace_key in {t.trace_key for t in store.find_traces(ISA)}
    assert store.find_traces("x12.isa:NOBODY:1") == []
    assert len(store.find_traces(ISA, limit=1)) == 1


def test_cli_lists_every_trace_of_a_shared_id(filled, capsys):
    _, config = filled
    assert main(["trace", ISA, "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"2 traces have the ID {ISA}:\n")
    assert out.count("\ntrace     ") == 2 and "order:PO-4711" in out and "order:PO-4712" in out
    assert main(["trace", GS, "--json", "-c", str(config)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["id"], doc["count"], doc["truncated"]) == (GS, 2, False)
    assert all(m["hops"] for m in doc["matches"])
    # exactly one trace: the single-trace output, unchanged
    assert main(["trace", "order:PO-4712", "--json", "-c", str(config)]) == 0
    single = json.loads(capsys.readouterr().out)
    assert "order:PO-4712" in single["ids"] and "matches" not in single


def test_api_answers_300_with_links_for_a_shared_id_and_200_for_one(filled):
    store, _ = filled
    api = Api(ApiConfig(listen=("127.0.0.1", 0)), store, Registry())
    api.server.serve_in_thread("api-shared-ids")
    try:
        status, body = _get(api, "/api/traces/" + ISA.replace(">", "%3E"))
        assert status == 300, body
        doc = orjson.loads(body)
        assert (doc["id"], doc["count"], doc["truncated"]) == (ISA, 2, False)
        assert _orders_of_docs(doc["matches"]) == ["order:PO-4711", "order:PO-4712"]
        assert all("hops" not in m for m in doc["matches"])
        for match in doc["matches"]:
            status, body = _get(api, match["href"])
            assert status == 200 and orjson.loads(body)["trace_key"] == match["trace_key"]
        status, body = _get(api, "/api/traces/order:PO-4711")
        assert status == 200 and "hops" in orjson.loads(body)
    finally:
        api.close()


def _orders_of_docs(docs: list[dict]) -> list[str]:
    return sorted(i for d in docs for i in d["ids"] if i in ("order:PO-4711", "order:PO-4712"))


def _get(api: Api, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_trace_key_is_found_past_the_limit_of_later_messages_reusing_its_id(filled, capsys):
    """A partner hard-coding an ID reuses it every day: after ``limit`` later messages the
    first trace (whose key is the bare typed ID) fell off the list, and its permalink answered
    300 with a list not holding it; ``midwatch trace`` by that key gave the list."""
    store, config = filled
    day = 86_400_000
    traces = [Trace(trace_key="http.request:r-9" + (f"@day{n}" if n else ""),
                    ids=["http.request:r-9"], started_ms=n * day + 1, last_seen_ms=n * day + 1,
                    hop_count=1, hops=[Hop("api.received", "gw", "apigw", n * day + 1,
                                           "success", f"r9-{n}")]) for n in range(4)]
    store.upsert_traces(traces)
    store.refresh()
    found = [t.trace_key for t in store.find_traces("http.request:r-9", limit=2)]
    assert found == ["http.request:r-9@day3", "http.request:r-9@day2", "http.request:r-9"]
    assert [t.trace_key for t in store.find_traces("http.request:r-9", limit=4)] == [
        "http.request:r-9@day3", "http.request:r-9@day2", "http.request:r-9@day1",
        "http.request:r-9"]
    assert main(["trace", "http.request:r-9", "--json", "-c", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["trace_key"] == "http.request:r-9"
    assert main(["trace", "r-9", "-c", str(config)]) == 0
    assert capsys.readouterr().out.startswith("4 traces have the ID r-9:\n")
