"""The Kafka probe against the real broker: a consumer group made to lag in the test, a
dead-letter topic that grows between two runs."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from collector.config import config_from_doc
from collector.probes.config import load_probes
from collector.probes.runner import build, run_probe
from collector.yamlconf import loads

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def topics(kafka_admin, unique_name):
    names = [unique_name, f"{unique_name}.DLQ"]
    kafka_admin.create_topics([NewTopic(names[0], num_partitions=2, replication_factor=1),
                               NewTopic(names[1], num_partitions=1, replication_factor=1)])
    yield names
    kafka_admin.delete_groups([f"{unique_name}-consumer"])
    kafka_admin.delete_topics(names)


def _produce(producer, topic: str, partition: int, n: int) -> None:
    for i in range(n):
        producer.send(topic, f"record {i}".encode(), partition=partition)
    producer.flush()


def _readings(events, metric: str) -> dict[tuple, int]:
    keys = ("kafka.group", "kafka.topic", "kafka.partition")
    return {tuple(e.labels.get(k) for k in keys if k in e.labels): e.probe_value
            for e in events if e.labels["probe.metric"] == metric}


def test_lagging_group_and_growing_dead_letter_topic(kafka_bootstrap, kafka_producer, topics):
    topic, dlq = topics
    group = f"{topic}-consumer"
    _produce(kafka_producer, topic, 0, 15)
    _produce(kafka_producer, topic, 1, 15)
    # A real member of the group reads and commits part of each partition, then leaves.
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(10, "", -1),
                     TopicPartition(topic, 1): OffsetAndMetadata(2, "", -1)})
    consumer.close()

    doc = loads(f"""
kafka: {{bootstrap: ["{kafka_bootstrap}"]}}
probes:
  - {{name: lag, kind: kafka, groups: [{group}], topics: [{dlq}]}}
""")
    [spec] = load_probes(config_from_doc(doc))
    assert spec.interval_ms == 30_000
    item = build(spec)
    try:
        first = run_probe(item, 1_000)
        _produce(kafka_producer, dlq, 0, 4)
        second = run_probe(item, 31_000)
    finally:
        item.probe.close()

    assert _readings(first, "probe.up") == {(): 1}
    assert _readings(first, "kafka.consumer_lag") == {(group, topic, "0"): 5,
                                                      (group, topic, "1"): 13}
    assert _readings(first, "kafka.group_lag") == {(group, topic): 18}
    assert _readings(first, "kafka.end_offset") == {(topic,): 30, (dlq,): 0}
    assert _readings(first, "kafka.under_replicated") == {(topic,): 0, (dlq,): 0}
    assert _readings(first, "kafka.topic_growth") == {}  # nothing to compare with yet
    assert _readings(second, "kafka.topic_growth") == {(topic,): 0, (dlq,): 4}
    flags = {e.labels["kafka.topic"]: e.labels["kafka.dlq"] for e in second
             if e.labels["probe.metric"] == "kafka.topic_growth"}
    assert flags == {topic: "false", dlq: "true"}
    assert {e.timestamp_ms for e in second} == {31_000}
    assert all(e.platform == "kafka" and e.service == "lag" for e in first + second)


def test_unreachable_broker_is_a_failed_probe():
    doc = loads("""
kafka: {bootstrap: ["127.0.0.1:1"]}
probes:
  - {name: lag, kind: kafka, timeout: 2s}
""")
    [spec] = load_probes(config_from_doc(doc))
    item = build(spec)
    events = run_probe(item, 5_000)
    assert [(e.labels["probe.metric"], e.probe_value, e.outcome) for e in events] == [
        ("probe.up", 0, "failure")]
    assert events[0].error_message
    # The probe gave up after its own timeout, not kafka-python's 30 s bootstrap default.
    assert events[0].duration_ns < 10 * 1_000_000_000
