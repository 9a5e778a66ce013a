"""Kafka: consumer group lag, end-offset growth (dead-letter topics flagged), under-replicated
partitions, through the admin API of the ``kafka:`` connection in the config.

Readings (labels ``kafka.group``, ``kafka.topic``, ``kafka.partition``, ``kafka.dlq``):
``kafka.consumer_lag`` per partition with a committed offset, ``kafka.group_lag`` per group and
topic (what rules page on), ``kafka.end_offset`` and ``kafka.topic_growth`` (new records since
the previous run) per topic, ``kafka.under_replicated`` per topic (partitions whose in-sync
replicas are fewer than their replicas).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from collector.config_values import Section
from collector.probes.config import regex
from collector.probes.reading import Growth, Reading

KEYS = ("groups", "topics", "dead_letter_topics", "dead_letter_pattern", "max_partitions",
        "max_groups")
PLATFORM = "kafka"
DEFAULT_INTERVAL = "30s"
DEFAULT_DLQ_PATTERN = r"(?i)(^|[._-])(dlq|dlt|dead[._-]?letters?)($|[._-])"


@dataclass(frozen=True, slots=True)
class Settings:
    client_options: dict
    groups: tuple[str, ...]
    topics: tuple[str, ...]
    dead_letter_topics: tuple[str, ...]
    dead_letter_pattern: re.Pattern
    max_partitions: int
    max_groups: int


def parse(s: Section, config) -> Settings:
    return Settings(
        client_options=config.kafka.client_options(),
        groups=s.str_list("groups"),
        topics=s.str_list("topics"),
        dead_letter_topics=s.str_list("dead_letter_topics"),
        dead_letter_pattern=regex(s, "dead_letter_pattern", DEFAULT_DLQ_PATTERN),
        max_partitions=s.number("max_partitions", 2000, minimum=1),
        max_groups=s.number("max_groups", 200, minimum=1),
    )


class Probe:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.target = ",".join(settings.client_options["bootstrap_servers"])
        self.growth = Growth()
        self._admin = None

    def is_dlq(self, topic: str) -> bool:
        s = self.settings
        return topic in s.dead_letter_topics or bool(s.dead_letter_pattern.search(topic))

    def run(self, timeout_s: float) -> list[Reading]:
        from kafka.admin import OffsetSpec

        admin = self._client(timeout_s)
        s = self.settings
        # Every group of the cluster when none are named, up to max_groups (A-Z): a cluster
        # with thousands of groups must not make one run unbounded.
        groups = s.groups or tuple(sorted(g["group_id"] for g in admin.list_groups()))[
            : s.max_groups]
        committed = admin.list_group_offsets({g: None for g in groups}) if groups else {}
        topics = set(s.topics) | set(s.dead_letter_topics)
        for offsets in committed.values():
            topics.update(tp.topic for tp in offsets)
        described = admin.describe_topics(sorted(topics)) if topics else []
        partitions = _partitions(described)[: s.max_partitions]
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions},
                                            timeout_ms=int(timeout_s * 1000))
        end_of = {tp: o.offset for tp, o in ends.items()}
        readings = self._lag(committed, end_of)
        readings += self._topics(described, end_of)
        return readings

    def _lag(self, committed: dict, end_of: dict) -> list[Reading]:
        out = []
        for group, offsets in sorted(committed.items()):
            per_topic: dict[str, int] = defaultdict(int)
            for tp, meta in sorted(offsets.items()):
                if tp not in end_of or meta.offset < 0:
                    continue
                lag = max(end_of[tp] - meta.offset, 0)
                per_topic[tp.topic] += lag
                out.append(Reading("kafka.consumer_lag", lag, {
                    "kafka.group": group, "kafka.topic": tp.topic,
                    "kafka.partition": str(tp.partition)}))
            out += [Reading("kafka.group_lag", lag, {"kafka.group": group, "kafka.topic": topic,
                                                    "kafka.dlq": _flag(self.is_dlq(topic))})
                    for topic, lag in sorted(per_topic.items())]
        return out

    def _topics(self, described: list[dict], end_of: dict) -> list[Reading]:
        end_per_topic: dict[str, int] = defaultdict(int)
        for tp, end in end_of.items():
            end_per_topic[tp.topic] += end
        out = []
        for topic in described:
            name = topic["name"]
            labels = {"kafka.topic": name, "kafka.dlq": _flag(self.is_dlq(name))}
            under = sum(1 for p in topic.get("partitions", [])
                        if len(p.get("isr_nodes", [])) < len(p.get("replica_nodes", [])))
            out.append(Reading("kafka.under_replicated", under, labels))
            if name not in end_per_topic:
                continue
            end = end_per_topic[name]
            out.append(Reading("kafka.end_offset", end, labels))
            grown = self.growth.delta(("end", name), end)
            if grown is not None:
                out.append(Reading("kafka.topic_growth", grown, labels))
        return out

    def _client(self, timeout_s: float):
        if self._admin is None:
            from kafka import KafkaAdminClient

            ms = int(timeout_s * 1000)
            # the probe's timeout bounds its bootstrap too, over kafka.bootstrap_timeout
            self._admin = KafkaAdminClient(**{**self.settings.client_options,
                                              "request_timeout_ms": ms, "bootstrap_timeout_ms": ms})
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


def _partitions(described: list[dict]) -> list:
    from kafka import TopicPartition

    return [TopicPartition(t["name"], p["partition_index"])
            for t in described if not t.get("error_code")
            for p in sorted(t.get("partitions", []), key=lambda p: p["partition_index"])]


def _flag(value: bool) -> str:
    return "true" if value else "false"
