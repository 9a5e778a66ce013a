"""Contract test (no Filebeat runs here): Filebeat's Elasticsearch output, replayed as its
documented bulk requests, into the http input of the real service and the real
Elasticsearch. A 200 means stored: the events are searchable right after the answer, with the
same content and traces as the file input makes of the file, and a retry overwrites."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import es_support
from service_runner import es_config
from shippers_support import Correlating, events_summary, traces

DATA = Path(__file__).parents[1] / "data"
SAMPLE = DATA / "mule" / "app-runtime.log"


def bulk_body(path: str) -> bytes:
    lines, offset = [], 0
    for raw in SAMPLE.read_bytes().splitlines(keepends=True):
        doc = {"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
               "host": {"name": "mule-01"}, "input": {"type": "filestream"},
               "log": {"offset": offset, "file": {"path": path}},
               "message": raw.decode().rstrip("\r\n")}
        lines += ['{"create":{"_index":"filebeat-8.15.0"}}', json.dumps(doc)]
        offset += len(raw)
    return ("\n".join(lines) + "\n").encode()


def post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/_bulk", body=body, headers={"Content-Type": "application/x-ndjson"})
    status = conn.getresponse().status
    conn.close()
    return status


def run_config(tmp_path: Path, name: str, es_url: str, prefix: str, inputs: str):
    folder = tmp_path / name
    folder.mkdir()
    return es_config(folder, es_url, prefix, inputs)


def store_the_file(tmp_path: Path, es_url: str, prefix: str) -> None:
    """What midwatch's own file input stores of the sample: the reference."""
    run = Correlating(run_config(tmp_path, "file", es_url, prefix,
                                 f"  - type: file\n    name: mule\n    paths: ['{SAMPLE}']\n"))
    run.wait_for(lambda: run.indexed() >= 6, what="the file's 6 events")
    assert run.finish() == 0


def test_filebeat_bulk_into_the_service_equals_the_file_input(tmp_path, es, es_url,
                                                               es_index_prefix):
    file_prefix, http_prefix = f"{es_index_prefix}file", f"{es_index_prefix}http"
    store_the_file(tmp_path, es_url, file_prefix)

    run = Correlating(run_config(tmp_path, "http", es_url, http_prefix,
                                 "  - type: http\n    name: shippers\n    listen: 127.0.0.1:0\n"))
    try:
        (receiver,) = run.service.inputs
        run.wait_for(lambda: receiver.out is not None, what="the http input listening")
        body = bulk_body("/opt/mule/logs/app-runtime.log")
        assert post(receiver.port, body) == 200
        # Answered 200 only after the store acknowledged: the events are there now.
        assert run.indexed() >= 6
        assert post(receiver.port, body) == 200  # Filebeat's retry of the same batch
    finally:
        assert run.finish() == 0
    assert events_summary(es, http_prefix) == events_summary(es, file_prefix)
    assert traces(es, http_prefix) == traces(es, file_prefix)


def originals(es, prefix: str) -> list[tuple]:
    hits = es_support.search(es, index=f"{prefix}-events-*", size=1000)["hits"]["hits"]
    return sorted((h["_source"]["@timestamp"], h["_source"]["event"].get("original"))
                  for h in hits)


def test_a_record_split_between_two_bulk_requests_is_one_event(tmp_path, es, es_url,
                                                              es_index_prefix):
    """Filebeat's batch ends inside the Mule error record (line 4 opens it, ten lines): the
    next request continues it. Each answer comes after the store has everything sent so far
    (the open record as it stood), and the closed record overwrites that: the same events
    and originals as the file input's, none left over."""
    file_prefix, http_prefix = f"{es_index_prefix}file", f"{es_index_prefix}split"
    store_the_file(tmp_path, es_url, file_prefix)

    run = Correlating(run_config(tmp_path, "http", es_url, http_prefix,
                                 "  - type: http\n    name: shippers\n    listen: 127.0.0.1:0\n"
                                 "    multiline_timeout: 30s\n    ack_timeout: 60s\n"))
    lines = bulk_body("/opt/mule/logs/app-runtime.log").splitlines(keepends=True)
    split = 2 * 7  # action and document lines: the first request ends after line 7
    try:
        (receiver,) = run.service.inputs
        run.wait_for(lambda: receiver.out is not None, what="the http input listening")
        assert post(receiver.port, b"".join(lines[:split])) == 200
        stored = originals(es, http_prefix)
        assert [o.count("\n") for _, o in stored] == [0, 0, 0, 3], "the open record, as it stood"
        assert post(receiver.port, b"".join(lines[split:])) == 200
    finally:
        assert run.finish() == 0
    assert originals(es, http_prefix) == originals(es, file_prefix)
    assert events_summary(es, http_prefix) == events_summary(es, file_prefix)
    assert traces(es, http_prefix) == traces(es, file_prefix)
