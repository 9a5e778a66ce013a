"""The shippers' HTTP input over real HTTP: NDJSON, the Elasticsearch bulk API, Splunk HEC;
tokens, limits, busy answers while the writer is full, and answers only after the store.

Contract tests: the request shapes are those of Filebeat's Elasticsearch output and of
Splunk HEC clients as documented (tests/data/shippers/SOURCES.md); no such client runs here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import threading
import time
from pathlib import Path

import orjson
import pytest
from test_otlp_receiver import Writer  # the stand-in pipeline of the OTLP receiver's tests

from collector.config import ApiToken, CollectorSettings
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue, parse_context
from collector.inputs.http import Config as HttpConfig
from collector.inputs.http import HttpInput as Receiver
from collector.metrics import Registry
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "shippers"
FILEBEAT = (SHIPPED / "filebeat.json").read_text().strip()
HEC = (SHIPPED / "splunk-hec.json").read_text().strip()
TOKEN = ApiToken("filebeat", hashlib.sha256(b"s3cret").digest(), frozenset({"ingest"}))


def start(queue: ChunkQueue, metrics: Registry | None = None, **cfg) -> Receiver:
    receiver = Receiver(HttpConfig(name="http", listen=("127.0.0.1", 0), **cfg),
                        parse_context(CollectorSettings(), frozenset(), None), metrics)
    threading.Thread(target=receiver.run, args=(queue,), daemon=True).start()
    return receiver


@pytest.fixture(params=[True, False], ids=["parse-worker", "in-process"])
def running(request):
    writer = Writer()
    receiver = start(writer.queue, tokens=(TOKEN,), max_body_bytes=64 * 1024,
                     parse_worker=request.param)
    yield receiver, writer
    receiver.stop()
    writer.close()
    receiver.close()


def call(receiver: Receiver, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=15)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (orjson.loads(data) if data else {})


BEARER = {"Authorization": "Bearer s3cret", "Content-Type": "application/x-ndjson"}


def test_elasticsearch_output_checks_the_version_then_bulk_indexes(running):
    receiver, writer = running
    status, info = call(receiver, "GET", "/")
    assert status == 200 and info["version"]["number"].startswith("8.")
    # Filebeat and Logstash then ask for the license, and give up unless it is active
    status, info = call(receiver, "GET", "/_license?human=false")
    assert status == 200 and info["license"]["status"] == "active"
    assert info["license"]["type"] == "basic" and info["license"]["uid"]
    assert call(receiver, "GET", "/_xpack/license")[1] == info  # Logstash 7's path
    body = "\n".join(['{"create":{"_index":"filebeat-8.15.0"}}', FILEBEAT,
                      '{"index":{"_id":"abc"}}', FILEBEAT.replace("1024", "2048"), ""]).encode()
    status, answer = call(receiver, "POST", "/filebeat-8.15.0/_bulk", gzip.compress(body),
                          {**BEARER, "Content-Encoding": "gzip"})
    assert status == 200 and answer["errors"] is False
    assert [next(iter(i)) for i in answer["items"]] == ["create", "index"]
    assert [e.dataset for e in writer.events] == ["mulesoft.runtime"] * 2
    assert all(e.ids == ["correlation:1-abc"] for e in writer.events)
    assert writer.events[0].id != writer.events[1].id


def test_ndjson_lines_and_a_retry_overwrites(running):
    receiver, writer = running
    body = ((SHIPPED / "vector.json").read_text().strip() + "\n" + FILEBEAT + "\n").encode()
    assert call(receiver, "POST", "/ingest", body, BEARER)[0] == 200
    assert call(receiver, "POST", "/ingest", body, BEARER)[0] == 200
    # Each request stores its records, the open ones as they stand; the retry closes and
    # stores them again: the same lines, the same two IDs (overwrites, no duplicates).
    first, second = writer.events[:2], writer.events[2:]
    assert len({e.id for e in first}) == 2
    assert {e.id for e in second} == {e.id for e in first}, "the same lines, the same IDs"


def test_splunk_hec_events_concatenated_with_the_splunk_scheme(running):
    receiver, writer = running
    assert call(receiver, "GET", "/services/collector/health") == (
        200, {"text": "HEC is healthy", "code": 17})
    body = (HEC + HEC.replace("1-abc", "2-def")).encode()  # no separator, as HEC allows
    status, answer = call(receiver, "POST", "/services/collector/event", body,
                          {"Authorization": "Splunk s3cret"})
    assert (status, answer) == (200, {"text": "Success", "code": 0})
    assert [e.ids for e in writer.events] == [["correlation:1-abc"], ["correlation:2-def"]]
    status, _ = call(receiver, "POST", "/services/collector/event", b'{"time": 1}',
                     {"Authorization": "Splunk s3cret"})
    assert status == 400


def test_tokens_and_limits(running):
    receiver, writer = running
    assert call(receiver, "POST", "/ingest", FILEBEAT.encode())[0] == 401
    assert call(receiver, "POST", "/ingest", FILEBEAT.encode(),
                {"Authorization": "Bearer wrong"})[0] == 401
    assert call(receiver, "POST", "/ingest", b"x" * (65 * 1024), BEARER)[0] == 413
    # gzip counts what it expands to, and the answer names this input's own key (the
    # OTLP input's max_decompressed_bytes is no key of the http input)
    status, answer = call(receiver, "POST", "/ingest", gzip.compress(b"x" * (65 * 1024)),
                          {**BEARER, "Content-Encoding": "gzip"})
    assert status == 413 and "(max_body_bytes)" in answer["error"], answer
    assert call(receiver, "POST", "/_bulk", b'{"index":{}}\n', BEARER)[0] == 400
    assert writer.events == []


def test_busy_while_the_writer_is_full_then_stored_on_retry():
    queue = ChunkQueue(1)
    queue.offer(Chunk("other", [], 0, 0, ack=lambda: None), 0)  # the writer's queue is full and not read
    receiver = start(queue, ack_timeout_ms=2000)
    try:
        status, _ = call(receiver, "POST", "/_bulk", f'{{"create":{{}}}}\n{FILEBEAT}\n'.encode())
        assert status == 429
        status, answer = call(receiver, "POST", "/services/collector/event", HEC.encode())
        assert (status, answer["code"]) == (503, 9), answer  # Splunk's "Server is busy"
        assert answer["text"].startswith("Server is busy")
        writer = Writer()  # the store catches up: a writer now reads the full queue
        writer.queue = queue
        try:
            deadline = time.monotonic() + 10
            status = 0
            while status != 200 and time.monotonic() < deadline:  # the shipper's retry
                status, _ = call(receiver, "POST", "/_bulk",
                                 f'{{"create":{{}}}}\n{FILEBEAT}\n'.encode())
            assert status == 200 and [e.ids for e in writer.events] == [["correlation:1-abc"]]
        finally:
            writer.close()
    finally:
        receiver.stop()
        receiver.close()


def test_no_store_ack_in_time_is_503():
    writer = Writer(ack=False)
    receiver = start(writer.queue, ack_timeout_ms=300)
    try:
        status, _ = call(receiver, "POST", "/ingest", (FILEBEAT + "\n").encode())
        assert status == 503 and len(writer.events) == 1, "taken by the writer, never acked"
    finally:
        receiver.stop()
        writer.close()
        receiver.close()


def test_bulk_answer_has_an_item_per_action():
    from collector.inputs.http_bodies import bulk

    runs, actions = bulk(b'{"delete":{"_id":"1"}}\n{"index":{}}\n' + json.dumps(
        {"message": "x"}).encode() + b"\n", "logs")
    assert actions == ["delete", "index"]
    assert [(r.source, r.texts, r.ids) for r in runs] == [("bulk:logs", [b'{"message": "x"}'],
                                                           None)]


def test_a_record_cut_by_the_batch_is_continued_by_the_next_request(running):
    """Filebeat's batch ends three lines into the Mule error record: the answer comes after
    the open record was stored as it stood, and the next request's lines complete it under
    the same event ID (the store overwrites); the file's framing, not two events."""
    receiver, writer = running
    sample = Path(__file__).resolve().parents[1] / "data" / "mule" / "app-runtime.log"
    docs, offset = [], 0
    for raw in sample.read_bytes().splitlines(keepends=True):
        doc = json.loads(FILEBEAT)
        doc["message"], doc["log"]["offset"] = raw.decode().rstrip("\r\n"), offset
        docs.append(f'{{"create":{{}}}}\n{json.dumps(doc)}\n')
        offset += len(raw)
    assert call(receiver, "POST", "/_bulk", "".join(docs[:7]).encode(), BEARER)[0] == 200
    open_error = [e for e in writer.events if e.level == "error"]
    assert [e.original.count("\n") for e in open_error] == [3]
    assert call(receiver, "POST", "/_bulk", "".join(docs[7:]).encode(), BEARER)[0] == 200
    closed = [e for e in writer.events if e.id == open_error[0].id][-1]
    from_file = [e for e in parse_stream(io.BytesIO(sample.read_bytes()), "f", "auto",
                                         ParseContext(now_ms=1)) if isinstance(e, Event)]
    assert closed.original == [e for e in from_file if e.level == "error"][0].original


