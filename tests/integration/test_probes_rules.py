"""The probes rule pack fires against the real Elasticsearch from real probe results: a
lagging Kafka consumer group and a growing DLQ topic, a RabbitMQ queue nobody consumes and a
growing dead-letter queue, a certificate expiring in 5 days, one for the wrong hostname, and
an HTTP endpoint that is down.

The probes measure real services; only the time each run is stamped with is chosen (a run a
minute for 13 minutes), so "lag above 1000 for 10 minutes" needs no 10-minute wait.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata
from probe_targets import TestCA, amqp, free_port, http_server, server_context, wait_for_queue

from collector.config import config_from_doc
from collector.probes.config import load_probes
from collector.probes.runner import build, run_probe
from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.engine import Engine

pytestmark = pytest.mark.timeout(120)
MIN = 60_000


@pytest.fixture
def kafka_setup(kafka_admin, kafka_producer, kafka_bootstrap, unique_name):
    topic, dlq, group = unique_name, f"{unique_name}.DLQ", f"{unique_name}-consumer"
    kafka_admin.create_topics([NewTopic(topic, 1, 1), NewTopic(dlq, 1, 1)])
    for i in range(1100):
        kafka_producer.send(topic, f"order {i}".encode())
    kafka_producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                             enable_auto_commit=False)
    consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(50, "", -1)})  # 1050 behind
    consumer.close()
    yield topic, dlq, group
    kafka_admin.delete_groups([group])
    kafka_admin.delete_topics([topic, dlq])


@pytest.fixture
def rabbit_queues(unique_name):
    names = (f"{unique_name}.shipments", f"{unique_name}.shipments.dlq")
    conn = amqp()
    channel = conn.channel()
    for name in names:
        channel.queue_declare(name)
    yield channel, names
    for name in names:
        channel.queue_delete(name)
    conn.close()


def test_probe_rules_fire_on_real_probe_results(es, es_index_prefix, kafka_bootstrap,
                                                kafka_producer, kafka_setup, rabbitmq_url,
                                                rabbit_queues, tmp_path, monkeypatch):
    topic, dlq, group = kafka_setup
    channel, (shipments, dead) = rabbit_queues
    ca = TestCA(tmp_path)
    soon = ca.issue("soon", ["localhost", "127.0.0.1"], days=5)
    wrong = ca.issue("wrong", ["partner.example.com"], days=200)
    down_url = f"http://127.0.0.1:{free_port()}/health"
    monkeypatch.setenv("RABBITMQ_PASSWORD", "guest")
    ok = {"/": (200, b"ok", None)}
    with http_server(ok, server_context(soon)) as p_soon, \
            http_server(ok, server_context(wrong)) as p_wrong:
        doc = loads(f"""
kafka: {{bootstrap: ["{kafka_bootstrap}"]}}
probes:
  - {{name: lag, kind: kafka, groups: [{group}], topics: [{dlq}]}}
  - {{name: broker, kind: rabbitmq, url: "{rabbitmq_url}", username: guest,
     password: "${{RABBITMQ_PASSWORD}}", queues: [{shipments}, {dead}]}}
  - name: certs
    kind: tls
    ca_file: {ca.path}
    endpoints:
      - {{address: "127.0.0.1:{p_soon}", server_name: localhost}}
      - {{address: "127.0.0.1:{p_wrong}", server_name: localhost}}
  - {{name: orders-api, kind: http, url: "{down_url}", timeout: 2s}}
""")
        items = {s.name: build(s) for s in load_probes(config_from_doc(doc))}
        store = ElasticsearchStore(client=es, index_prefix=es_index_prefix)
        store.setup()
        now = int(time.time() * 1000)
        base = now - now % MIN - 13 * MIN
        try:
            for k in range(13):
                at = base + k * MIN
                if k in (10, 11):  # shipments grows with nobody consuming; so does the DLQ
                    for i in range(3):
                        channel.basic_publish("", shipments, f"shipment {k}-{i}".encode())
                    channel.basic_publish("", dead, f"poison {k}".encode())
                    wait_for_queue(rabbitmq_url, shipments, messages=3 * (k - 9))
                    wait_for_queue(rabbitmq_url, dead, messages=k - 9)
                if k == 10:
                    for i in range(3):
                        kafka_producer.send(dlq, f"failed {i}".encode())
                    kafka_producer.flush()
                due = ["lag"] + (["broker"] if k >= 9 else []) + \
                    (["orders-api"] if k >= 11 else []) + (["certs"] if k == 12 else [])
                for name in due:
                    result = store.write_events(run_probe(items[name], at))
                    assert not result.rejected, result.rejected
        finally:
            for item in items.values():
                item.probe.close()
    store.refresh()

    doc = loads("rules:\n  paths: ['pack:probes']\n  notify: [log]\n"
                "notifiers:\n  log: {type: webhook, url: 'http://127.0.0.1:9/unused'}\n")
    config = load_rules_config(doc)
    assert not config.errors, config.errors
    engine = Engine(config, store)
    first = engine.evaluate(base + MIN + MIN // 2)
    assert {(a.rule, a.state) for a in first.alerts} == {("kafka-consumer-lag", "pending")}
    last = engine.evaluate(base + 12 * MIN + MIN // 2)
    assert not last.failed_rules, last.failed_rules
    got = {(a.rule, a.state): a for a in last.alerts}
    assert set(got) == {
        ("kafka-consumer-lag", "firing"), ("kafka-dead-letter-topic-growing", "firing"),
        ("rabbitmq-dead-letter-queue-growing", "firing"),
        ("rabbitmq-queue-growing-without-consumers", "firing"),
        ("certificate-expiring-7d", "firing"), ("certificate-not-trusted", "firing"),
        ("endpoint-down", "firing"),
    }
    assert got[("kafka-consumer-lag", "firing")].labels == {
        "kafka_group": group, "kafka_topic": topic, "platform": "kafka"}
    assert got[("kafka-dead-letter-topic-growing", "firing")].labels["kafka_topic"] == dlq
    assert got[("rabbitmq-queue-growing-without-consumers", "firing")].labels[
        "rabbitmq_queue"] == shipments
    assert got[("rabbitmq-dead-letter-queue-growing", "firing")].labels["rabbitmq_queue"] == dead
    expiring = got[("certificate-expiring-7d", "firing")]
    assert expiring.labels["endpoint"] == f"127.0.0.1:{p_soon}"
    assert expiring.annotations["description"] == (
        f"subject CN=localhost, issuer CN=midwatch test CA, serial {soon.serial:x}")
    assert got[("certificate-not-trusted", "firing")].labels["tls_verify"] == "hostname_mismatch"
    assert got[("endpoint-down", "firing")].labels == {"service_name": "orders-api",
                                                      "endpoint": down_url}
