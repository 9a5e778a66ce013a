"""Consume Kafka topics in a consumer group; commit offsets only after the store acknowledged.

- ``enable_auto_commit=False``. A chunk is one ``poll``; its ack records, per partition, the
  offset after its last record, and the consumer thread commits those on its next loop
  (kafka-python consumers are not thread-safe, so only that thread touches the consumer).
  A crash replays from the last commit; deterministic event IDs (``<partition>:<offset>`` in
  the topic) make the replay overwrite, not duplicate.
- A rebalance does not make the new owner read again what this process stored
  (``_Handover``): when partitions are revoked, the consumer waits (up to ``REVOKE_WAIT_S``)
  for the store to acknowledge the chunks already handed to the writer, commits what was
  acknowledged, and only then gives the partitions up. Measured before (two processes, four
  partitions, one joining while the other read): 38-42% of the events were read twice. A
  chunk not acknowledged in time is not committed: its records are read again by the new
  owner (at-least-once holds; same event IDs). An acknowledgement that comes later, while
  the group is still rebalancing, is refused by the broker: it is kept and committed once the
  rejoin completed, for the partitions this member still owns (they were dropped: read again
  after the next restart). A rejoin that finished between two polls is taken up, not sent
  again (``_take_up_finished_joins``, a kafka-python 3.0.12 bug that made a second rebalance).
- Backpressure: when the writer's queue is full the consumer pauses its partitions and keeps
  polling (heartbeats, rebalances, commits) until there is room, then resumes them; it never
  blocks for long enough to be thrown out of the group.
- The records of a poll are noted beside the checkpoints while they are parsed
  (``collector.suspects``): one that kills the process is parsed alone after the restart,
  and dead-lettered after a second death, instead of a crash loop from the last commit.
- Each record becomes a ``Record`` with the value as text, the key and the headers decoded
  (UTF-8, invalid bytes replaced), so parsers see the correlation IDs that ride in headers.
- Static membership (KIP-345, ``group.instance.id``): a ``midwatch run`` restarted after a
  crash rejoins as the member it was and gets its partitions back at once; as a new dynamic
  member it read nothing until the broker gave up on the dead one's session (45 s measured).
  The id is the input's name, the host and a digest of the checkpoint directory, so two
  collectors of one group (scale-out, even on one host) never fence each other. A static
  member does not leave its group on shutdown (by design: a restart within the session keeps
  the assignment); ``session_timeout`` (10 s) bounds how long partitions of a collector that
  stays down wait for a rebalance. ``group_instance_id: none`` restores dynamic membership.
- Topics are never created by the consumer (``allow_auto_create_topics=False``): a typo in
  ``topics`` would otherwise create an empty topic and read it forever; missing topics are
  warned about at start and ``midwatch doctor`` names them. kafka-python 3.0.12 does not pass
  that option to the metadata of its connection manager, whose requests then still create
  the topic (seen against the test broker): ``_no_auto_create`` sets it there too.
- Kafka 4 removed old protocol versions (KIP-896). kafka-python 3.0 probes the broker version
  and works against the 4.4 test broker without a pin; ``kafka.api_version`` in the config
  pins it for brokers or proxies where the probe misbehaves (dpkp/kafka-python#2679).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass

from collector.config import Config as MidwatchConfig
from collector.config import Kafka as KafkaSettings
from collector.config_values import Section
from collector.envelopes import otel
from collector.event import DeadLetter, Record
from collector.inputs import format_keys
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.inputs.checkpoint import input_file
from collector.inputs.decode_check import InvalidBytesNote
from collector.metrics import Registry
from collector.parse import Output, ParseStats, dead_letter_raw
from collector.parsers._base import ParseContext
from collector.shipping import IDLE_CLOSE_S, Delivery, parse_delivery
from collector.suspects import ALONE, CROWD, SuspectNote

log = logging.getLogger("midwatch.inputs.kafka")

POLL_MS = 200
# Lag is read from the consumer's cached high-water marks: cheap, but no need every poll.
LAG_EVERY_S = 1.0
# Paused, the consumer offers its chunk again this often while it keeps polling.
RETRY_OFFER_S = 0.2
# Shutdown budget for the last commit and for closing (kafka-python would otherwise wait up to
# request_timeout_ms, 30 s, for a coordinator that is busy rebalancing or gone): a stop must
# end in under 5 s. An offset not committed in time is re-read, not lost (same event IDs).
CLOSE_TIMEOUT_MS = 2000
REJOIN_POLL_MS = 100  # a closing member's polls to finish a rebalance before its last commit
# A revocation waits this long for the store to acknowledge chunks in flight before it commits
# and lets the partitions go: a batch is stored in well under a second when the store keeps up
# (spooled when it is away); the group's other members wait for us meanwhile.
REVOKE_WAIT_S = 5.0
# How often the revocation looks whether the acknowledgements came (on kafka-python's IO loop).
REVOKE_POLL_S = 0.02


def instance_id(cfg: Config, scope: str) -> str | None:
    """The ``group.instance.id`` of this input (None: a dynamic member). ``scope`` tells two
    collectors on one host apart (their checkpoint directories)."""
    if cfg.group_instance_id != "auto":
        return cfg.group_instance_id
    digest = hashlib.sha256(os.path.abspath(scope).encode()).hexdigest()[:8]
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", cfg.name)[:160]
    return f"midwatch-{name}-{host}-{digest}"


def _no_auto_create(consumer) -> None:
    """Make ``allow_auto_create_topics=False`` hold for every metadata request (see the module
    doc); a kafka-python without that internal object has nothing to fix."""
    cluster = getattr(getattr(consumer, "_manager", None), "cluster", None)
    config = getattr(cluster, "config", None)
    if isinstance(config, dict):
        config["allow_auto_create_topics"] = False


def _take_up_finished_joins(consumer) -> None:
    """A rejoin that completed while no poll waited for it is taken up, not sent again.

    kafka-python 3.0.12 (``join_group_async``) keeps a JoinGroup/SyncGroup in flight across
    polls, but when it finished between two polls it sends a new JoinGroup and throws the
    assignment away. A poll returns when its timeout is spent, and a revocation that waits
    for acknowledgements spends it before the JoinGroup is even sent, so this happened after
    every such rebalance in which the SyncGroup answer came while the consumer thread was
    between polls: the group rebalanced once more, refusing this member's commits until the
    other members noticed (their next heartbeat, up to 3 s), longer than a close waits
    (the rebalance test's ``assert 20 == 40``: 7 of 40 runs under load). The finished
    result is handed to the next poll as a task of its own, if it is still current: it
    finished less than ``session_timeout_ms`` ago (heartbeats are off during a join, so
    after that the broker has evicted the member and moved the generation on; the stale
    assignment fetched partitions another member owned until the first heartbeat failed)
    and it joined a generation. Otherwise kafka-python sends a new JoinGroup. A
    kafka-python without these internals has nothing to fix."""
    coordinator = getattr(consumer, "_coordinator", None)
    join = getattr(coordinator, "join_group_async", None)
    if join is None or not hasattr(coordinator, "_join_task"):
        return
    session_s = coordinator.config["session_timeout_ms"] / 1000
    finished: dict = {}  # the join task a poll left in flight -> when it finished (monotonic)

    def current(task) -> bool:
        at = finished.get(task)
        return (at is not None and time.monotonic() - at < session_s
                and coordinator._generation.generation_id > 0)

    async def join_group_async(timeout_ms=None):
        task = coordinator._join_task
        if task is not None and task.is_done and task.succeeded() and current(task):
            assignment = task.value
            coordinator._join_task = coordinator._manager.call_soon(lambda: assignment)
        finished.clear()
        try:
            return await join(timeout_ms=timeout_ms)
        finally:
            if (task := coordinator._join_task) is not None:  # in flight: the next poll's
                task.add_both(lambda _, key=task: finished.setdefault(key, time.monotonic()))

    coordinator.join_group_async = join_group_async


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", errors="replace") if raw is not None else ""


def to_record(msg, ingested_ms: int, invalid: InvalidBytesNote) -> Record:
    """A kafka-python ``ConsumerRecord`` as the parsers see it; an OTLP protobuf export (the
    OTel Collector's Kafka exporter, ``encoding: otlp_proto``) as its OTLP/JSON text. A value
    not valid UTF-8 is said of once per topic/partition (``invalid``)."""
    value = msg.value or b""
    text = otel.proto_as_json(value) or invalid.decode(
        value, f"{msg.topic}/{msg.partition}",
        lambda: {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset})
    return Record(
        text=text, source=msg.topic, position=f"{msg.partition}:{msg.offset}",
        key=_text(msg.key) if msg.key is not None else None,
        headers={str(k): _text(v) for k, v in (msg.headers or [])},
        ingested_ms=ingested_ms,
    )


class KafkaInput:
    def __init__(self, cfg: Config, settings: KafkaSettings, ctx: ParseContext,
                 metrics: Registry, state_dir: str | None = None):
        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener

        AsyncConsumerRebalanceListener.register(_Handover)  # kafka is imported only when used
        self.name = cfg.name
        self._invalid = InvalidBytesNote(cfg.name, "kafka", metrics)
        # Records being parsed, noted beside the checkpoints: a record that kills the process
        # is not read again forever from the last commit (collector.suspects).
        self.note = (SuspectNote(input_file(state_dir, cfg.name, ".records.json"),
                                 2 * cfg.max_poll_records) if state_dir is not None else None)
        self.cfg = cfg
        self.ctx = ctx
        self.stats = ParseStats()
        self.delivery = Delivery(ctx, self.stats, cfg.format)  # sources known across polls
        self.consumer = KafkaConsumer(
            group_id=cfg.group_id, enable_auto_commit=False,
            auto_offset_reset=cfg.start_at, max_poll_records=cfg.max_poll_records,
            allow_auto_create_topics=False, group_instance_id=instance_id(cfg, state_dir or "."),
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=min(3000, cfg.session_timeout_ms // 3),
            **settings.client_options(),
        )
        _no_auto_create(self.consumer)
        _take_up_finished_joins(self.consumer)
        self._pending: dict = {}  # TopicPartition -> next offset, acked but not committed
        self._polled: dict = {}  # TopicPartition -> offset after the last record polled
        self._lock = threading.Lock()
        self._unacked = 0  # chunks handed to the writer and not acknowledged yet
        self._closing = False
        self._deferred = False  # a commit refused in a rebalance waits for the rejoin (logged once)
        self._revocations = metrics.counter(
            "midwatch_input_kafka_revocations_total",
            "Rebalances that took partitions away, by how the hand-over ended (committed: "
            "everything handed to the writer was stored and committed; timed_out: the new "
            "owner reads the unacknowledged rest again; lost: evicted, nothing committed).",
            ("input", "outcome"))
        self._revoking = metrics.gauge(
            "midwatch_input_kafka_revoking_partitions",
            "Partitions being handed over, waiting for the store's acknowledgements.",
            ("input",))
        self.consumer.subscribe(topics=list(cfg.topics), listener=_Handover(self))
        self._stop = threading.Event()
        self._lag = metrics.gauge("midwatch_input_kafka_lag_records",
                                  "Records in assigned partitions not yet consumed.", ("input",))
        self._partition_lag = metrics.gauge(
            "midwatch_input_kafka_partition_lag_records",
            "Records not yet consumed, per assigned partition.", ("input", "topic", "partition"))
        self._assigned = metrics.gauge("midwatch_input_kafka_assigned_partitions",
                                       "Partitions this consumer owns in its group.", ("input",))
        self._next_lag = 0.0

    # ---------------------------------------------------------------- thread body

    def run(self, out: ChunkQueue) -> None:
        self._warn_missing_topics()
        while not self._stop.is_set():
            batches = self.consumer.poll(timeout_ms=POLL_MS)
            self._commit_acked()
            if time.monotonic() >= self._next_lag:
                self._update_lag()
            chunk = self._chunk(batches) if batches else self._idle_chunk()
            if chunk is None:
                continue
            if not self._offer(out, chunk, 0) and not self._offer_paused(out, chunk):
                return

    def _offer(self, out: ChunkQueue, chunk: Chunk, timeout_s: float) -> bool:
        """Hand a chunk to the writer, counted until its ack (a revocation waits for those)."""
        with self._lock:
            self._unacked += 1
        if out.offer(chunk, timeout_s):
            return True
        with self._lock:
            self._unacked -= 1
        return False

    def _warn_missing_topics(self) -> None:
        from kafka.errors import KafkaError

        try:
            existing = self.consumer.topics()
        except KafkaError as exc:
            log.warning("cannot list the broker's topics", extra={"input": self.name,
                                                                 "error": str(exc)})
            return
        missing = [t for t in self.cfg.topics if t not in existing]
        if missing:
            log.warning("topics do not exist; nothing is read from them until they are created",
                        extra={"input": self.name, "topics": missing,
                               "hint": "create them, or correct the input's topics"})

    def _offer_paused(self, out: ChunkQueue, chunk: Chunk) -> bool:
        partitions = list(self.consumer.assignment())
        self.consumer.pause(*partitions)
        try:
            while not self._stop.is_set():
                if self._offer(out, chunk, RETRY_OFFER_S):
                    return True
                self.consumer.poll(timeout_ms=0)  # keeps the group membership alive
                self._commit_acked()
            return False
        finally:
            self.consumer.resume(*self.consumer.paused())

    def _chunk(self, batches: dict) -> Chunk:
        self.ctx.now_ms = now_ms()
        ends = {}
        records = nbytes = 0
        msgs = []
        for tp, polled in batches.items():
            msgs.extend(polled)
            nbytes += sum(len(msg.value or b"") for msg in polled)
            records += len(polled)
            self._polled[tp] = polled[-1].offset + 1
        if self.note is None:
            items = self._parse(msgs)
        else:
            items = self._parse_noted(msgs, self.note)
        items.extend(self.delivery.finish_idle(self.cfg.multiline_timeout_ms / 1000))  # sources gone quiet meanwhile
        ends = self._ends()
        return Chunk(self.name, items, records, nbytes, ack=lambda: self._ack(ends))

    def _idle_chunk(self) -> Chunk | None:
        """A poll without records: the records shipped sources left open, once they were
        idle for ``multiline_timeout`` (a stack trace split over two polls is joined meanwhile)."""
        if not any(self.delivery.held()):
            return None
        self.ctx.now_ms = now_ms()
        items = self.delivery.finish_idle(self.cfg.multiline_timeout_ms / 1000)
        if not items:
            return None
        ends = self._ends()
        return Chunk(self.name, items, 0, 0, ack=lambda: self._ack(ends))

    def _ends(self) -> dict:
        """Per assigned partition, the offset to commit once the chunk is stored: after the
        last record polled, or the first record of a record still held open (its lines are
        stored when it closes; a restart reads it again from its first message)."""
        from kafka.structs import TopicPartition

        assigned = self.consumer.assignment()
        for tp in [tp for tp in self._polled if tp not in assigned]:
            del self._polled[tp]  # revoked: its new owner commits it
        ends = dict(self._polled)
        for origin in self.delivery.held():
            if origin is None:
                continue
            partition, _, offset = origin.position.partition(":")
            tp = TopicPartition(origin.source, int(partition))
            if tp in ends:
                ends[tp] = min(ends[tp], int(offset))
        return ends

    def _parse(self, msgs: list) -> Output:
        # Shipper envelopes come off and a record's lines sent as consecutive messages are
        # framed together (collector.shipping), across polls: a record still open at the end
        # of this one stays open (``_ends`` keeps the commit at its first message).
        return parse_delivery([to_record(msg, self.ctx.now_ms, self._invalid) for msg in msgs],
                              self.ctx,
                              self.stats, self.cfg.format, replayable=True,
                              delivery=self.delivery, keep_open=True)

    def _parse_noted(self, msgs: list, note: SuspectNote) -> Output:
        """``_parse`` with the records noted first (see ``collector.suspects``): records in
        flight when the last run died are parsed one at a time, and one that was alone in
        flight then is dead-lettered (``crashed_process``) instead of parsed again."""
        items: Output = []
        crowd = []
        for msg in msgs:
            key = f"{msg.topic}/{msg.partition}:{msg.offset}"
            state = note.state(key) if note.suspects else None
            if state == ALONE:
                note.forget(key)
                items.append(self._crashed(msg))
            elif state == CROWD:
                note.enter([key], ALONE)
                items.extend(self._parse([msg]))
                note.leave([key])
            else:
                crowd.append(msg)
        keys = [f"{m.topic}/{m.partition}:{m.offset}" for m in crowd]
        note.enter(keys, CROWD)
        items.extend(self._parse(crowd))
        note.leave(keys)
        return items

    def _crashed(self, msg) -> DeadLetter:
        log.error("dead-lettering a record that stopped the collector twice",
                  extra={"input": self.name, "topic": msg.topic, "partition": msg.partition,
                         "offset": msg.offset})
        raw = dead_letter_raw(msg.value or b"", self.ctx)
        return DeadLetter(
            reason=f"crashed_process: record {msg.partition}:{msg.offset} stopped the "
                   f"collector twice while it was parsed; set aside so the partition goes on",
            source=f"{msg.topic}:{msg.partition}:{msg.offset}", line=0, raw=raw,
            ingested_ms=self.ctx.now_ms)

    def _update_lag(self) -> None:
        """Per-partition and total lag, and the assignment size (which moves on rebalance)."""
        from kafka.errors import KafkaError

        self._next_lag = time.monotonic() + LAG_EVERY_S
        assignment = self.consumer.assignment()
        lags: dict[tuple[str, ...], float] = {}
        for tp in assignment:
            high = self.consumer.highwater(tp)  # known once a fetch of it returned
            try:
                pos = self.consumer.position(tp, timeout_ms=100) if high is not None else None
            except KafkaError:  # a rebalance or broker restart in between: next round
                pos = None
            if pos is not None:
                lags[(tp.topic, str(tp.partition))] = max(0, high - pos)
        self._partition_lag.replace(self.name, lags)
        self._lag.set(sum(lags.values()), self.name)
        self._assigned.set(len(assignment), self.name)

    # ---------------------------------------------------------------- acknowledgements

    def _ack(self, ends: dict) -> None:
        with self._lock:
            self._pending.update(ends)
            self._unacked -= 1

    def _commit_acked(self, timeout_ms: int | None = None) -> bool:
        """Commit what the store acknowledged on partitions this member owns; True when the
        group was rebalancing (nothing committed, the offsets kept for after the rejoin)."""
        from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata

        assigned = self.consumer.assignment()
        with self._lock:
            pending, self._pending = self._pending, {}
        # An ack that came after its partition was handed over: the new owner commits it
        # (committing here could move the new owner's offset back).
        pending = {tp: offset for tp, offset in pending.items() if tp in assigned}
        if not pending:
            return False
        try:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in pending.items()},
                timeout_ms=timeout_ms)
        except (RebalanceInProgressError, CommitFailedError):  # the broker's answer is the latter
            # Refused while the group rebalances (an ack that came after the revocation had
            # given up waiting, or while the rejoin was under way): kept, and committed by the
            # next loop once the rejoin completed, for the partitions this member still owns
            # (the revocation commits those it gives up; lost ones are forgotten).
            if not self._deferred:
                log.info("offset commit refused in a rebalance; kept for the commit after the "
                         "rejoin", extra={"input": self.name})
            self._deferred = True
            self._keep(pending)
            return True
        except KafkaError as exc:
            # Lost the partitions in a rebalance: their new owner resumes from the last
            # commit, and replayed events overwrite themselves (same IDs).
            log.warning("offset commit failed; records since the last commit will be re-read",
                        extra={"input": self.name, "error": str(exc)})
        self._deferred = False
        return False

    def _keep(self, offsets: dict) -> None:
        """Acknowledged offsets a rebalance kept from committing, back for the next commit
        (newer acknowledgements win); committed only if the partition is still this member's."""
        with self._lock:
            for tp, offset in offsets.items():
                self._pending.setdefault(tp, offset)

    def commit(self) -> None:
        """Commits happen on the consumer thread (``_commit_acked``); see the module doc."""

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """After ``run`` returned: commit what the last batch acked, then close (a dynamic
        member leaves its group; a static one keeps its place for a restart). The writer has
        stopped: the revocation the close triggers must not wait for acks that cannot come."""
        self._closing = True
        # Another member leaving at the same time puts the group in a rebalance, where the
        # broker refuses commits: rejoin (a poll whose records are dropped, uncommitted) and
        # commit what is still this member's, for up to CLOSE_TIMEOUT_MS.
        deadline = time.monotonic() + CLOSE_TIMEOUT_MS / 1000
        while self._commit_acked(CLOSE_TIMEOUT_MS) and time.monotonic() < deadline:
            self.consumer.poll(timeout_ms=REJOIN_POLL_MS)
        self.consumer.close(autocommit=False, timeout_ms=CLOSE_TIMEOUT_MS)
        if self.note is not None:
            self.note.close()


class _Handover:
    """The consumer's rebalance listener: revoked partitions are committed up to what the
    store acknowledged before they go (see the module doc).

    It runs on kafka-python's IO loop (3.x), where a blocking consumer call is refused: it is
    a coroutine (``AsyncConsumerRebalanceListener``) that sleeps and commits through the
    coordinator's awaitable calls, so heartbeats go on while it waits. Meanwhile the consumer
    thread is inside ``poll`` and the writer thread acknowledges chunks (``_ack``)."""

    def __init__(self, owner: KafkaInput):
        self.owner = owner

    async def on_partitions_revoked(self, revoked) -> None:
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        inp = self.owner
        revoked = set(revoked)
        if not revoked:
            return
        coordinator = inp.consumer._coordinator
        inp._revoking.set(len(revoked), inp.name)
        try:
            deadline = time.monotonic() + (0 if inp._closing else REVOKE_WAIT_S)
            while inp._unacked > 0 and time.monotonic() < deadline:
                await coordinator._net.sleep(REVOKE_POLL_S)
            with inp._lock:
                complete = inp._unacked <= 0
                offsets = {tp: OffsetAndMetadata(inp._pending.pop(tp), "", -1)
                           for tp in revoked if tp in inp._pending}
                for tp in revoked:
                    inp._polled.pop(tp, None)  # read again from the commit if it comes back
            if offsets:
                try:
                    await coordinator._commit_offsets_sync_async(offsets,
                                                                 timeout_ms=CLOSE_TIMEOUT_MS)
                except KafkaError as exc:
                    complete = False
                    if inp._closing:  # the close commits them if they come back (close)
                        inp._keep({tp: o.offset for tp, o in offsets.items()})
                    log.warning("offset commit at a rebalance failed; the partitions' new "
                                "owner reads the records since the last commit again",
                                extra={"input": inp.name, "error": str(exc)})
            inp._revocations.inc(inp.name, "committed" if complete else "timed_out")
        finally:
            inp._revoking.set(0, inp.name)

    async def on_partitions_assigned(self, assigned) -> None:
        """Nothing to load: positions come from the committed offsets."""

    async def on_partitions_lost(self, lost) -> None:
        """Evicted: another member owns them already, so nothing may be committed."""
        inp = self.owner
        with inp._lock:
            for tp in lost:
                inp._pending.pop(tp, None)
                inp._polled.pop(tp, None)
        inp._revocations.inc(inp.name, "lost")


# --- configuration and construction: the ``kafka`` entry of ``collector.inputs.INPUTS`` ---

# Config keys beyond the common ``type`` and ``name``.
KEYS = ("topics", "group_id", "format", "mapping", "start_at", "max_poll_records",
        "group_instance_id", "session_timeout", "multiline_timeout")


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    topics: tuple[str, ...]
    group_id: str = "midwatch"
    format: str = "kafka-record"
    mapping: str | None = None
    start_at: str = "earliest"
    max_poll_records: int = 500
    # Static membership (KIP-345): "auto" derives the id from the input name, the host and
    # the checkpoint directory (collector.inputs.kafka.instance_id); None: dynamic member.
    group_instance_id: str | None = "auto"
    # A member not heard from this long loses its partitions (a static one is not replaced
    # by a rebalance before that, unless it comes back under its own id).
    session_timeout_ms: int = 10_000
    # ``format: auto``: a shipped source's record still open is emitted after the source was
    # quiet this long (the file input's setting of the same name); until then it is held
    # across polls and the commit stays at its first message.
    multiline_timeout_ms: int = int(IDLE_CLOSE_S * 1000)
    type: str = "kafka"


def parse(s: Section, name: str) -> Config:
    fmt, mapping = format_keys.format_and_mapping(s, "kafka-record")
    return Config(
        name=name, topics=s.str_list("topics", required=True),
        group_id=s.text("group_id", "midwatch"), format=fmt, mapping=mapping,
        start_at=s.choice("start_at", ("earliest", "latest"), "earliest"),
        max_poll_records=s.number("max_poll_records", 500, minimum=1),
        group_instance_id=_group_instance_id(s),
        session_timeout_ms=s.duration_ms("session_timeout", "10s", minimum_ms=6000),
        multiline_timeout_ms=s.duration_ms("multiline_timeout", "2s", minimum_ms=10),
    )


def _group_instance_id(s: Section) -> str | None:
    value = s.text("group_instance_id", "auto")
    if value == "none":
        return None
    if value != "auto" and not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", value or ""):
        raise s.error("group_instance_id", f"{value!r} is not a Kafka group instance id",
                      "use auto, none, or up to 249 of A-Z a-z 0-9 . _ -")
    return value


def build(cfg: Config, ctx: ParseContext, config: MidwatchConfig,
          metrics: Registry) -> KafkaInput:
    """The running input; ``config`` supplies the sections it shares with others. A broker
    not answering within ``kafka.bootstrap_timeout`` is a ConfigError naming the address:
    ``midwatch run`` printed the client's traceback (new-team walk)."""
    from kafka.errors import KafkaError

    try:
        return KafkaInput(cfg, config.kafka, ctx, metrics, config.collector.checkpoint_dir)
    except KafkaError as exc:
        k = config.kafka
        how = " ".join(x for x in (k.security_protocol, k.sasl_mechanism) if x)
        raise config.doc.error(
            ("kafka", "bootstrap"),
            f"input {cfg.name!r}: no broker at {','.join(k.bootstrap)} answered over {how} "
            f"within kafka.bootstrap_timeout ({k.bootstrap_timeout_ms / 1000:g}s): {exc}",
            "is the broker up and the address right? `midwatch doctor` checks it"
            + ("" if k.security_protocol == "PLAINTEXT" else
               "; check kafka.security's ssl_cafile and the SASL username/password")) from None
