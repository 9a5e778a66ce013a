"""The Kafka input against the real broker: headers and key reach the parsers, and offsets
are committed only after the store acknowledged."""

from __future__ import annotations

import threading
import time

import es_support
import orjson
from kafka import TopicPartition
from service_runner import Running, es_config

from collector.config import CollectorSettings, Kafka
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue, parse_context
from collector.inputs.kafka import Config as KafkaConfig
from collector.inputs.kafka import KafkaInput as Consumer
from collector.metrics import Registry

N = 20


def produce(producer, topic: str, n: int = N) -> None:
    for i in range(n):
        producer.send(topic, key=f"order-{i}".encode(),
                      value=orjson.dumps({"status": "accepted", "timestamp": "2024-05-01T10:00:00Z"}),
                      headers=[("correlation-id", f"corr-{i}".encode()),
                               ("traceparent", b"00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-01")])
    producer.flush(timeout=15)


def committed(admin, group: str, topic: str) -> int | None:
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None and meta.offset >= 0 else None


def consumer(kafka_bootstrap: str, topic: str, group: str) -> Consumer:
    cfg = KafkaConfig(name="k", topics=(topic,), group_id=group)
    return Consumer(cfg, Kafka(bootstrap=(kafka_bootstrap,)),
                    parse_context(CollectorSettings(), frozenset(), None), Registry())


def first_chunk(inp: Consumer, timeout_s: float = 30) -> Chunk:
    q = ChunkQueue(4)
    thread = threading.Thread(target=inp.run, args=(q,), daemon=True)
    thread.start()
    chunk = q.get(timeout_s)
    inp.stop()
    thread.join(timeout=10)
    assert chunk is not None, "no records consumed"
    return chunk


def test_offsets_move_only_after_ack(kafka_bootstrap, kafka_admin, kafka_producer, kafka_topic):
    produce(kafka_producer, kafka_topic)
    group = f"{kafka_topic}-g"

    crashed = consumer(kafka_bootstrap, kafka_topic, group)
    chunk = first_chunk(crashed)
    first_ids = [i.id for i in chunk.items if isinstance(i, Event)]
    crashed.close()  # never acked: as if the store had been down
    assert committed(kafka_admin, group, kafka_topic) is None

    again = consumer(kafka_bootstrap, kafka_topic, group)
    chunk = first_chunk(again)
    replay_ids = [i.id for i in chunk.items if isinstance(i, Event)]
    assert replay_ids[: len(first_ids)] == first_ids[: len(replay_ids)], "same records, same IDs"
    chunk.ack()
    again.close()
    assert committed(kafka_admin, group, kafka_topic) == chunk.records


def test_records_with_headers_and_key_into_es(tmp_path, es, es_url, es_index_prefix,
                                             kafka_bootstrap, kafka_admin, kafka_producer,
                                             kafka_topic):
    produce(kafka_producer, kafka_topic)
    prefix = f"{es_index_prefix}mw"
    group = f"{kafka_topic}-svc"
    inputs = f"  - {{type: kafka, name: orders, topics: [{kafka_topic}], group_id: {group}}}"
    config = es_config(tmp_path, es_url, prefix, inputs,
                       extra=f"kafka: {{bootstrap: ['{kafka_bootstrap}']}}")
    run = Running(config)
    run.wait_for(lambda: run.indexed() >= N, what=f"{N} Kafka records indexed")
    assert run.finish() == 0
    assert committed(kafka_admin, group, kafka_topic) == N

    hits = es_support.search(es, index=f"{prefix}-events-*",
                     query={"term": {"midwatch.ids": "correlation:corr-7"}})["hits"]["hits"]
    (doc,) = [h["_source"] for h in hits]
    assert "kafka.key:order-7" in doc["midwatch"]["ids"]
    assert doc["trace"]["id"] == "5b8efff798038103d269b633813fc60c"
    assert doc["labels"]["kafka_topic"] == kafka_topic

    # A restart in the same group reads nothing again.
    produce(kafka_producer, kafka_topic, 1)
    second = Running(config)
    second.wait_for(lambda: second.indexed() >= 1, what="the one new record")
    time.sleep(0.5)
    assert second.finish() == 0 and second.indexed() == 1


def test_a_5_mb_edi_interchange_in_one_record_is_every_document(kafka_bootstrap, kafka_admin,
                                                                unique_name):
    """Gateways publish a whole interchange as one record (big 810 batches reach several
    MB, the topic's max.message.bytes raised for them): every invoice is an event, as read
    from a file in parts (tests/unit/test_edi_long_interchange.py)."""
    from kafka import KafkaProducer
    from kafka.admin import NewTopic

    from tests.unit.test_edi_long_interchange import x12_batch

    text = x12_batch(5000)
    assert len(text) > 5_000_000
    limit = str(8 * 1024 * 1024)
    kafka_admin.create_topics([NewTopic(unique_name, num_partitions=1, replication_factor=1,
                                        topic_configs={"max.message.bytes": limit})])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all",
                             max_request_size=int(limit), request_timeout_ms=30000)
    try:
        producer.send(unique_name, value=text.encode()).get(timeout=60)
        cfg = KafkaConfig(name="k", topics=(unique_name,), group_id=f"{unique_name}-g",
                          format="x12")
        inp = Consumer(cfg, Kafka(bootstrap=(kafka_bootstrap,)),
                       parse_context(CollectorSettings(), frozenset(), None), Registry())
        chunk = first_chunk(inp, timeout_s=90)
        inp.close()
    finally:
        producer.close(timeout=10)
        kafka_admin.delete_topics([unique_name])
    evs = [i for i in chunk.items if isinstance(i, Event)]
    assert [i for i in chunk.items if not isinstance(i, Event)] == []
    assert len(evs) == 5000 and len({e.id for e in evs}) == 5000
    assert {i for e in evs for i in e.ids if i.startswith("invoice:")} == {
        f"invoice:INV-{n}" for n in range(1, 5001)}
