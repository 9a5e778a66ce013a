"""No crash loops (issue 29): a record that kills `midwatch run` (or its parse worker) while
it is parsed is read again carefully after the first death, and dead-lettered after the
second, so the third start reads the rest of the file instead of dying forever. The same
for an OTLP request its exporter keeps retrying.

The death is real: a ``sitecustomize`` on PYTHONPATH (loaded by every interpreter of the
run, the parse worker too) makes the JSON parser (or the OTLP span mapping) end the process
with ``os._exit`` on a record holding POISON, as a crash in C code or the OOM killer would:
no exception, no cleanup, nothing acknowledged. The store is a real SQLite file.
"""

from __future__ import annotations

import http.client
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from faults_support import MIDWATCH, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

POISON = '''
import os

import collector.parsers.json_lines as json_lines
import collector.parsers.otlp_json as otlp_json

_parse = json_lines.parse
_span_event = otlp_json.span_event


def parse(record, ctx):
    if "POISON" in record.text:
        os._exit(70)  # a crash, not an exception: nothing after this runs
    return _parse(record, ctx)


def span_event(span, resource, ctx):
    if span.get("name") == "POISON":
        os._exit(70)
    return _span_event(span, resource, ctx)


json_lines.parse = parse
otlp_json.span_event = span_event
'''


def _lines(n: int, poison_at: int) -> bytes:
    out = []
    for i in range(n):
        text = "POISON" if i == poison_at else f"good {i}"
        out.append(orjson.dumps({"timestamp": f"2026-12-01T10:00:{i % 60:02d}Z",
                                 "message": text, "orderId": f"o-{i}"}))
    return b"\n".join(out) + b"\n"


def _poisoned_env(tmp_path: Path) -> dict[str, str]:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(POISON)
    paths = [str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


def _count(db: Path, table: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        except sqlite3.OperationalError:
            return 0


@pytest.mark.parametrize("parse_worker", [True, False])
def test_a_record_that_kills_the_process_is_dead_lettered_on_the_third_start(tmp_path,
                                                                            parse_worker):
    log_file = tmp_path / "app.log"
    log_file.write_bytes(_lines(400, poison_at=250))
    db = tmp_path / "store.sqlite"
    checkpoints = tmp_path / "checkpoints"
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: {db}}}}}
collector:
  checkpoint_dir: {checkpoints}
  state_dir: {tmp_path / "var"}
  batch: {{max_events: 50, flush_interval: 100ms}}
api: {{listen: 127.0.0.1:{free_port()}}}
inputs:
  - type: file
    name: tail
    paths: [{log_file}]
    format: json
    parse_worker: {str(parse_worker).lower()}
    read_chunk_bytes: 4096
