"""The RabbitMQ probe against the real broker's management API: queues filled over AMQP,
a dead-letter queue, a consumer holding unacknowledged messages."""

from __future__ import annotations

import pytest
from probe_targets import amqp, wait_for_queue

from collector.config import config_from_doc
from collector.probes.config import load_probes
from collector.probes.runner import build, run_probe
from collector.yamlconf import loads

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def queues(unique_name):
    names = [f"{unique_name}.work", f"{unique_name}.work.dlq"]
    conn = amqp()
    channel = conn.channel()
    for name in names:
        channel.queue_declare(name)
    yield conn, channel, names
    cleanup = amqp()
    for name in names:
        cleanup.channel().queue_delete(name)
    cleanup.close()
    if conn.is_open:
        conn.close()


def _by_queue(events, metric: str) -> dict[str, int]:
    return {e.labels["rabbitmq.queue"]: e.probe_value for e in events
            if e.labels["probe.metric"] == metric}


def test_depth_consumers_unacked_dead_letters_and_growth(rabbitmq_url, queues, monkeypatch):
    conn, channel, (work, dlq) = queues
    for i in range(5):
        channel.basic_publish("", work, f"order {i}".encode())
    for i in range(2):
        channel.basic_publish("", dlq, f"poison {i}".encode())
    wait_for_queue(rabbitmq_url, work, messages=5)
    wait_for_queue(rabbitmq_url, dlq, messages=2)

    monkeypatch.setenv("RABBITMQ_PASSWORD", "guest")
    doc = loads(f"""
probes:
  - name: broker
    kind: rabbitmq
    url: {rabbitmq_url}
    username: guest
    password: ${{RABBITMQ_PASSWORD}}
    queues: [{work}, {dlq}]
""")
    [spec] = load_probes(config_from_doc(doc))
    item = build(spec)
    try:
        first = run_probe(item, 1_000)
        # Three more orders; a consumer takes two and does not acknowledge them yet.
        for i in range(3):
            channel.basic_publish("", work, f"late order {i}".encode())
        consumer = conn.channel()
        consumer.basic_qos(prefetch_count=2)
        consumer.basic_consume(work, lambda *a: None, auto_ack=False)
        wait_for_queue(rabbitmq_url, work, messages=8, messages_unacknowledged=2, consumers=1)
        second = run_probe(item, 31_000)
    finally:
        item.probe.close()

    assert _by_queue(first, "rabbitmq.queue_messages") == {work: 5, dlq: 2}
    assert _by_queue(first, "rabbitmq.queue_ready") == {work: 5, dlq: 2}
    assert _by_queue(first, "rabbitmq.queue_consumers") == {work: 0, dlq: 0}
    assert _by_queue(first, "rabbitmq.queue_growth") == {}
    dlq_flags = {e.labels["rabbitmq.queue"]: e.labels["rabbitmq.dlq"] for e in first
                 if e.labels["probe.metric"] == "rabbitmq.queue_messages"}
    assert dlq_flags == {work: "false", dlq: "true"}

    assert _by_queue(second, "rabbitmq.queue_messages") == {work: 8, dlq: 2}
    assert _by_queue(second, "rabbitmq.queue_ready") == {work: 6, dlq: 2}
    assert _by_queue(second, "rabbitmq.queue_unacked") == {work: 2, dlq: 0}
    assert _by_queue(second, "rabbitmq.queue_consumers") == {work: 1, dlq: 0}
    assert _by_queue(second, "rabbitmq.queue_growth") == {work: 3, dlq: 0}
    consumers = {e.labels["rabbitmq.queue"]: e.labels["rabbitmq.consumers"] for e in second
                 if e.labels["probe.metric"] == "rabbitmq.queue_growth"}
    assert consumers == {work: "1", dlq: "0"}
    assert set(_by_queue(second, "rabbitmq.queue_publish_per_min")) == {work, dlq}
    broker = [e for e in second if e.labels["probe.metric"] == "rabbitmq.messages"]
    assert len(broker) == 1 and broker[0].probe_value >= 10


def test_wrong_password_is_a_failed_probe(rabbitmq_url, monkeypatch):
    monkeypatch.setenv("RABBITMQ_PASSWORD", "not-the-password")
    doc = loads(f"""
probes:
  - {{name: broker, kind: rabbitmq, url: "{rabbitmq_url}", username: guest,
     password: "${{RABBITMQ_PASSWORD}}"}}
""")
    [spec] = load_probes(config_from_doc(doc))
    events = run_probe(build(spec), 1_000)
    assert [(e.labels["probe.metric"], e.outcome) for e in events] == [("probe.up", "failure")]
    assert "HTTP 401" in events[0].error_message
    assert "not-the-password" not in events[0].error_message
