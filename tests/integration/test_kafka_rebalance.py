"""A rebalance hands partitions over at the store's acknowledged offsets (issue 25), against the
real broker: a consumer that loses partitions first waits for the chunks it handed to the
writer, commits what was acknowledged, then lets go. So a second collector joining the group
does not read again what the first one stored (38-42% of the events were, in the scale-out
bench), and what was not acknowledged in time is read again, never skipped."""

from __future__ import annotations

import logging
import threading
import time

import orjson
import pytest
from kafka import TopicPartition

from collector.config import CollectorSettings, Kafka
from collector.event import Event
from collector.inputs import kafka as kafka_input
from collector.inputs.base import Chunk, ChunkQueue, parse_context
from collector.metrics import Registry

pytestmark = [pytest.mark.timeout(120)]

PARTITIONS = 2
FIRST = 40  # read by the first consumer alone
LATER = 20  # produced once both are in the group


class Member:
    """One KafkaInput on its own thread, its chunks taken off its queue by the test (the test
    plays the writer: it decides when a chunk is acknowledged)."""

    def __init__(self, bootstrap: str, topic: str, group: str, name: str):
        self.registry = Registry()
        cfg = kafka_input.Config(name=name, topics=(topic,), group_id=group,
                                 max_poll_records=10)
        self.input = kafka_input.KafkaInput(
            cfg, Kafka(bootstrap=(bootstrap,)),
            parse_context(CollectorSettings(), frozenset(), None), self.registry)
        self.name = name
        self.queue = ChunkQueue(64)
        self.chunks: list[Chunk] = []
        self.thread = threading.Thread(target=self.input.run, args=(self.queue,), daemon=True)
        self.thread.start()

    def take(self) -> list[Chunk]:
        """Chunks queued since the last call."""
        got = []
        while (chunk := self.queue.get(0)) is not None:
            got.append(chunk)
        self.chunks.extend(got)
        return got

    def metric(self, series: str) -> float:
        for line in self.registry.expose().splitlines():
            name, _, value = line.rpartition(" ")
            if name == series:
                return float(value)
        return 0.0

    def close(self) -> None:
        self.input.stop()
        self.thread.join(timeout=15)
        self.input.close()


def ids(chunks: list[Chunk]) -> list[str]:
    return [item.id for chunk in chunks for item in chunk.items if isinstance(item, Event)]


def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def produce(producer, topic: str, start: int, n: int) -> None:
    for i in range(start, start + n):
        producer.send(topic, partition=i % PARTITIONS,
                      value=orjson.dumps({"message": f"record {i}",
                                          "timestamp": "2024-05-01T10:00:00Z"}))
    producer.flush(timeout=15)


def committed(admin, group: str, topic: str) -> int:
    offsets = admin.list_group_offsets({group: None}).get(group, {})
    return sum(max(0, offsets[TopicPartition(topic, p)].offset)
               for p in range(PARTITIONS) if TopicPartition(topic, p) in offsets)


def read_alone(a: Member) -> list[Chunk]:
    """The first member reads every record produced so far, none acknowledged."""
    def done() -> bool:
        a.take()
        return sum(c.records for c in a.chunks) >= FIRST

    wait_until(done, 30, "the first member to read everything")
    return list(a.chunks)


@pytest.fixture
def topic(kafka_admin, unique_name):
    from kafka.admin import NewTopic

    kafka_admin.create_topics([NewTopic(unique_name, num_partitions=PARTITIONS,
                                        replication_factor=1)])
    yield unique_name
    kafka_admin.delete_topics([unique_name])