""")
    env = _poisoned_env(tmp_path)
    note = checkpoints / "tail.parsing.json"

    def start() -> subprocess.Popen:
        return subprocess.Popen([str(MIDWATCH), "run", "-c", str(config), "--log-level",
                                 "warning"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    # 1st start: dies on the chunk holding the poison line, which is noted beforehand.
    first = start()
    out1 = first.communicate(timeout=60)[0].decode(errors="replace")
    assert first.returncode != 0, out1[-2000:]
    noted = orjson.loads(note.read_bytes())
    assert noted["narrow"] is False and noted["end"] - noted["start"] > 100
    assert _count(db, "deadletter") == 0

    # 2nd start: the range again, one line at a time; dies on the poison line itself.
    second = start()
    out2 = second.communicate(timeout=60)[0].decode(errors="replace")
    assert second.returncode != 0, out2[-2000:]
    assert "reading it again one line at a time" in out2
    narrowed = orjson.loads(note.read_bytes())
    assert narrowed["narrow"] is True
    poison_line = log_file.read_bytes()[narrowed["start"]:narrowed["end"]]
    assert b"POISON" in poison_line and poison_line.count(b"\n") == 1

    # 3rd start: the poison line is dead-lettered, everything else is stored, it runs on.
    third = start()
    try:
        wait_for(lambda: _count(db, "events") == 399 and _count(db, "deadletter") == 1, 60,
                 "399 events and one dead letter")
        assert third.poll() is None, "the third run keeps running"
        with sqlite3.connect(db) as conn:
            (doc,) = conn.execute("SELECT doc FROM deadletter").fetchone()
        dead = orjson.loads(doc)
        assert dead["reason"].startswith("crashed_process: ")
        assert "POISON" in dead["raw"] and dead["source"] == f"{log_file}:251"
        assert note.read_bytes() == b"", "nothing noted once the run is past it"
    finally:
        third.terminate()
        out3 = third.communicate(timeout=60)[0].decode(errors="replace")
    assert third.returncode == 0, out3[-2000:]


def _post(port: int, name: str, span_id: str) -> int | None:
    """POST one span; its status, or None when the connection died with the process."""
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": span_id, "name": name,
         "startTimeUnixNano": "1764000000000000000"}]}]}]})
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/v1/traces", body=body,
                         headers={"Content-Type": "application/json"})
            return conn.getresponse().status
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the OTLP listener did not come up"
            time.sleep(0.2)
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        finally:
            conn.close()


def test_an_otlp_request_that_kills_the_process_is_dead_lettered_on_its_third_try(tmp_path):
    db = tmp_path / "store.sqlite"
    port = free_port()
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: {db}}}}}
collector: {{checkpoint_dir: {tmp_path / "checkpoints"}, state_dir: {tmp_path / "var"}}}
api: {{listen: 127.0.0.1:{free_port()}}}
inputs:
  - {{type: otlp, name: otlp, listen: 127.0.0.1:{port}}}
""")
    env = _poisoned_env(tmp_path)
    note = tmp_path / "checkpoints" / "otlp.requests.json"

    def start() -> subprocess.Popen:
        return subprocess.Popen([str(MIDWATCH), "run", "-c", str(config), "--log-level",
                                 "warning"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    for attempt, mode in ((1, "crowd"), (2, "alone")):
        proc = start()
        assert _post(port, "POISON", "1111111111111111") is None, f"try {attempt}: it died"
        out = proc.communicate(timeout=60)[0].decode(errors="replace")
        assert proc.returncode == 70, out[-2000:]
        assert list(orjson.loads(note.read_bytes())["in_flight"].values()) == [mode]

    third = start()
    try:
        assert _post(port, "POISON", "1111111111111111") == 200, "dead-lettered and answered"
        assert _post(port, "fine", "2222222222222222") == 200
        wait_for(lambda: _count(db, "events") == 1 and _count(db, "deadletter") == 1, 30,
                 "the good span and the dead letter")
        with sqlite3.connect(db) as conn:
            (doc,) = conn.execute("SELECT doc FROM deadletter").fetchone()
        dead = orjson.loads(doc)
        assert dead["reason"].startswith("crashed_process: this OTLP request")
        assert '"name":"POISON"' in dead["raw"]
        wait_for(lambda: orjson.loads(note.read_bytes()) == {"suspects": {}, "in_flight": {}},
                 10, "an empty note once the answers are out")
        assert third.poll() is None
    finally:
        third.terminate()
        out = third.communicate(timeout=60)[0].decode(errors="replace")
    assert third.returncode == 0, out[-2000:]


def test_a_kafka_record_that_kills_the_process_is_dead_lettered_on_the_third_start(
        tmp_path, kafka_bootstrap, kafka_producer, kafka_topic):
    for i in range(30):
        text = "POISON" if i == 17 else f"good {i}"
        kafka_producer.send(kafka_topic, value=orjson.dumps(
            {"timestamp": "2026-12-01T10:00:00Z", "message": text, "orderId": f"o-{i}"}))
    kafka_producer.flush(timeout=15)
    db = tmp_path / "store.sqlite"
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: {db}}}}}
collector:
  checkpoint_dir: {tmp_path / "checkpoints"}
  state_dir: {tmp_path / "var"}
  batch: {{flush_interval: 100ms}}
api: {{listen: 127.0.0.1:{free_port()}}}
kafka: {{bootstrap: ["{kafka_bootstrap}"]}}
inputs:
  - {{type: kafka, name: k, topics: [{kafka_topic}], group_id: {kafka_topic}-g, format: json,
      start_at: earliest}}
""")
    env = _poisoned_env(tmp_path)
    note = tmp_path / "checkpoints" / "k.records.json"

    def start() -> subprocess.Popen:
        return subprocess.Popen([str(MIDWATCH), "run", "-c", str(config), "--log-level",
                                 "warning"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

    for attempt, expected in ((1, "crowd"), (2, "alone")):
        proc = start()
        out = proc.communicate(timeout=120)[0].decode(errors="replace")
        assert proc.returncode == 70, f"start {attempt}: {out[-2000:]}"
        in_flight = orjson.loads(note.read_bytes())["in_flight"]
        assert f"{kafka_topic}/0:17" in in_flight and expected in in_flight.values()
        if expected == "alone":
            assert in_flight == {f"{kafka_topic}/0:17": "alone"}

    third = start()
    try:
        wait_for(lambda: _count(db, "events") == 29 and _count(db, "deadletter") == 1, 90,
                 "29 events and one dead letter")
        with sqlite3.connect(db) as conn:
            (doc,) = conn.execute("SELECT doc FROM deadletter").fetchone()
        dead = orjson.loads(doc)
        assert dead["reason"].startswith("crashed_process: record 0:17")
        assert "POISON" in dead["raw"] and dead["source"] == f"{kafka_topic}:0:17"
        assert third.poll() is None
    finally:
        third.terminate()
        out = third.communicate(timeout=60)[0].decode(errors="replace")
    assert third.returncode == 0, out[-2000:]
