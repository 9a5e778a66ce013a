"""Walk-through: an analyst given a partner's ISA13 (000001004) typed it into `midwatch trace`,
the API and the explorer and got "no trace" with the hint "a bare value matches any type",
which is not so for X12/EDIFACT control numbers: they are stored with sender and receiver.
A numeric ID that finds nothing now says which form to ask for, and that form finds it."""

from __future__ import annotations

import http.client
import time

import orjson

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.explorer.views import matches_page
from collector.metrics import Registry
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace
from midwatch.cli import main

ISA13 = "000001004"
HINT = (f"an X12/EDIFACT control number goes with its partners: SENDER>RECEIVER:{ISA13} (ISA13, "
        f"GS06 or UNB 0020), a transaction SENDER>RECEIVER:GS06:ST02 (UNB:UNH), e.g. "
        f"ACMECORP>GLOBEX:{ISA13}; `midwatch traces --partner NAME` lists a partner's messages")


def _store(path) -> SQLiteStore:
    s = SQLiteStore(str(path))
    s.setup()
    now = int(time.time() * 1000)
    s.upsert_traces([Trace(
        trace_key="x12.st:ACMECORP>GLOBEX:1004:0002",
        ids=["x12.st:ACMECORP>GLOBEX:1004:0002", "x12.gs:ACMECORP>GLOBEX:1004",
             f"x12.isa:ACMECORP>GLOBEX:{ISA13}"],
        started_ms=now - 600_000, last_seen_ms=now, flow="edi-850-outbound", partner="GLOBEX",
        status="rejected", hop_count=1,
        hops=[Hop("edi.850.sent", "", "edi", now - 600_000, "success", "e1")])])
    return s


def test_cli_names_the_partner_qualified_form_which_then_finds_it(tmp_path, capsys):
    _store(tmp_path / "m.sqlite").close()
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'm.sqlite'}}}\n")
    assert main(["trace", ISA13, "-c", str(cfg)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"midwatch trace: no trace has the ID '{ISA13}' (IDs are typed like order:4711; a bare "
        f"value matches any type; {HINT})")
    assert main(["trace", f"ACMECORP>GLOBEX:{ISA13}", "-c", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith("trace     x12.st:ACMECORP>GLOBEX:1004:0002\n")
    assert main(["trace", "nope", "-c", str(cfg)]) == 1  # not a number: no X12 hint
    assert "X12" not in capsys.readouterr().err


def test_api_404_carries_the_hint(tmp_path):
    store = _store(tmp_path / "m.sqlite")
    api = Api(ApiConfig(listen=("127.0.0.1", 0)), store, Registry())
    api.server.serve_in_thread("api-test")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
        conn.request("GET", f"/api/traces/{ISA13}")
        resp = conn.getresponse()
        assert resp.status == 404
        assert orjson.loads(resp.read()) == {
            "error": f"no trace knows the ID '{ISA13}' ({HINT})", "status": 404}
        conn.close()
    finally:
        api.close()
        store.close()


def test_explorer_not_found_page_carries_the_hint():
    html = str(matches_page(ISA13, []))
    assert "<h1>No trace found</h1>" in html
    assert "Hint: an X12/EDIFACT control number goes with its partners: SENDER&gt;RECEIVER:" in html
    assert "Hint:" not in str(matches_page("nope", []))
