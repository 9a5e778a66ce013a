"""The Kafka input's static membership id: stable for one collector, distinct for two."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.config import load_config
from collector.inputs.kafka import Config as KafkaConfig
from collector.inputs.kafka import instance_id
from collector.yamlconf import ConfigError


def test_auto_id_is_stable_per_checkpoint_dir_and_distinct_across_them(tmp_path):
    cfg = KafkaConfig(name="orders topic/eu", topics=("orders",))
    one = instance_id(cfg, str(tmp_path / "a"))
    assert one == instance_id(cfg, str(tmp_path / "a"))
    assert one != instance_id(cfg, str(tmp_path / "b")), "two collectors on one host"
    assert re.fullmatch(r"midwatch-orders_topic_eu-[A-Za-z0-9._-]+-[0-9a-f]{8}", one)


def test_explicit_and_dynamic(tmp_path):
    assert instance_id(KafkaConfig(name="k", topics=("t",), group_instance_id="eu-1"), ".") == "eu-1"
    assert instance_id(KafkaConfig(name="k", topics=("t",), group_instance_id=None), ".") is None


def config(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text("kafka: {bootstrap: ['127.0.0.1:9092']}\n"
                 f"inputs:\n  - {{type: kafka, name: k, topics: [t]{extra}}}\n")
    return p


def test_config_keys(tmp_path):
    (inp,) = load_config(config(tmp_path, ", group_instance_id: none, session_timeout: 20s")).inputs
    assert (inp.group_instance_id, inp.session_timeout_ms) == (None, 20_000)
    (inp,) = load_config(config(tmp_path, "")).inputs
    assert (inp.group_instance_id, inp.session_timeout_ms) == ("auto", 10_000)


@pytest.mark.parametrize(("extra", "key"), [(", group_instance_id: 'a b'", "group_instance_id"),
                                            (", session_timeout: 1s", "session_timeout")])
def test_config_errors_name_the_key(tmp_path, extra, key):
    with pytest.raises(ConfigError) as err:
        load_config(config(tmp_path, extra))
    assert f"inputs.0.{key}" in str(err.value)
