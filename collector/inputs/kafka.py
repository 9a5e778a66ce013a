"""Consume Kafka topics in a consumer group; commit offsets only after the store acknowledged.

- ``enable_auto_commit=False``. A chunk is one ``poll``; its ack records, per partition, the
  offset after its last record, and the consumer thread commits those on its next loop
  (kafka-python consumers are not thread-safe, so only that thread touches the consumer).
  A crash replays from the last commit; deterministic event IDs (``<partition>:<offset>`` in
  the topic) make the replay overwrite, not duplicate.
- Backpressure: when the writer's queue is full the consumer pauses its partitions and keeps
  polling (heartbeats, rebalances, commits) until there is room, then resumes them; it never
  blocks for long enough to be thrown out of the group.
- Each record becomes a ``Record`` with the value as text, the key and the headers decoded
  (UTF-8, invalid bytes replaced), so parsers see the correlation IDs that ride in headers.
- Kafka 4 removed old protocol versions (KIP-896). kafka-python 3.0 probes the broker version
  and works against the 4.4 test broker without a pin; ``kafka.api_version`` in the config
  pins it for brokers or proxies where the probe misbehaves (dpkp/kafka-python#2679).
"""

from __future__ import annotations

import logging
import threading
import time

from collector.config import Kafka as KafkaSettings
from collector.config import KafkaInput as KafkaInputConfig
from collector.envelopes import otel
from collector.event import Record
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.metrics import Registry
from collector.parse import ParseStats
from collector.parsers.base import ParseContext
from collector.shipping import parse_delivery

log = logging.getLogger("midwatch.inputs.kafka")

POLL_MS = 200
# Lag is read from the consumer's cached high-water marks: cheap, but no need every poll.
LAG_EVERY_S = 1.0
# Paused, the consumer offers its chunk again this often while it keeps polling.
RETRY_OFFER_S = 0.2


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", errors="replace") if raw is not None else ""


def to_record(msg, ingested_ms: int) -> Record:
    """A kafka-python ``ConsumerRecord`` as the parsers see it; an OTLP protobuf export (the
    OTel Collector's Kafka exporter, ``encoding: otlp_proto``) as its OTLP/JSON text."""
    value = msg.value or b""
    return Record(
        text=otel.proto_as_json(value) or _text(msg.value), source=msg.topic, position=f"{msg.partition}:{msg.offset}",
        key=_text(msg.key) if msg.key is not None else None,
        headers={str(k): _text(v) for k, v in (msg.headers or [])},
        ingested_ms=ingested_ms,
    )


class KafkaInput:
    def __init__(self, cfg: KafkaInputConfig, settings: KafkaSettings, ctx: ParseContext,
                 metrics: Registry):
        from kafka import KafkaConsumer

        self.name = cfg.name
        self.cfg = cfg
        self.ctx = ctx
        self.stats = ParseStats()
        self.consumer = KafkaConsumer(
            *cfg.topics, group_id=cfg.group_id, enable_auto_commit=False,
            auto_offset_reset=cfg.start_at, max_poll_records=cfg.max_poll_records,
            **settings.client_options(),
        )
        self._pending: dict = {}  # TopicPartition -> next offset, acked but not committed
        self._lock = threading.Lock()
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
        while not self._stop.is_set():
            batches = self.consumer.poll(timeout_ms=POLL_MS)
            self._commit_acked()
            if time.monotonic() >= self._next_lag:
                self._update_lag()
            if not batches:
                continue
            chunk = self._chunk(batches)
            if not out.offer(chunk, 0) and not self._offer_paused(out, chunk):
                return

    def _offer_paused(self, out: ChunkQueue, chunk: Chunk) -> bool:
        partitions = list(self.consumer.assignment())
        self.consumer.pause(*partitions)
        try:
            while not self._stop.is_set():
                if out.offer(chunk, RETRY_OFFER_S):
                    return True
                self.consumer.poll(timeout_ms=0)  # keeps the group membership alive
                self._commit_acked()
            return False
        finally:
            self.consumer.resume(*self.consumer.paused())

    def _chunk(self, batches: dict) -> Chunk:
        self.ctx.now_ms = now_ms()
        ends = {}
        batch = []
        records = nbytes = 0
        for tp, msgs in batches.items():
            for msg in msgs:
                batch.append(to_record(msg, self.ctx.now_ms))
                nbytes += len(msg.value or b"")
            records += len(msgs)
            ends[tp] = msgs[-1].offset + 1
        # One poll is one delivery: shipper envelopes come off and a record's lines sent as
        # consecutive messages are framed together (collector.shipping).
        items = parse_delivery(batch, self.ctx, self.stats, self.cfg.format, replayable=True)
        return Chunk(self.name, items, records, nbytes, ack=lambda: self._ack(ends))

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

    def _commit_acked(self) -> None:
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in pending.items()})
        except KafkaError as exc:
            # Lost the partitions in a rebalance: their new owner resumes from the last
            # commit, and replayed events overwrite themselves (same IDs).
            log.warning("offset commit failed; records since the last commit will be re-read",
                        extra={"input": self.name, "error": str(exc)})

    def commit(self) -> None:
        """Commits happen on the consumer thread (``_commit_acked``); see the module doc."""

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """After ``run`` returned: commit what the last batch acked, then leave the group."""
        self._commit_acked()
        self.consumer.close(autocommit=False)
