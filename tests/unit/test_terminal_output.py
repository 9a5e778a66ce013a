"""Control characters from log data never reach the terminal raw: `trace`, `traces`,
`reconcile`, `parse` dead letters and the probe table show them escaped; JSON stays exact."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import orjson
import pytest

from collector.store.sqlite import SQLiteStore
from collector.terminal import safe, safe_json
from collector.trace import Hop, Trace
from midwatch.cli import main

TITLE = "svc\x1b]0;PWNED\x07"  # sets the terminal title
CLEAR = "\x1b[2J"  # clears the screen
OVERWRITE = "line1\r FAKE success\x08\x00"
C1_CSI = "x\x9b31m"  # the one-byte CSI
BIDI = "evil\u202etxt.exe"
HOSTILE = [TITLE, CLEAR, OVERWRITE, C1_CSI, BIDI]


def raw_controls(text: str) -> list[str]:
    """Characters a terminal would act on, other than the newlines between rows."""
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0
            or c in "\u202e\u2028\u2029"]


def test_safe_escapes_every_control_and_nothing_else():
    assert safe(TITLE) == "svc\\x1b]0;PWNED\\x07"
    assert safe(OVERWRITE) == "line1\\r FAKE success\\x08\\x00"
    assert safe("a\tb\nc\x7f\x85\u2028") == "a\\tb\\nc\\x7f\\x85\\u2028"
    assert safe(C1_CSI) == "x\\x9b31m" and safe(BIDI) == "evil\\u202etxt.exe"
    plain = "Orders to ERP: Müller 4711 ✓ ‘quoted’ C:\\path"
    assert safe(plain) == plain
    assert all(not raw_controls(safe(chr(c))) for c in range(0x3000))


def test_safe_json_is_the_same_value_without_raw_c1():
    doc = {"raw": "".join(HOSTILE) + "\x7f ü"}
    line = safe_json(orjson.dumps(doc))
    assert orjson.loads(line) == doc
    assert not raw_controls(line.decode())


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("hostile")
    db = root / "midwatch.sqlite"
    store = SQLiteStore(db)
    store.setup()
    now = int(time.time() * 1000)
    store.upsert_traces([Trace(
        trace_key="order:" + TITLE, ids=["order:" + TITLE, "correlation:" + CLEAR],
        started_ms=now - 5000, last_seen_ms=now - 1000, flow="flow" + C1_CSI, partner=BIDI,
        status="failed", hop_count=2, stages=["api.received"],
        hops=[Hop("api.received", TITLE, "apigw", now - 5000, "success", "e1"),
              Hop(None, CLEAR, "mulesoft", now - 1000, "failure", "e2",
                  error_message=OVERWRITE)]),
        # reconcile names its flow from the catalog, which YAML keeps free of controls: the
        # hostile values of this one are its key and its hops' services.
        Trace(trace_key="order:2" + TITLE, ids=["order:2" + TITLE], started_ms=now - 4000,
              last_seen_ms=now - 2000, flow="orders", status="in_flight", hop_count=1,
              stages=["api.received"],
              hops=[Hop("api.received", TITLE, "apigw", now - 4000, "success", "e3")])])
    store.close()
    cfg = root / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {db}}}\n"
                   "flows:\n  flows:\n    - name: orders\n      stages:\n"
                   "        - {name: api.received, match: {platform: apigw}}\n"
                   "        - {name: done, terminal: success, match: {platform: sap}}\n")
    return str(cfg)


@pytest.mark.parametrize("argv", [
    ["trace", "4711"],  # replaced below by the hostile ID
    ["traces"],
    ["reconcile", "--flow", "orders", "--from", "api.received", "--to", "done"],
], ids=["trace", "traces", "reconcile"])
def test_tables_show_controls_escaped(capsys, config, argv):
    if argv[0] == "trace":
        argv = ["trace", "order:" + TITLE]
    assert main([*argv, "-c", config]) == 0
    out = capsys.readouterr().out
    assert not raw_controls(out), [c for c in raw_controls(out)]
    assert "svc\\x1b]0;PWNED\\x07" in out
    if argv[0] == "trace":
        assert "line1\\r FAKE success\\x08\\x00" in out and "\\x1b[2J" in out


def test_json_output_stays_exact(capsys, config):
    assert main(["trace", "order:" + TITLE, "-c", config, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trace_key"] == "order:" + TITLE and doc["partner"] == BIDI
    assert doc["hops"][1]["error_message"] == OVERWRITE


def test_parse_dead_letters_on_stderr_are_terminal_safe(tmp_path):
    log = tmp_path / "app.jsonl"
    bad = '{"not json ' + "".join(HOSTILE)
    log.write_text('{"message": "ok ' + C1_CSI + '", "timestamp": "2026-01-01T00:00:00Z"}\n'
                   + bad + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "midwatch", "parse", "--format", "json",
                           str(log)], capture_output=True, timeout=60)
    err, out = proc.stderr.decode(), proc.stdout.decode()
    assert err and not raw_controls(err) and not raw_controls(out)
    assert orjson.loads(err.splitlines()[0])["raw"] == bad  # the same value, escaped
    assert C1_CSI in orjson.loads(out.splitlines()[0])["message"]


def test_probe_table_escapes_remote_text(capsys):
    from midwatch.commands.probes import _table

    _table(("PROBE", "DETAIL"), [("web", "HTTP 500: " + TITLE + OVERWRITE)])
    out = capsys.readouterr().out
    assert not raw_controls(out) and "svc\\x1b]0;PWNED\\x07" in out


def test_text_log_lines_escape_data_but_keep_traceback_lines():
    import logging

    from collector.logsetup import TextFormatter

    try:
        raise ValueError("bad value " + CLEAR)
    except ValueError:
        record = logging.LogRecord("midwatch.test", logging.WARNING, __file__, 1,
                                   "store said %s", (TITLE,), sys.exc_info())
    record.client = OVERWRITE
    text = TextFormatter().format(record)
    assert not raw_controls(text)
    first, *traceback = text.split("\n")
    assert first == ("warning store said svc\\x1b]0;PWNED\\x07  "
                     "client=line1\\r FAKE success\\x08\\x00")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: bad value \\x1b[2J"
