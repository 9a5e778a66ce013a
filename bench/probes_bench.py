"""Probe run time against the local services, each next to its ceiling: the bare calls the
probe has to make (same endpoints, same client), timed in the same run.

Run: ``.venv/bin/python bench/probes_bench.py [--queues 300] [--partitions 24] [--rounds 5]``
with RabbitMQ (MIDWATCH_RABBITMQ_URL, guest/guest) and Kafka (MIDWATCH_KAFKA_BOOTSTRAP) up.

What it answers: how much a probe adds on top of the unavoidable network calls (parsing,
growth memory, building readings and events), and that one run of a large broker stays far
inside the default 10 s timeout. Each figure is the best and the range of ``--rounds`` runs.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import urllib3
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic, OffsetSpec
from kafka.structs import OffsetAndMetadata

from collector.config import config_from_doc
from collector.probes.config import load_probes
from collector.probes.reading import to_event
from collector.probes.runner import build
from collector.yamlconf import loads

RABBIT = os.environ.get("MIDWATCH_RABBITMQ_URL", "http://127.0.0.1:15672").rstrip("/")
KAFKA = os.environ.get("MIDWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
GUEST = urllib3.make_headers(basic_auth="guest:guest")


def timed(fn, rounds: int) -> tuple[float, float, float]:
    """(best, worst, result size) in ms over ``rounds`` calls."""
    times, size = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        size = fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), max(times), size


def report(name: str, probe: tuple, ceiling: tuple) -> None:
    print(f"{name:<9} probe {probe[0]:7.1f} ms (range {probe[0]:.1f}-{probe[1]:.1f}, "
          f"{probe[2]} readings)  ceiling {ceiling[0]:7.1f} ms (range {ceiling[0]:.1f}-"
          f"{ceiling[1]:.1f})  overhead x{probe[0] / ceiling[0]:.2f}")


def rabbit(queues: int, rounds: int) -> None:
    http = urllib3.PoolManager()
    prefix = f"mwbench-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(queues)]
    for name in names:
        http.request("PUT", f"{RABBIT}/api/queues/%2F/{name}", headers=GUEST, body=b"{}")
    try:
        doc = loads(f"""
probes:
  - {{name: bench, kind: rabbitmq, url: "{RABBIT}", username: guest,
     password: "${{BENCH_RABBITMQ_PASSWORD}}", max_queues: {queues + 50}}}
""")
        item = build(load_probes(config_from_doc(doc))[0])

        def probe() -> int:
            return len([to_event(item.identity, r, 0) for r in item.probe.run(10)])

        def ceiling() -> int:
            a = http.request("GET", f"{RABBIT}/api/overview", headers=GUEST)
            b = http.request("GET", f"{RABBIT}/api/queues?page=1&page_size={queues + 50}"
                             "&sort=messages&sort_reverse=true", headers=GUEST)
            return len(a.data) + len(b.data)

        timed(probe, 1)  # warm the pool
        report("rabbitmq", timed(probe, rounds), timed(ceiling, rounds))
    finally:
        for name in names:
            http.request("DELETE", f"{RABBIT}/api/queues/%2F/{name}", headers=GUEST)


def kafka(partitions: int, rounds: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=KAFKA)
    topic, group = f"mwbench-{uuid.uuid4().hex[:6]}", f"mwbench-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, partitions, 1)])
    producer = KafkaProducer(bootstrap_servers=KAFKA)
    for i in range(partitions * 20):
        producer.send(topic, b"x", partition=i % partitions)
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(5, "", -1)
                     for p in range(partitions)})
    consumer.close()
    try:
        doc = loads(f'kafka: {{bootstrap: ["{KAFKA}"]}}\n'
                    f"probes: [{{name: bench, kind: kafka, groups: [{group}]}}]\n")
        item = build(load_probes(config_from_doc(doc))[0])

        def probe() -> int:
            return len([to_event(item.identity, r, 0) for r in item.probe.run(10)])

        def ceiling() -> int:
            committed = admin.list_group_offsets({group: None})
            described = admin.describe_topics([topic])
            ends = admin.list_partition_offsets(
                {TopicPartition(topic, p): OffsetSpec.LATEST for p in range(partitions)})
            return len(committed[group]) + len(described) + len(ends)

        timed(probe, 1)
        timed(ceiling, 1)
        report("kafka", timed(probe, rounds), timed(ceiling, rounds))
        item.probe.close()
    finally:
        admin.delete_groups([group])
        admin.delete_topics([topic])
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=300)
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("BENCH_RABBITMQ_PASSWORD", "guest")
    rabbit(args.queues, args.rounds)
    kafka(args.partitions, args.rounds)


if __name__ == "__main__":
    main()
