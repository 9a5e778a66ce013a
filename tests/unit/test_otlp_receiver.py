"""The OTLP/HTTP receiver over real HTTP: encodings, limits and spec answers.

A small writer thread stands in for the pipeline: it takes chunks and acks them, which is what
lets the receiver answer 200.
"""

from __future__ import annotations

import gzip
import http.client
import threading

import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector.config import CollectorSettings
from collector.event import Event
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.otlp import Config as OtlpConfig
from collector.inputs.otlp import OtlpInput as Receiver

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def export_json() -> dict:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "order-api"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": TRACE_ID, "spanId": SPAN_ID, "name": "POST /orders", "kind": 2,
            "startTimeUnixNano": "1714557600000000000", "endTimeUnixNano": "1714557600250000000",
            "attributes": [{"key": "order.id", "value": {"stringValue": "4711"}}],
            "status": {"code": 1}}]}]}]}


class Writer:
    def __init__(self, ack: bool = True):
        self.queue = ChunkQueue(4)
        self.events: list[Event] = []
        self.ack = ack
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            chunk = self.queue.get(0.05)
            if chunk is not None:
                self.events.extend(i for i in chunk.items if isinstance(i, Event))
                if self.ack:
                    chunk.ack()

    def close(self) -> None:
        self._stop.set()
        self.thread.join()


def start(writer: Writer, **cfg) -> Receiver:
    receiver = Receiver(OtlpConfig(name="otlp", listen=("127.0.0.1", 0), **cfg),
                        parse_context(CollectorSettings(), frozenset(), None))
    threading.Thread(target=receiver.run, args=(writer.queue,), daemon=True).start()
    return receiver


@pytest.fixture
def writer():
    w = Writer()
    yield w
    w.close()


@pytest.fixture
def receiver(writer):
    r = start(writer, max_body_bytes=64 * 1024, max_decompressed_bytes=256 * 1024)
    yield r
    r.stop()
    r.close()


def post(receiver: Receiver, path: str, body: bytes, ctype: str, encoding: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type"), data


def test_json_export_becomes_events_and_an_empty_json_response(receiver, writer):
    status, ctype, body = post(receiver, "/v1/traces", orjson.dumps(export_json()),
                               "application/json")
    assert (status, ctype, orjson.loads(body)) == (200, "application/json", {})
    (ev,) = writer.events
    assert (ev.trace_id, ev.span_id, ev.service) == (TRACE_ID, SPAN_ID, "order-api")
    assert "order:4711" in ev.ids


def test_protobuf_gzip_export_gives_the_same_event_and_a_protobuf_response(receiver, writer):
    post(receiver, "/v1/traces", orjson.dumps(export_json()), "application/json")
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    request.resource_spans[0].resource.attributes.add(key="service.name").value.string_value = \
        "order-api"
    span.trace_id, span.span_id = bytes.fromhex(TRACE_ID), bytes.fromhex(SPAN_ID)
    span.name, span.kind = "POST /orders", 2
    span.start_time_unix_nano, span.end_time_unix_nano = 1714557600000000000, 1714557600250000000
    span.attributes.add(key="order.id").value.string_value = "4711"
    span.status.code = 1
    status, ctype, body = post(receiver, "/v1/traces", gzip.compress(request.SerializeToString()),
                               "application/x-protobuf", "gzip")
    assert (status, ctype) == (200, "application/x-protobuf")
    assert ExportTraceServiceResponse.FromString(body) == ExportTraceServiceResponse()
    json_ev, proto_ev = writer.events
    assert proto_ev.id == json_ev.id, "same span, same event ID, whatever the encoding"
    assert (proto_ev.trace_id, proto_ev.span_id) == (TRACE_ID, SPAN_ID)


def test_bad_payload_is_400_with_a_status_in_the_request_encoding(receiver):
    status, ctype, body = post(receiver, "/v1/traces", b"\xff\x00garbage", "application/x-protobuf")
    assert status == 400 and ctype == "application/x-protobuf"
    assert "ExportTraceServiceRequest" in Status.FromString(body).message
    status, _, body = post(receiver, "/v1/logs", b"{nope", "application/json")
    assert status == 400 and orjson.loads(body)["code"] == 3


def test_unknown_content_type_is_415(receiver):
    assert post(receiver, "/v1/traces", b"x", "text/plain")[0] == 415
    assert post(receiver, "/v1/traces", b"x", "application/json", "br")[0] == 415


def test_too_large_body_is_413(receiver):
    assert post(receiver, "/v1/traces", b" " * (65 * 1024), "application/json")[0] == 413


def test_decompression_bomb_is_413(receiver):
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))  # ~10 KiB on the wire
    assert len(bomb) < 64 * 1024
    status, _, body = post(receiver, "/v1/traces", bomb, "application/json", "gzip")
    assert status == 413 and b"expands beyond" in body


def test_metrics_signal_is_not_taken(receiver):
    assert post(receiver, "/v1/metrics", b"{}", "application/json")[0] == 404


def test_no_store_ack_in_time_is_503_retryable():
    writer = Writer(ack=False)
    receiver = start(writer, ack_timeout_ms=200)
    try:
        status, _, _ = post(receiver, "/v1/traces", orjson.dumps(export_json()), "application/json")
        assert status == 503
    finally:
        receiver.stop()
        receiver.close()
        writer.close()
