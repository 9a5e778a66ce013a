"""The writer: batches from the input queue into the store, then acknowledges the inputs.

One batch goes through, in order: correlation (``process``: assigns flows, stages, traces),
``write_events`` (events the store rejects become dead letters), ``write_deadletters``,
``correlator.flush`` (trace documents), and only then the acks of its chunks, in queue order,
followed by each input's ``commit``. A position is therefore never committed before the store
holds everything before it.

On ``StoreError`` the failed step is retried with exponential backoff (capped); the batch
stays in memory and nothing is acked, the queue fills, and the inputs block or pause: memory
stays bounded by the batch plus the queue. Asked to stop during an outage, the writer keeps
trying for ``shutdown_grace_s`` and then gives up without acking: the unacked records are
read again on the next start (at-least-once; event IDs make the replay overwrite).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson

from collector.config import Batch
from collector.event import DeadLetter, Event, to_doc
from collector.inputs.base import Chunk, ChunkQueue, Input, now_ms
from collector.metrics import Registry
from collector.store.base import Store, StoreError

log = logging.getLogger("midwatch.pipeline")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
# Rough size of one normalized event in memory beyond its raw bytes, for batch accounting.
EVENT_OVERHEAD_BYTES = 512


class Correlating(Protocol):
    """What the writer needs of ``collector.correlate.Correlator``."""

    def process(self, events: Sequence[Event]) -> None: ...

    def flush(self) -> None: ...

    def sweep(self, now_ms: int) -> None: ...

    def stats(self) -> dict[str, int]: ...


@dataclass(slots=True)
class _Batch:
    chunks: list[Chunk]
    events: list[Event]
    deadletters: list[DeadLetter]
    oldest_ingested_ms: int


def reason_kind(reason: str) -> str:
    """The fixed prefix of a dead-letter reason (``parse_error: ...``): a bounded label."""
    return reason.split(":", 1)[0].strip() or "unknown"


def rejected_deadletter(event: Event, reason: str) -> DeadLetter:
    return DeadLetter(reason=f"store_rejected: {reason}", source=f"event:{event.id}", line=0,
                      raw=orjson.dumps(to_doc(event)).decode(), stage="store",
                      ingested_ms=now_ms())


class Pipeline:
    def __init__(self, store: Store, queue: ChunkQueue, inputs: Sequence[Input], batch: Batch,
                 metrics: Registry, correlator: Correlating | None = None, *,
                 sweep_interval_ms: int = 30_000, shutdown_grace_s: float = 10.0,
                 backoff_start_s: float = BACKOFF_START_S):
        self.store, self.queue, self.inputs = store, queue, list(inputs)
        self.batch, self.correlator = batch, correlator
        self.sweep_interval_s = sweep_interval_ms / 1000
        self.shutdown_grace_s = shutdown_grace_s
        self.backoff_start_s = backoff_start_s
        self._next_sweep = time.monotonic() + self.sweep_interval_s
        m = metrics
        self.read = m.counter("midwatch_records_read_total",
                              "Raw records read (lines, Kafka records, spans).", ("input",))
        self.parsed = m.counter("midwatch_events_parsed_total", "Events parsed.", ("input",))
        self.dead = m.counter("midwatch_deadletters_total", "Records dead-lettered.", ("reason",))
        self.indexed = m.counter("midwatch_events_indexed_total",
                                 "Events the store acknowledged.")
        self.store_errors = m.counter("midwatch_store_errors_total",
                                      "Failed store writes (retried).", ("step",))
        self.bulk = m.histogram("midwatch_bulk_seconds", "Latency of writing one batch of events.")
        self.lag = m.gauge("midwatch_pipeline_lag_seconds",
                           "Read-to-acknowledged time of the oldest event of the last batch.")
        self.depth = m.gauge("midwatch_queue_depth", "Chunks waiting for the writer.")
        self.correlation = m.gauge("midwatch_correlator", "Correlator state.", ("stat",))
        m.on_collect(self._collect_gauges)

    def _collect_gauges(self) -> None:
        self.depth.set(self.queue.depth())
        if self.correlator is not None:
            for key, value in self.correlator.stats().items():
                self.correlation.set(value, key)

    # ---------------------------------------------------------------- main loop

    def run(self, stop: threading.Event, inputs_done: Callable[[], bool]) -> bool:
        """Write until every input has finished (stopped, or a finite source ended) and the
        queue is drained. ``stop`` only bounds retrying a failing store at shutdown.

        Returns False when a batch could not be stored before giving up.
        """
        while True:
            finishing = inputs_done()
            batch = self._collect(finishing)
            if batch is not None and not self._write(batch, stop):
                return False
            self._maybe_sweep()
            if batch is None and finishing:
                return True

    def _collect(self, finishing: bool) -> _Batch | None:
        """Chunks up to the batch limits, or whatever arrived within the flush interval
        (when finishing: whatever is queued, without waiting)."""
        deadline = time.monotonic() + self.batch.flush_interval_ms / 1000
        chunks: list[Chunk] = []
        events: list[Event] = []
        dead: list[DeadLetter] = []
        size = 0
        while len(events) < self.batch.max_events and size < self.batch.max_bytes:
            remaining = deadline - time.monotonic()
            if not finishing and remaining <= 0:
                break
            chunk = self.queue.get(0.01 if finishing else remaining)
            if chunk is None:
                break
            chunks.append(chunk)
            size += chunk.nbytes
            for item in chunk.items:
                if isinstance(item, Event):
                    events.append(item)
                    size += EVENT_OVERHEAD_BYTES
                else:
                    dead.append(item)
            self.read.inc(chunk.input, by=chunk.records)
            self.parsed.inc(chunk.input, by=sum(isinstance(i, Event) for i in chunk.items))
        if not chunks:
            return None
        oldest = min((e.ingested_ms for e in events if e.ingested_ms), default=now_ms())
        return _Batch(chunks, events, dead, oldest)

    # ---------------------------------------------------------------- one batch

    def _write(self, batch: _Batch, stop: threading.Event) -> bool:
        if self.correlator is not None and batch.events:
            self.correlator.process(batch.events)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("events", lambda: self._write_events(batch)),
            ("deadletters", lambda: self._write_deadletters(batch)),
        ]
        if self.correlator is not None:
            steps.append(("traces", self.correlator.flush))
        for step, fn in steps:
            if not self._retry(step, fn, stop):
                return False
        for chunk in batch.chunks:
            if chunk.ack is not None:
                chunk.ack()
        for inp in self.inputs:
            inp.commit()
        self.lag.set(max(0, now_ms() - batch.oldest_ingested_ms) / 1000)
        return True

    def _write_events(self, batch: _Batch) -> None:
        if not batch.events:
            return
        started = time.perf_counter()
        result = self.store.write_events(batch.events)
        self.bulk.observe(time.perf_counter() - started)
        self.indexed.inc(by=result.written)
        batch.deadletters.extend(rejected_deadletter(ev, reason) for ev, reason in result.rejected)
        batch.events = []  # written: a retry of a later step must not write them again

    def _write_deadletters(self, batch: _Batch) -> None:
        if not batch.deadletters:
            return
        self.store.write_deadletters(batch.deadletters)
        for item in batch.deadletters:
            self.dead.inc(reason_kind(item.reason))
        batch.deadletters = []

    def _retry(self, step: str, fn: Callable[[], None], stop: threading.Event) -> bool:
        delay = self.backoff_start_s
        give_up_at: float | None = None
        while True:
            try:
                fn()
                return True
            except StoreError as exc:
                self.store_errors.inc(step)
                log.warning("store write failed; retrying",
                            extra={"step": step, "error": str(exc), "retry_in_s": delay})
            if not stop.is_set():
                stop.wait(delay)
            else:
                give_up_at = give_up_at or time.monotonic() + self.shutdown_grace_s
                if time.monotonic() >= give_up_at:
                    log.error("stopping with a batch the store did not take; its records "
                              "will be read again on the next start", extra={"step": step})
                    return False
                time.sleep(min(delay, 0.5))
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _maybe_sweep(self) -> None:
        if self.correlator is None or time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self.sweep_interval_s
        try:
            self.correlator.sweep(now_ms())
        except StoreError as exc:
            log.warning("stuck-trace sweep failed; next try at the next interval",
                        extra={"error": str(exc)})