@pytest.mark.parametrize("headers, status, answer", [
    # Walk-through: a HEC client without a token was told "bearer token required", which
    # sends a Splunk admin to the wrong header; Splunk's own codes and wording now.
    ({}, 401, {"text": "Token is required: Authorization: Splunk <token> is missing",
               "code": 2}),
    ({"Authorization": "Splunk "}, 401,
     {"text": "Token is required: Authorization: Splunk <token> is missing", "code": 2}),
    ({"Authorization": "Basic czNjcmV0"}, 401,
     {"text": "Invalid authorization: use Authorization: Splunk <token>", "code": 3}),
    ({"Authorization": "Splunk wrong"}, 403, {"text": "Invalid token: invalid token",
                                              "code": 4}),
])
def test_hec_token_errors_are_splunks(running, headers, status, answer):
    receiver, writer = running
    assert call(receiver, "POST", "/services/collector/event", HEC.encode(),
                headers) == (status, answer)
    assert writer.events == []


SPLUNK = {"Authorization": "Splunk s3cret"}


@pytest.mark.parametrize("body, status, code, event", [
    (b"", 400, 5, None),  # No data
    (b"  \n", 400, 5, None),
    (HEC.encode() + b' {"event": "x", "sourcetype": ', 400, 6, 1),  # Invalid data format
    (HEC.encode() + b'{"time": 1}', 400, 12, 1),  # Event field is required
    (b'{"event": "", "sourcetype": "mule"}', 400, 13, 0),  # Event field cannot be blank
    (b'{"event": null, "sourcetype": "mule"}', 400, 13, 0),
    (b"x" * (65 * 1024), 413, 6, None),  # beyond max_body_bytes
])
def test_hec_data_errors_are_splunks(running, body, status, code, event):
    """Splunk's answer to a refused batch: its code, its wording first, the index of the
    event at fault (``invalid-event-number``, from 0); nothing of the batch is stored."""
    receiver, writer = running
    got_status, answer = call(receiver, "POST", "/services/collector/event", body, SPLUNK)
    assert (got_status, answer["code"], answer.get("invalid-event-number")) == (
        status, code, event), answer
    assert set(answer) <= {"text", "code", "invalid-event-number"}
    assert answer["text"].startswith({5: "No data", 6: "Invalid data format",
                                      12: "Event field is required",
                                      13: "Event field cannot be blank"}[code])
    assert writer.events == []


