"""A Kafka input's topics against the real broker: `doctor` names the missing ones, and the
consumer never creates them."""

from __future__ import annotations

import threading
import time

from collector.config import CollectorSettings, Kafka
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.kafka import Config as KafkaConfig
from collector.inputs.kafka import KafkaInput as Consumer
from collector.metrics import Registry
from midwatch.cli import main


def test_doctor_names_missing_topics_and_the_consumer_creates_none(
        tmp_path, capsys, kafka_bootstrap, kafka_admin, kafka_topic):
    missing = f"{kafka_topic}-typo"
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(
        f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n"
        f"kafka:\n  bootstrap: [{kafka_bootstrap}]\n"
        f"inputs:\n  - {{type: kafka, name: orders, topics: [{kafka_topic}, {missing}]}}\n"
        f"  - {{type: kafka, name: fine, topics: [{kafka_topic}]}}\n")
    assert main(["doctor", "-c", str(cfg)]) == 1
    rows = {line.split()[2]: line for line in capsys.readouterr().out.splitlines()
            if line.startswith("input")}
    assert rows["orders"].split()[1] == "FAIL"
    assert f"missing topics: {missing} " in rows["orders"]
    assert rows["fine"].split()[1] == "OK" and kafka_topic in rows["fine"]

    inp = Consumer(KafkaConfig(name="k", topics=(kafka_topic, missing), group_id=f"{missing}-g"),
                   Kafka(bootstrap=(kafka_bootstrap,)),
                   parse_context(CollectorSettings(), frozenset(), None), Registry(),
                   str(tmp_path))
    thread = threading.Thread(target=inp.run, args=(ChunkQueue(4),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5  # the consumer's metadata refreshes meanwhile
        while time.monotonic() < deadline:
            assert missing not in kafka_admin.list_topics(), "the consumer created the topic"
            time.sleep(0.5)
    finally:
        inp.stop()
        thread.join(10)
        inp.close()
        if missing in kafka_admin.list_topics():  # the failure above: leave no stray topic
            kafka_admin.delete_topics([missing])