def test_revoked_partitions_are_committed_at_the_acknowledged_offsets(
        kafka_bootstrap, kafka_admin, kafka_producer, topic):
    group = f"{topic}-g"
    produce(kafka_producer, topic, 0, FIRST)
    a = Member(kafka_bootstrap, topic, group, "a")
    members = [a]
    try:
        first = read_alone(a)
        assert sum(c.records for c in first) == FIRST
        members.append(b := Member(kafka_bootstrap, topic, group, "b"))
        # The writer acknowledges while the hand-over waits: too late for the consumer's own
        # loop (it is inside the rebalance), in time for the revocation's commit.
        wait_until(lambda: a.metric('midwatch_input_kafka_revoking_partitions{input="a"}') > 0,
                   30, "the first member to start handing partitions over")
        for chunk in first:
            chunk.ack()
        wait_until(lambda: a.metric('midwatch_input_kafka_revocations_total'
                                    '{input="a",outcome="committed"}') >= 1,
                   30, "the hand-over to commit")
        # A partition the first member keeps (cooperative assignors) is committed by its loop.
        wait_until(lambda: committed(kafka_admin, group, topic) == FIRST, 10,
                   "every acknowledged offset committed")
        wait_until(lambda: b.metric('midwatch_input_kafka_assigned_partitions{input="b"}') > 0,
                   30, "the second member to get partitions")
        produce(kafka_producer, topic, FIRST, LATER)
        later: list[Chunk] = []

        def read_later() -> bool:
            later.extend(a.take() + b.take())
            return sum(c.records for c in later) >= LATER

        wait_until(read_later, 30, "the records produced after the rebalance")
        for chunk in later:
            chunk.ack()
        assert sum(c.records for c in later) == LATER, "nothing stored before was read again"
        assert not set(ids(later)) & set(ids(first))
        assert any(c in b.chunks for c in later), "the second member read its partition"
    finally:
        for m in members:
            m.close()
    assert committed(kafka_admin, group, topic) == FIRST + LATER


def test_unacknowledged_records_are_read_again_after_a_rebalance(
        kafka_bootstrap, kafka_admin, kafka_producer, topic, monkeypatch):
    monkeypatch.setattr(kafka_input, "REVOKE_WAIT_S", 0.5)
    group = f"{topic}-g"
    produce(kafka_producer, topic, 0, FIRST)
    a = Member(kafka_bootstrap, topic, group, "a")
    members = [a]
    try:
        first = read_alone(a)  # never acknowledged: the store did not take them
        members.append(b := Member(kafka_bootstrap, topic, group, "b"))
        wait_until(lambda: a.metric('midwatch_input_kafka_revocations_total'
                                    '{input="a",outcome="timed_out"}') >= 1,
                   30, "the hand-over to give up waiting")
        assert committed(kafka_admin, group, topic) == 0, "nothing the store did not take"
        # The partition that moved is read again by its new owner; one the first member keeps
        # goes on from its position (those chunks are still in its writer's hands).
        again: list[Chunk] = []

        def read_again() -> bool:
            again.extend(b.take())
            return sum(c.records for c in again) >= FIRST // PARTITIONS

        wait_until(read_again, 30, "the moved partition's unacknowledged records read again")
        assert sum(c.records for c in again) == FIRST // PARTITIONS
        assert set(ids(again)) <= set(ids(first)), "the same records, the same IDs"
        for chunk in first + again:
            chunk.ack()
    finally:
        for m in members:
            m.close()
    assert committed(kafka_admin, group, topic) == FIRST


