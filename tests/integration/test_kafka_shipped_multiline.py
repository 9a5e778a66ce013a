"""Multi-line records across Kafka polls, on the real broker: a Mule error record shipped one
line a message (Filebeat documents) and split between two polls is one event, as the file
input makes it, and the committed offset stays at its first message until it is stored."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

from faults_support import wait_for
from test_kafka_input import committed

from collector.config import CollectorSettings, Kafka
from collector.event import Event
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.kafka import Config as KafkaConfig
from collector.inputs.kafka import KafkaInput as Consumer
from collector.metrics import Registry
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "mule" / "app-runtime.log"
# Lines 1-3 are records of one line; line 4 opens an error record of ten lines (4-13).
ERROR_LINE = 3  # 0-based: the message that opens the error record
SPLIT = 7  # the first poll ends after three lines of the error record


def filebeat(line: str, offset: int) -> bytes:
    return json.dumps({"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
                       "host": {"name": "mule-01"}, "input": {"type": "filestream"},
                       "log": {"offset": offset, "file": {"path": "/opt/mule/logs/app.log"}},
                       "message": line}).encode()


def messages() -> list[bytes]:
    out, offset = [], 0
    for raw in SAMPLE.read_bytes().splitlines(keepends=True):
        out.append(filebeat(raw.decode().rstrip("\r\n"), offset))
        offset += len(raw)
    return out


def key(e: Event):
    return (e.timestamp_ms, e.dataset, e.level, e.message, e.error_type, e.error_message,
            e.error_stack_trace, sorted(e.ids), e.original)


def test_a_stack_trace_split_over_two_polls_is_one_record(kafka_bootstrap, kafka_admin,
                                                         kafka_producer, kafka_topic):
    msgs = messages()
    bare = [e for e in parse_stream(io.BytesIO(SAMPLE.read_bytes()), "app.log", "auto",
                                    ParseContext(now_ms=1_709_900_000_000))
            if isinstance(e, Event)]
    error_record = [e for e in bare if e.level == "error"][0].original
    assert error_record.count("\n") >= SPLIT - ERROR_LINE, "the split is inside the record"
    group = f"{kafka_topic}-g"
    # Quiet for 5 s closes a record: more than this test takes to send the second part.
    inp = Consumer(KafkaConfig(name="k", topics=(kafka_topic,), group_id=group, format="auto",
                               multiline_timeout_ms=5000),
                   Kafka(bootstrap=(kafka_bootstrap,)),
                   parse_context(CollectorSettings(), frozenset(), None), Registry())
    queue = ChunkQueue(64)
    thread = threading.Thread(target=inp.run, args=(queue,), daemon=True)
    events: list[Event] = []
    read = 0

    def take() -> bool:
        """Ack every chunk as the store would; True once the first poll's records are read."""
        nonlocal read
        while (chunk := queue.get(0.05)) is not None:
            events.extend(i for i in chunk.items if isinstance(i, Event))
            read += chunk.records
            chunk.ack()
        return read

    try:
        for value in msgs[:SPLIT]:
            kafka_producer.send(kafka_topic, value=value)
        kafka_producer.flush(timeout=15)
        thread.start()
        wait_for(lambda: take() == SPLIT, 30, "the first part consumed")
        # The error record is open: the lines before it are stored, the commit stays at its
        # first message, whatever polls come meanwhile.
        wait_for(lambda: committed(kafka_admin, group, kafka_topic) == ERROR_LINE, 30,
                 "the commit at the open record's first message")
        take()
        assert [e.level for e in events] == ["info", "info", "warn"]

        for value in msgs[SPLIT:]:
            kafka_producer.send(kafka_topic, value=value)
        kafka_producer.flush(timeout=15)
        # The last record closes once its source is quiet (multiline_timeout), like a file's.
        wait_for(lambda: take() is not None and len(events) >= len(bare), 30, "every event")
        wait_for(lambda: committed(kafka_admin, group, kafka_topic) == len(msgs), 30,
                 "the commit after the last record was stored")
    finally:
        inp.stop()
        thread.join(timeout=10)
        inp.close()
    assert sorted(map(key, events)) == sorted(map(key, bare))
    assert [e.original for e in events if e.level == "error"][0] == error_record
    assert len({e.id for e in events}) == len(events)
