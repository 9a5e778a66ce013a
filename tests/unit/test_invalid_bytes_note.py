"""Invalid UTF-8 from network inputs (``InvalidBytesNote``): said once a source, at most one
warning a second, memory capped, each record counted; and the Kafka, syslog and http inputs
say so (the syslog and http ones over a real socket)."""

from __future__ import annotations

import http.client
import logging
import socket
import threading

from kafka.consumer.fetcher import ConsumerRecord

from collector.config import CollectorSettings
from collector.inputs import decode_check
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.decode_check import InvalidBytesNote
from collector.inputs.http import Config as HttpConfig
from collector.inputs.http import HttpInput
from collector.inputs.kafka import to_record
from collector.inputs.syslog import Config as SyslogConfig
from collector.inputs.syslog import SyslogInput
from collector.metrics import Registry

LATIN1 = "café au lait".encode("latin-1")
COUNTER = 'midwatch_input_invalid_bytes_records_total{input="%s",type="%s"} %d'


def warned(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "not valid UTF-8" in r.getMessage()]


def test_once_a_source_rate_bounded_and_capped(monkeypatch, caplog):
    now = [0.0]
    metrics = Registry()
    note = InvalidBytesNote("k", "kafka", metrics, clock=lambda: now[0])
    for _ in range(3):
        note.decode(LATIN1, "t/0", lambda: {"topic": "t", "partition": 0})
    assert len(warned(caplog)) == 1, "once for the source"
    note.decode(LATIN1, "t/1", dict)
    assert len(warned(caplog)) == 1, "a second source within the gap waits"
    now[0] += decode_check.WARN_GAP_S
    note.decode(LATIN1, "t/1", dict)
    assert len(warned(caplog)) == 2, "and is said at its next record"
    assert COUNTER % ("k", "kafka", 5) in metrics.expose()
    monkeypatch.setattr(decode_check, "MAX_SOURCES", 3)
    for n in range(10):
        now[0] += decode_check.WARN_GAP_S
        note.decode(LATIN1, f"s/{n}", dict)
    assert len(note._said) == 3, "the sources remembered are capped"


def test_kafka_record_not_utf8_is_warned_naming_topic_partition_offset(caplog):
    note = InvalidBytesNote("orders", "kafka", Registry())
    msg = ConsumerRecord(topic="orders", partition=2, leader_epoch=0, offset=981, timestamp=0,
                         timestamp_type=0, key=None, value=LATIN1, headers=[], checksum=None,
                         serialized_key_size=-1, serialized_value_size=len(LATIN1),
                         serialized_header_size=-1)
    record = to_record(msg, 0, note)
    assert record.text == "caf\ufffd au lait"
    (said,) = warned(caplog)
    assert (said.input, said.topic, said.partition, said.offset) == ("orders", "orders", 2, 981)


def test_syslog_frame_not_utf8_is_warned_naming_the_peer(caplog):
    metrics = Registry()
    receiver = SyslogInput(SyslogConfig(name="sys", listen=("127.0.0.1", 0), protocol="tcp",
                                        parse_worker=False),
                           parse_context(CollectorSettings(), frozenset(), None), metrics)
    queue = ChunkQueue(8)
    threading.Thread(target=receiver.run, args=(queue,), daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", receiver.port)) as conn:
            conn.sendall(b"<134>1 2024-03-01T10:15:33.004Z h app - - - " + LATIN1 + b"\n")
            chunk = queue.get(10)
            assert chunk is not None
            chunk.ack and chunk.ack()
        (said,) = warned(caplog)
        assert said.input == "sys" and said.peer.startswith("127.0.0.1")
        assert COUNTER % ("sys", "syslog", 1) in metrics.expose()
    finally:
        receiver.stop()
        receiver.close()


def test_http_body_not_utf8_is_warned_naming_peer_and_path(caplog):
    metrics = Registry()
    receiver = HttpInput(HttpConfig(name="web", listen=("127.0.0.1", 0), parse_worker=False),
                         parse_context(CollectorSettings(), frozenset(), None), metrics)
    queue = ChunkQueue(8)
    threading.Thread(target=receiver.run, args=(queue,), daemon=True).start()

    def acker():
        chunk = queue.get(10)
        if chunk is not None and chunk.ack:
            chunk.ack()

    ack = threading.Thread(target=acker, daemon=True)
    ack.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=15)
        conn.request("POST", "/ingest", body=b'{"message": "' + LATIN1 + b'"}\n')
        assert conn.getresponse().status == 200
        conn.close()
        (said,) = warned(caplog)
        assert (said.input, said.peer, said.path) == ("web", "127.0.0.1", "/ingest")
        assert COUNTER % ("web", "http", 1) in metrics.expose()
    finally:
        receiver.stop()
        receiver.close()
