"""Times out of range never stop a process (issue 29, item 1): the ~200-byte OTLP request
with ``startTimeUnixNano`` 10^30 that killed `midwatch run`, the same span and a JSON line
with ``"timestamp": 100000000000000000000`` in a tailed file (a crash loop before), and
`midwatch parse` over that file (it stopped at the line). Real processes, a real SQLite
store; the events are stored on their ingest time, flagged, with the source value kept."""

from __future__ import annotations

import http.client
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from faults_support import MIDWATCH, free_port, wait_for

pytestmark = [pytest.mark.timeout(180)]

TRACE = "5b8efff798038103d269b633813fc60c"
HUGE = "1" + "0" * 30


def _span(span_id: str, start: str) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": TRACE, "spanId": span_id, "name": "POST /orders",
         "startTimeUnixNano": start, "endTimeUnixNano": start}]}]}]})


def _docs(db: Path) -> list[dict]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [orjson.loads(r[0]) for r in conn.execute("SELECT doc FROM events")]
        except sqlite3.OperationalError:
            return []


def _lines() -> bytes:
    return (b'{"timestamp": "2026-12-01T10:00:00Z", "message": "an ordinary line"}\n'
            + b'{"timestamp": 100000000000000000000, "message": "json line from the far future"}\n'
            + _span("1111111111111111", "9" * 4000) + b"\n")


def test_run_survives_hostile_times_over_otlp_and_in_a_tailed_file(tmp_path):
    log_file = tmp_path / "app.log"
    log_file.write_bytes(_lines())
    db = tmp_path / "store.sqlite"
    otlp_port = free_port()
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: {db}}}}}
collector:
  checkpoint_dir: {tmp_path / "checkpoints"}
  state_dir: {tmp_path / "var"}
  batch: {{flush_interval: 100ms}}
api: {{listen: 127.0.0.1:{free_port()}}}
inputs:
  - {{type: file, name: tail, paths: [{log_file}], format: auto}}
  - {{type: otlp, name: otlp, listen: 127.0.0.1:{otlp_port}}}
""")
    proc = subprocess.Popen([str(MIDWATCH), "run", "-c", str(config), "--log-level", "warning"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(_docs(db)) == 3, 60, "the three lines of the tailed file",
                 lambda: f"{proc.poll()=}")
        status = None
        deadline = time.monotonic() + 30
        while status is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", otlp_port, timeout=20)
                conn.request("POST", "/v1/traces", body=_span("2222222222222222", HUGE),
                             headers={"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the OTLP listener did not come up"
                time.sleep(0.2)
        assert status == 200
        wait_for(lambda: len(_docs(db)) == 4, 30, "the span sent over OTLP")
        assert proc.poll() is None, "midwatch run is still running"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, output[-3000:]
    assert "OverflowError" not in output and "Traceback" not in output
    docs = {d["message"]: d for d in _docs(db)}
    far = docs["json line from the far future"]
    assert far["labels"] == {"midwatch_time_raw": "100000000000000000000",
                             "midwatch_time_source": "ingest"}
    assert far["midwatch"]["timestamp_estimated"] is True
    assert far["@timestamp"] == far["event"]["ingested"]
    assert docs["an ordinary line"]["@timestamp"] == "2026-12-01T10:00:00.000Z"
    assert "labels" not in docs["an ordinary line"]
    by_span = {d["span"]["id"]: d for d in _docs(db) if d.get("span")}
    assert by_span["1111111111111111"]["labels"]["midwatch_time_raw"].startswith("9" * 64)
    assert by_span["2222222222222222"]["labels"]["midwatch_time_raw"] == HUGE
    assert [d["labels"]["midwatch_time_source"] for d in by_span.values()] == ["ingest"] * 2


def test_parse_reads_the_whole_file_with_hostile_times(tmp_path):
    log_file = tmp_path / "app.log"
    log_file.write_bytes(_lines())
    result = subprocess.run([str(MIDWATCH), "parse", str(log_file)], capture_output=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [d["message"] for d in docs] == ["an ordinary line", "json line from the far future",
                                            "POST /orders"]
    assert [d.get("labels", {}).get("midwatch_time_source") for d in docs] == [
        None, "ingest", "ingest"]
    assert result.stderr == b""