def test_bulk_refuses_per_item_what_midwatch_does_not_perform(running):
    """A delete or an update is not performed (midwatch keeps log events): each gets
    Elasticsearch's item error and the answer says ``errors: true``, so the shipper does
    not believe it happened; the documents beside them are created as ever."""
    receiver, writer = running
    body = "\n".join(['{"delete":{"_id":"9"}}', '{"create":{}}', FILEBEAT,
                      '{"update":{"_id":"9"}}', '{"doc":{"message":"x"}}', ""]).encode()
    status, answer = call(receiver, "POST", "/logs/_bulk", body, BEARER)
    assert status == 200 and answer["errors"] is True
    delete, create, update = answer["items"]
    assert create == {"create": {"_index": "logs", "status": 201, "result": "created"}}
    for action, item in (("delete", delete), ("update", update)):
        assert list(item) == [action] and item[action]["status"] == 400
        assert "result" not in item[action]
        assert item[action]["error"]["type"] == "illegal_argument_exception"
        assert f"does not perform {action}" in item[action]["error"]["reason"]
    assert [e.ids for e in writer.events] == [["correlation:1-abc"]]
    # An action Elasticsearch does not know refuses the request, as Elasticsearch does.
    status, answer = call(receiver, "POST", "/_bulk", b'{"upsert":{}}\n{}\n', BEARER)
    assert status == 400 and "unknown action 'upsert'" in answer["error"], answer