def held_member(bootstrap: str, topic: str, group: str, instance: str):
    """A member the test polls itself: while it is not polled it does not rejoin, so a
    rebalance of the group waits for it (its heartbeats keep it in). Its instance id sorts
    after the inputs' (``midwatch-...``): the range assignor serves those first."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             group_instance_id=f"zz-{instance}", enable_auto_commit=False,
                             session_timeout_ms=10_000, heartbeat_interval_ms=1000)
    consumer.subscribe(topics=[topic])
    return consumer


def polled(*consumers) -> bool:
    """Poll each held member once (its rejoin goes on only while it is polled)."""
    for consumer in consumers:
        consumer.poll(timeout_ms=100)
    return True


def test_acknowledgements_refused_in_a_rebalance_are_committed_after_the_rejoin(
        kafka_bootstrap, kafka_admin, kafka_producer, topic, monkeypatch, caplog):
    """The writer acknowledges while the group rebalances, after the revocation gave up
    waiting: the commit is refused (the member is not part of a stable group), and the
    acknowledged offset of the partition the member keeps was dropped (the CI failure
    ``assert 20 == 40``), read again after the next restart. Now it is committed once the
    rejoin completed. A held member keeps the rebalance open while the acknowledgement
    comes, so the refusal happens every run."""
    monkeypatch.setattr(kafka_input, "REVOKE_WAIT_S", 0.2)
    caplog.set_level(logging.INFO, logger=kafka_input.log.name)
    group = f"{topic}-g"
    produce(kafka_producer, topic, 0, FIRST)
    a = Member(kafka_bootstrap, topic, group, "a")
    held = held_member(kafka_bootstrap, topic, group, "held")
    joining = held_member(kafka_bootstrap, topic, group, "joining")
    try:
        first = read_alone(a)  # acknowledged only once the second rebalance is under way
        wait_until(lambda: polled(held) and bool(held.assignment()),
                   30, "the held member to join (the first rebalance)")
        # The joining member starts a rebalance the held one does not take part in, until it
        # is polled again: the input gives up waiting for its writer and rejoins; its rejoin
        # stays open.
        wait_until(lambda: polled(joining)
                   and a.metric('midwatch_input_kafka_revocations_total'
                                '{input="a",outcome="timed_out"}') >= 2,
                   30, "the input to rejoin in the second rebalance")
        for chunk in first:
            chunk.ack()

        def refused() -> bool:
            return any(r.name == kafka_input.log.name and r.getMessage().startswith(
                "offset commit") and "in a rebalance" in r.getMessage() for r in caplog.records)

        wait_until(refused, 30, "the input's commit refused in the rebalance")
        assert committed(kafka_admin, group, topic) == 0
        # The held member rejoins, the rebalance completes; the input keeps the first
        # partition (the range assignor serves it first) and commits what was acknowledged.
        wait_until(lambda: polled(held, joining)
                   and committed(kafka_admin, group, topic) == FIRST // PARTITIONS,
                   30, "the acknowledged offset of the kept partition committed")
    finally:
        a.close()
        for consumer in (held, joining):
            consumer.close(autocommit=False)
    assert committed(kafka_admin, group, topic) == FIRST // PARTITIONS



def test_a_join_that_finished_longer_than_a_session_ago_is_not_taken_up(
        kafka_bootstrap, topic):
    """A rejoin finishes while the consumer thread is between polls, and the next poll comes
    later than the session timeout (a slow parse of a big poll): heartbeats are off during
    a join, so the broker evicted the member meanwhile and gave its partitions to the other
    one. That poll took up the finished join's assignment anyway (state stable, the old
    generation) and fetched partitions the other member owned, until the first heartbeat
    failed. Now it sends a new JoinGroup."""
    from kafka import KafkaConsumer
    from kafka.coordinator.base import MemberState

    group = f"{topic}-g"

    def member() -> KafkaConsumer:
        consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group,
                                 enable_auto_commit=False, session_timeout_ms=6000,
                                 heartbeat_interval_ms=1000)
        wait_until(lambda: bool(consumer.partitions_for_topic(topic)), 30,
                   "the new topic's metadata")  # else the range assignor assigns nothing
        consumer.subscribe(topics=[topic])
        return consumer

    slow = member()
    kafka_input._take_up_finished_joins(slow)
    coordinator = slow._coordinator
    held = held_member(kafka_bootstrap, topic, group, "held")
    wait_until(lambda: polled(slow, held) and bool(slow.assignment())
               and bool(held.assignment()), 30, "the first two members to join")
    other = member()
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [other.poll(timeout_ms=200)
                                              for _ in iter(stop.is_set, True)], daemon=True)
    thread.start()
    try:
        # The other member's join starts a rebalance that waits for the held member: the
        # slow member's polls leave its JoinGroup in flight. The held member's poll lets
        # the rebalance finish while the slow one is between polls.
        wait_until(lambda: polled(slow) and coordinator._join_task is not None, 30,
                   "the rejoin to be in flight")
        wait_until(lambda: polled(held) and coordinator._join_task.is_done, 30,
                   "the rejoin to finish")
        assert coordinator._join_task.succeeded()
        stale = coordinator._generation.generation_id
        quiet = time.monotonic() + 9  # longer than the session: the slow member is evicted
        wait_until(lambda: polled(held) and time.monotonic() > quiet, 30, "the session")
        slow.poll(timeout_ms=100)
        assert not (coordinator.state == MemberState.STABLE
                    and coordinator._generation.generation_id == stale), \
            "the stale assignment was taken up"
    finally:
        stop.set()
        thread.join(timeout=15)
        for consumer in (slow, other, held):
            consumer.close(autocommit=False)
