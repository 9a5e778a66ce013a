"""The Kafka broker restarted under a consuming collector: the consumer reconnects, resumes from
its committed offsets (neither re-reading the first half from the start nor skipping), and the
store holds every event exactly once with complete traces.

The broker is a private instance (MIDWATCH_INSTANCE=faults, ports 9392/9396); stopping it
disturbs no other test. The store is the shared Elasticsearch.
"""

from __future__ import annotations

import time

import pytest
from faults_support import (
    Collector,
    assert_exactly_once,
    assert_traces,
    count_events,
    kafka_config,
    message_lines,
    own_instance,
    services,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

INSTANCE = "faults"
KAFKA_ENV = {"MIDWATCH_KAFKA_PORT": "9392", "MIDWATCH_KAFKA_CONTROLLER_PORT": "9396"}
BOOTSTRAP = "127.0.0.1:9392"
MESSAGES = 2000
PARTITIONS = 3


@pytest.fixture(scope="module")
def own_kafka():
    with own_instance(INSTANCE, "kafka", KAFKA_ENV):
        yield BOOTSTRAP


def produce(bootstrap: str, topic: str, first: int, last: int) -> None:
    """Messages [first, last), their events spread over the partitions; returns once acked."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             request_timeout_ms=15000)
    try:
        n = 0
        for i in range(first, last):
            for line in message_lines(i):
                producer.send(topic, value=line, partition=n % PARTITIONS)
                n += 1
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def test_broker_restart_resumes_from_committed_offsets(tmp_path, own_kafka, es, es_url,
                                                       es_index_prefix, unique_name):
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"{unique_name}-broker"
    admin = KafkaAdminClient(bootstrap_servers=own_kafka)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    admin.close()
    prefix = f"{es_index_prefix}broker"
    config, port = kafka_config(tmp_path, es_url, prefix, own_kafka, topic, max_poll_records=200,
                                batch="{max_events: 300, flush_interval: 100ms}")
    collector = Collector(config, port, tmp_path / "collector.log")
    try:
        produce(own_kafka, topic, 0, MESSAGES // 2)
        wait_for(lambda: count_events(es, prefix) >= 3 * MESSAGES // 2, 90,
                 "the first half consumed and stored", collector.output)

        services(INSTANCE, KAFKA_ENV, "down", "kafka")
        time.sleep(3)  # the consumer sees the broker gone (and must not crash for it)
        assert collector.alive(), collector.output()
        services(INSTANCE, KAFKA_ENV, "up", "kafka")

        produce(own_kafka, topic, MESSAGES // 2, MESSAGES)
        wait_for(lambda: count_events(es, prefix) >= 3 * MESSAGES, 150, "every event",
                 collector.output)
        time.sleep(1.5)
        lag = collector.metrics().get('midwatch_input_kafka_lag_records{input="k"}')
        assert collector.stop() == 0, collector.output()
    finally:
        collector.close()
    assert_exactly_once(es, prefix, 3 * MESSAGES)
    assert_traces(es, prefix, MESSAGES)
    assert lag == 0