@pytest.fixture
def counted():
    """A receiver parsing in its worker, with the registry its worker restarts count on."""
    writer = Writer()
    metrics = Registry()
    receiver = start(writer.queue, metrics)
    yield receiver, writer, metrics
    receiver.stop()
    writer.close()
    receiver.close()


def test_a_malformed_bulk_body_read_by_the_worker_is_refused_and_the_worker_kept(counted):
    """The parse worker reads a request's body (``http_bodies``): a malformed ``_bulk`` is
    the shipper's 400 naming the line, not a worker failure; the worker stays, no restart is
    counted, and a stack trace the request before left open is continued by the next."""
    receiver, writer, metrics = counted
    assert receiver.workers is not None
    worker = receiver.workers.worker
    head = json.loads(FILEBEAT)
    docs = []
    for offset, line in enumerate(["ERROR 2024-03-01 10:15:33,004 [main] x: boom",
                                   "java.lang.IllegalStateException: boom",
                                   "\tat a.B.c(B.java:1)",
                                   "INFO  2024-03-01 10:15:34,004 [main] x: after"]):
        head["message"], head["log"]["offset"] = line, offset * 100
        docs.append(f'{{"create":{{}}}}\n{json.dumps(head)}\n')
    assert call(receiver, "POST", "/_bulk", "".join(docs[:2]).encode())[0] == 200
    status, answer = call(receiver, "POST", "/_bulk", b'{"create":{}}\n{}\n[1]\n{}\n')
    assert status == 400 and "bulk line 3" in answer["error"], answer
    assert receiver.workers.worker is worker
    assert 'restarts_total{input="http"}' not in metrics.expose()
    assert call(receiver, "POST", "/_bulk", "".join(docs[2:]).encode())[0] == 200
    error = [e for e in writer.events if e.level == "error"]
    assert error[-1].original.count("\n") == 2 and error[0].id == error[-1].id


def test_a_dead_parse_worker_is_a_retry_and_a_new_one_takes_the_retry(counted):
    """The worker parsing the input's messages died: the shipper gets 503 with Retry-After
    (its retry status), nothing reached the store as if it had been read, and the retry is
    parsed by a new worker."""
    receiver, writer, metrics = counted
    assert receiver.workers is not None
    dead = receiver.workers.worker
    dead._proc.kill()
    dead._proc.wait()
    body = FILEBEAT.encode() + b"\n"
    status, answer = call(receiver, "POST", "/ingest", body)
    assert status == 503 and "parse worker" in answer["error"], answer
    assert writer.events == []
    assert call(receiver, "POST", "/ingest", body)[0] == 200
    assert receiver.workers.worker is not dead
    assert 'midwatch_input_parse_worker_restarts_total{input="http"} 1' in metrics.expose()
    assert [e.labels["shipper"] for e in writer.events] == ["filebeat"]
