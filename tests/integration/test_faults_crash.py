"""kill -9 of `midwatch run` mid-stream, then a restart: every event stored exactly once and
every trace right, for the file input (checkpoints) and the Kafka input (committed offsets).

Positions move only after the store acknowledged (pipeline -> ack -> commit), so the restart
re-reads at most the batches in flight at the kill, and their deterministic IDs overwrite.
"""

from __future__ import annotations

import threading
import time

import pytest
from faults_support import (
    Collector,
    assert_exactly_once,
    assert_traces,
    count_events,
    kafka_config,
    message_lines,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

MESSAGES = 3000  # 9000 events


class Feeder(threading.Thread):
    """Writes the workload in slices, so the collector is killed with input still coming.

    Past ``HELD_AT`` messages it waits for ``finish`` (called after the kill): on a loaded
    runner the collector took longer to store its first 600 events than the feeder to write
    everything (~9 s), and the kill landed after the input had ended (CI: "the kill must land
    mid-stream")."""

    HELD_AT = 1000

    def __init__(self, send, messages: int = MESSAGES, per_slice: int = 50, pause_s: float = 0.15):
        super().__init__(daemon=True)
        self.send, self.messages, self.per_slice, self.pause_s = send, messages, per_slice, pause_s
        self.error: BaseException | None = None
        self.resume = threading.Event()

    def run(self) -> None:
        try:
            for start in range(0, self.messages, self.per_slice):
                if start >= self.HELD_AT:
                    self.resume.wait(120)
                self.send([line for i in range(start, min(start + self.per_slice, self.messages))
                           for line in message_lines(i)])
                time.sleep(self.pause_s)
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def finish(self) -> None:
        self.resume.set()
        self.join(120)
        assert not self.is_alive() and self.error is None, self.error


def crash_and_recover(tmp_path, es, prefix: str, config, port: int, feeder: Feeder) -> None:
    first = Collector(config, port, tmp_path / "first.log")
    try:
        feeder.start()
        wait_for(lambda: count_events(es, prefix) >= 600, 90, "the first 600 events",
                 first.output)
        assert feeder.is_alive(), "the kill must land mid-stream"
        first.kill9()
    finally:
        first.close()
    stored_at_kill = count_events(es, prefix)

    second = Collector(config, port, tmp_path / "second.log")
    try:
        feeder.finish()
        wait_for(lambda: count_events(es, prefix) >= 3 * MESSAGES, 120, "every event",
                 second.output)
        time.sleep(1.5)  # anything still in flight would show up as a duplicate now
        assert second.stop() == 0, second.output()
    finally:
        second.close()
    assert 0 < stored_at_kill < 3 * MESSAGES
    assert_exactly_once(es, prefix, 3 * MESSAGES)
    assert_traces(es, prefix, MESSAGES)


def test_file_input_survives_kill_9(tmp_path, es, es_url, es_index_prefix):
    logs = tmp_path / "logs"
    logs.mkdir()
    target = logs / "app.log"
    target.touch()

    def append(lines: list[bytes]) -> None:
        with open(target, "ab") as fh:
            fh.write(b"\n".join(lines) + b"\n")

    prefix = f"{es_index_prefix}crashf"
    config, port = write_config(
        tmp_path, es_url, prefix,
        f"  - {{type: file, name: logs, format: json, paths: ['{logs}/*.log']}}")
    crash_and_recover(tmp_path, es, prefix, config, port, Feeder(append))


def test_kafka_input_survives_kill_9(tmp_path, es, es_url, es_index_prefix, kafka_bootstrap,
                                     kafka_admin, kafka_producer, unique_name):
    from kafka.admin import NewTopic

    topic = f"{unique_name}-crash"
    kafka_admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])

    def produce(lines: list[bytes]) -> None:
        for n, line in enumerate(lines):  # a message's three events on different partitions
            kafka_producer.send(topic, value=line, partition=n % 3)
        kafka_producer.flush(timeout=15)

    prefix = f"{es_index_prefix}crashk"
    config, port = kafka_config(tmp_path, es_url, prefix, kafka_bootstrap, topic)
    try:
        crash_and_recover(tmp_path, es, prefix, config, port, Feeder(produce))
    finally:
        kafka_admin.delete_topics([topic])
