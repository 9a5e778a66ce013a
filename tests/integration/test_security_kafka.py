"""The Kafka input through the broker's SASL_SSL listener (PLAIN), certificate verification on,
configured the way an operator would: CA file path, password from ${ENV}."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from test_kafka_input import first_chunk

from collector.config import CollectorSettings, load_config
from collector.event import Event
from collector.inputs.base import parse_context
from collector.inputs.kafka import KafkaInput
from collector.metrics import Registry


def _config(tmp_path: Path, secure_kafka, topic: str, ca: str) -> Path:
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"""
kafka:
  bootstrap: [{secure_kafka.url}]
  bootstrap_timeout: 5s  # a refused password is reported after it: not kafka-python's 30 s
  security:
    protocol: SASL_SSL
    ssl_cafile: {ca}
    sasl_mechanism: PLAIN
    sasl_plain_username: {secure_kafka.username}
    sasl_plain_password: ${{MW_TEST_KAFKA_PASSWORD}}
inputs:
  - {{type: kafka, name: secure, topics: [{topic}], group_id: {topic}-g}}
""")
    return path


def test_input_consumes_over_sasl_ssl_with_verification(tmp_path, monkeypatch, secure_kafka,
                                                        kafka_producer, kafka_topic):
    for i in range(3):
        kafka_producer.send(kafka_topic, key=f"order-{i}".encode(),
                            value=orjson.dumps({"status": "accepted", "order": i}))
    kafka_producer.flush(timeout=15)
    monkeypatch.setenv("MW_TEST_KAFKA_PASSWORD", secure_kafka.password)
    cfg = load_config(_config(tmp_path, secure_kafka, kafka_topic, secure_kafka.ca))
    opts = cfg.kafka.client_options()
    assert opts["security_protocol"] == "SASL_SSL" and opts["ssl_check_hostname"] is True
    inp = KafkaInput(cfg.inputs[0], cfg.kafka, parse_context(CollectorSettings(), frozenset(), None),
                     Registry())
    chunk = first_chunk(inp)
    events = [item for item in chunk.items if isinstance(item, Event)]
    assert len(events) == 3
    assert sorted(ev.message_id for ev in events) == [f"kafka.key:order-{i}" for i in range(3)]
    assert {ev.labels["kafka_topic"] for ev in events} == {kafka_topic}


@pytest.mark.timeout(90)
def test_wrong_password_consumes_nothing(tmp_path, monkeypatch, secure_kafka, kafka_producer,
                                         kafka_topic):
    kafka_producer.send(kafka_topic, value=b'{"status": "accepted"}')
    kafka_producer.flush(timeout=15)
    monkeypatch.setenv("MW_TEST_KAFKA_PASSWORD", "wrong-" + secure_kafka.password)
    cfg = load_config(_config(tmp_path, secure_kafka, kafka_topic, secure_kafka.ca))
    from kafka.errors import KafkaError

    with pytest.raises(KafkaError) as err:
        KafkaInput(cfg.inputs[0], cfg.kafka, parse_context(CollectorSettings(), frozenset(), None),
                   Registry())
    assert secure_kafka.password not in str(err.value)


@pytest.mark.timeout(120)
def test_doctor_checks_the_secured_listener_and_says_what_to_check(tmp_path, monkeypatch,
                                                                   secure_kafka, capsys):
    from midwatch.cli import main

    monkeypatch.setenv("MW_TEST_KAFKA_PASSWORD", secure_kafka.password)
    config = _config(tmp_path, secure_kafka, "unused", secure_kafka.ca)
    config.write_text(config.read_text().split("inputs:")[0])
    assert main(["doctor", "-c", str(config)]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("kafka")]
    assert row.split()[:2] == ["kafka", "OK"]

    monkeypatch.setenv("MW_TEST_KAFKA_PASSWORD", "wrong-" + secure_kafka.password)
    assert main(["doctor", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("kafka")]
    assert "FAIL" in row and "over SASL_SSL PLAIN" in row and "username/password" in row
    assert secure_kafka.password not in out
