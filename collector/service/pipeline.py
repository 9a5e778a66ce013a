"""The writer: batches from the input queue into the store, then acknowledges the inputs.

One batch goes through: correlation (``process``: assigns flows, stages, traces), then
``write_events`` (events the store rejects become dead letters) and ``write_deadletters``,
and ``correlator.flush`` (trace documents), which is done once per flush interval (see
below): mostly after the batch's events, by a later batch or when the queue runs dry. Only
once both are stored come the acks of its chunks, in queue order, followed by each input's
``commit``. A position is therefore never committed before the store holds everything before
it, or before the spool holds it on disk.

The events of a batch are written while the writer correlates the next batch (and writes
the traces, when due): correlation is the writer's own CPU work, and without the overlap the
store sat idle through it (a fifth of the run in bench/e2e_bench.py). Up to ``BATCHES_IN_FLIGHT`` batches
have their events in flight, so the store is not left idle between the last request of one
batch and the first of the next (issue 25); acks still go in queue order, oldest first, and
every batch in flight is settled before a batch is spooled.

Traces are written once per flush interval (``batch.flush_interval_ms``), not once per batch:
a message's events come in several batches (its platforms log to several files or
partitions), and each batch rewrote the whole trace document of every message it touched.
A batch whose traces are not written yet is not acknowledged: once its events are stored it
waits (``_awaiting``, at most ``TRACE_BATCHES`` batches) for the next trace write, and is then
acknowledged, in queue order as ever. A position is therefore still never committed before
the store holds the traces of what came before it, so nothing depends on rebuilding traces
from stored events after a crash: the records are read again and correlated again. The
writer also writes the traces whenever no new chunk came for the linger time while batches
are unacknowledged (a sender that waits for each answer gets it within about the linger
time and the store's, not the interval: bench/waiting_sender_bench.py), before each sweep
(see ``_maybe_sweep``), and before it spools: a batch spooled after one still awaiting its
traces takes that one into the spool first, so replays keep queue order.

What a failed step means decides what happens next:

- ``StoreUnavailable`` (the store did not answer through its own retries): the batch goes to
  the on-disk spool (``collector.service.spool``), is acked there, and every later batch follows it
  while a probe thread pings the store. Once the store answers, the spool is drained oldest
  first before anything new is written, so order holds; new input waits meanwhile (the queue
  fills: backpressure). A full spool stops the writer taking batches: backpressure again,
  never a drop. Without a spool the step is retried in place, as below.
- ``WritesRefused`` (the store answered, but some records keep failing): retried; after
  ``max_attempts`` the events are written one by one and each one still refused is
  dead-lettered (``store_failed``), so one poison event cannot stop the pipeline.
- any other ``StoreError`` (setup, auth, conflicts): retried in place with exponential
  backoff (capped); the batch stays in memory and nothing is acked, the queue fills, and the
  inputs block or pause.

Replaying a spooled batch runs correlation on its events again; hops are keyed by event ID,
so a batch correlated before the outage hit its trace write changes nothing the second time.
Asked to stop during an outage, the writer keeps trying for ``shutdown_grace_s`` and then
gives up without acking: the unacked records are read again on the next start (at-least-once;
event IDs make the replay overwrite). The spool needs no such grace: it is already durable.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

from collector.config import Batch
from collector.correlation.trace_repair import TraceRepair
from collector.encoded import StoredEvent, document_bytes
from collector.event import DeadLetter
from collector.inputs.base import Chunk, ChunkQueue, Input, now_ms
from collector.knowledge import KnowledgeBase
from collector.metrics import Registry
from collector.service.spool import Spool, SpoolError
from collector.store.base import ConflictError, Store, StoreError, StoreUnavailable, WritesRefused

log = logging.getLogger("midwatch.pipeline")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
# While the store is away the probe pings at most this far apart: detection delay on recovery.
PROBE_MAX_S = 5.0
# Rough size of one normalized event in memory beyond its raw bytes, for batch accounting.
EVENT_OVERHEAD_BYTES = 512
# Batches whose events are being written at once (each its own requests, see the store).
BATCHES_IN_FLIGHT = 2
# Batches correlated since the last trace write, at most: with full batches a flush interval
# holds a few, and each one kept waits with its events in memory (for the spool).
TRACE_BATCHES = 4


class Correlating(Protocol):
    """What the writer needs of ``collector.correlation.correlator.Correlator``."""

    def process(self, events: Sequence[StoredEvent]) -> None: ...

    def flush(self) -> None: ...

    def sweep(self, now_ms: int) -> None: ...

    def stats(self) -> dict[str, int]: ...


class WriteResult(enum.Enum):
    STORED = "stored"
    UNAVAILABLE = "unavailable"  # the store is away: spool the batch
    GAVE_UP = "gave_up"  # asked to stop while the store kept failing


@dataclass(slots=True)
class _Batch:
    chunks: list[Chunk]
    # Events only when something reads them (the correlator, known issues); else encoded
    # by the parse worker (collector.encoded; for the correlator with what it reads, see
    # collector.correlation.joinview), or both when inputs of both kinds feed it.
    events: list[StoredEvent]
    deadletters: list[DeadLetter]
    oldest_ingested_ms: int
    # What was read, kept whole for the spool: ``events``/``deadletters`` shrink as steps land.
    read_events: list[StoredEvent] = field(default_factory=list)
    read_deadletters: list[DeadLetter] = field(default_factory=list)
    refused: int = 0  # WritesRefused so far
    traces_pending: bool = False  # correlated, and its traces not yet written

    def __post_init__(self) -> None:
        self.read_events = list(self.events)
        self.read_deadletters = list(self.deadletters)


def reason_kind(reason: str) -> str:
    """The fixed prefix of a dead-letter reason (``parse_error: ...``): a bounded label."""
    return reason.split(":", 1)[0].strip() or "unknown"


def rejected_deadletter(event: StoredEvent, reason: str, kind: str = "store_rejected",
                        stage: str = "store") -> DeadLetter:
    """The dead letter of an event a later stage could not take. Its document may itself be
    what failed (a value the encoder refuses), so the event's repr stands in for it then."""
    try:
        raw = document_bytes(event).decode()
    except Exception:  # noqa: BLE001 - the record is being dead-lettered for this very reason
        raw = repr(event)[: DeadLetter.MAX_RAW]
    return DeadLetter(reason=f"{kind}: {reason}"[:500], source=f"event:{event.id}", line=0,
                      raw=raw, stage=stage, ingested_ms=now_ms())


def _crash(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


class Pipeline:
    def __init__(self, store: Store, queue: ChunkQueue, inputs: Sequence[Input], batch: Batch,
                 metrics: Registry, correlator: Correlating | None = None, *,
                 sweep_interval_ms: int = 30_000, shutdown_grace_s: float = 10.0,
                 backoff_start_s: float = BACKOFF_START_S, spool: Spool | None = None,
                 max_attempts: int = 3, store_ready: bool = True,
                 repair: TraceRepair | None = None, knowledge: KnowledgeBase | None = None):
        self.store, self.queue, self.inputs = store, queue, list(inputs)
        self.knowledge = knowledge
        self.batch, self.correlator = batch, correlator
        self.spool, self.max_attempts, self.repair = spool, max_attempts, repair
        self._store_up = threading.Event()
        self._down_lock = threading.Lock()  # both write threads may find the store away
        # Writes the events of earlier batches while the writer correlates the next.
        self._event_writer = ThreadPoolExecutor(BATCHES_IN_FLIGHT,
                                                thread_name_prefix="event-writer")
        self._in_flight: deque[tuple[_Batch, Future[WriteResult]]] = deque()
        # Batches whose events are stored, waiting for their traces to be written (oldest
        # first; at most TRACE_BATCHES): acknowledged by the next trace write.
        self._awaiting: deque[_Batch] = deque()
        self._traces_due = time.monotonic() + batch.flush_interval_ms / 1000
        # Not ready: the store was away when the service started; spool from the first batch.
        self._start_down = not store_ready and spool is not None
        self._store_up.set()
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
        self.conflicts = m.counter("midwatch_trace_conflict_rounds_total",
                                   "Trace writes that kept losing races to another collector "
                                   "(re-read and written again at once).")
        self.bulk = m.histogram("midwatch_bulk_seconds", "Latency of writing one batch of events.")
        self.lag = m.gauge("midwatch_pipeline_lag_seconds",
                           "Read-to-acknowledged time of the oldest event of the last batch.")
        self.depth = m.gauge("midwatch_queue_depth", "Chunks waiting for the writer.")
        self.correlation = m.gauge("midwatch_correlator", "Correlator state.", ("stat",))
        self.available = m.gauge("midwatch_store_available",
                                 "1 while the store answers, 0 while the writer spools.")
        self.available.set(1)
        self.spooled = m.counter("midwatch_spool_batches_total",
                                 "Batches written to the spool, and drained from it.", ("op",))
        self.spool_bytes = m.gauge("midwatch_spool_bytes", "Bytes in spool segments.")
        self.spool_segments = m.gauge("midwatch_spool_segments", "Spool segments to drain.")
        self.spool_full = m.gauge("midwatch_spool_full",
                                  "1 while the spool is at its byte cap (inputs wait).")
        m.on_collect(self._collect_gauges)

    def _collect_gauges(self) -> None:
        self.depth.set(self.queue.depth())
        if self.spool is not None:
            self.spool_bytes.set(self.spool.nbytes)
            self.spool_segments.set(len(self.spool))
            self.spool_full.set(int(self.spool.full()))
        if self.correlator is not None:
            for key, value in self.correlator.stats().items():
                self.correlation.set(value, key)
        if self.repair is not None:
            self.correlation.set(self.repair.merged, "split_traces_merged")
            self.correlation.set(self.repair.conflicts, "split_merge_conflicts")

    # ---------------------------------------------------------------- main loop

    def run(self, stop: threading.Event, inputs_done: Callable[[], bool]) -> bool:
        """Write until every input has finished (stopped, or a finite source ended) and the
        queue is drained. ``stop`` only bounds retrying a failing store at shutdown.

        Returns False when a batch could not be stored (nor spooled) before giving up.
        """
        try:
            return self._run(stop, inputs_done)
        finally:
            self._event_writer.shutdown()

    def _run(self, stop: threading.Event, inputs_done: Callable[[], bool]) -> bool:
        if self._start_down:
            self._store_down(stop)
        while True:
            finishing = inputs_done()
            if self.spool is not None and (len(self.spool) or not self._store_up.is_set()):
                if not self._settle_in_flight():
                    return False
                if self._awaiting and not self._store_up.is_set():
                    self._spool_awaiting()
                if (finishing or stop.is_set()) and not self._store_up.is_set():
                    return True  # the spool is durable: the next start drains it
                if not self._spooled_step(stop):
                    return True
                continue
            batch = self._collect(finishing)
            if batch is not None:
                if not self._deliver(batch, stop):
                    return False
            # Nothing new: write what traces wait, then finish and ack the batches in flight.
            elif not (self._write_waiting_traces(stop) and self._settle_in_flight()):
                return False
            if not self._maybe_sweep(stop):
                return False
            if batch is None and finishing:
                return True

    def _spooled_step(self, stop: threading.Event) -> bool:
        """One step while the spool holds batches: drain one when the store is up, else
        spool the next batch (or wait, when full). False when asked to stop meanwhile."""
        assert self.spool is not None
        if self._store_up.is_set():
            return self._drain_one(stop) is not WriteResult.GAVE_UP
        if self.spool.full():
            stop.wait(0.2)
            return True
        batch = self._collect(False)
        if batch is not None:
            self._to_spool(batch)
        return True

    def _deliver(self, batch: _Batch, stop: threading.Event) -> bool:
        """Correlate the batch and write the traces when due (the batches before are still
        having their events written meanwhile), settle the oldest until there is room, then
        leave this one's events in flight. A batch not stored waits for all before it: a batch
        spooled before an older one still in flight would be replayed out of order."""
        outcome = self._correlate(batch, stop, traces_now=self._traces_are_due())
        if not self._settle_in_flight(keep=BATCHES_IN_FLIGHT - 1):
            return False
        if outcome is WriteResult.STORED and not self._store_up.is_set():
            outcome = WriteResult.UNAVAILABLE  # a batch before went to the spool: follow it
        if outcome is not WriteResult.STORED:
            return self._settle_in_flight() and self._ack_or_spool(batch, outcome)
        self._in_flight.append((batch, self._event_writer.submit(self._write_rest, batch, stop)))
        return True

    def _settle_in_flight(self, keep: int = 0) -> bool:
        """Wait for the batches in flight, oldest first, until at most ``keep`` are left,
        acking, spooling or parking each (in ``_awaiting``, when its traces are not written
        yet); False when one gave up (the later ones are then not
        acked: their records are read again on the next start)."""
        while len(self._in_flight) > keep:
            batch, written = self._in_flight.popleft()
            if not self._ack_or_spool(batch, written.result()):
                return False
        return True

    def _ack_or_spool(self, batch: _Batch, outcome: WriteResult) -> bool:
        """Finish a batch whose write ended: ack it, spool it, keep it until its traces are
        written, or False when it gave up."""
        if outcome is WriteResult.GAVE_UP:
            return False
        if outcome is WriteResult.UNAVAILABLE:
            self._to_spool(batch)
        elif batch.traces_pending:
            self._awaiting.append(batch)
        else:
            self._ack_awaiting()  # older: their traces were written with this one's
            self._ack(batch)
        return True

    def _to_spool(self, batch: _Batch) -> None:
        """Spool the batch, after the older ones still awaiting their traces (their replay
        correlates them again), and ack them all."""
        self._spool_awaiting()
        self._spool_one(batch)

    def _spool_awaiting(self) -> None:
        while self._awaiting:
            self._spool_one(self._awaiting.popleft())

    def _spool_one(self, batch: _Batch) -> None:
        assert self.spool is not None
        self.spool.append(batch.read_events, batch.read_deadletters)
        self.spooled.inc("write")
        self._ack(batch)

    def _ack_awaiting(self) -> None:
        while self._awaiting:
            self._ack(self._awaiting.popleft())

    def _drain_one(self, stop: threading.Event) -> WriteResult:
        assert self.spool is not None
        segment = self.spool.oldest()
        assert segment is not None
        try:
            events, dead = self.spool.read(segment)
        except SpoolError as exc:
            log.error("spool segment unreadable; set aside", extra={"error": str(exc)})
            self.spool.set_aside(segment)
            self.spooled.inc("set_aside")
            return WriteResult.STORED
        oldest = min((e.ingested_ms for e in events if e.ingested_ms), default=now_ms())
        outcome = self._write(_Batch([], events, dead, oldest), stop)
        if outcome is WriteResult.STORED:
            self.spool.remove(segment)
            self.spooled.inc("drain")
            if not len(self.spool):
                log.info("spool drained; writing directly again")
        return outcome

    def _ack(self, batch: _Batch) -> None:
        for chunk in batch.chunks:
            if chunk.ack is not None:
                chunk.ack()
        for inp in self.inputs:
            inp.commit()
        self.lag.set(max(0, now_ms() - batch.oldest_ingested_ms) / 1000)

    # ---------------------------------------------------------------- store health

    def _store_down(self, stop: threading.Event) -> None:
        """Spool from now on, and probe the store in the background until it answers: the
        writer keeps spooling meanwhile instead of waiting out the store's retries."""
        with self._down_lock:
            if not self._store_up.is_set():
                return
            self._store_up.clear()
        self.available.set(0)
        log.warning("store unavailable; spooling to disk", extra={"spool": str(self.spool.directory)})
        threading.Thread(target=self._probe, args=(stop,), name="store-probe", daemon=True).start()

    def _probe(self, stop: threading.Event) -> None:
        delay = self.backoff_start_s
        while not stop.is_set():
            try:
                # setup, not a mere ping: it is idempotent, and a store that was away since
                # the start (or lost its data) gets its templates before the first write.
                self.store.setup()
            except StoreError:
                stop.wait(delay)
                delay = min(delay * 2, PROBE_MAX_S)
                continue
            log.info("store answers again; draining the spool")
            self.available.set(1)
            self._store_up.set()
            return

    def _collect(self, finishing: bool) -> _Batch | None:
        """Chunks up to the batch limits, or whatever arrived within the flush interval,
        sent early once no chunk came for the linger time (when finishing: whatever is
        queued, without waiting).

        While batches are in flight or await their traces, an empty queue is given the
        linger time too, not the interval: a sender that waits for each answer (a shipper
        on one HTTP connection, a syslog connection waiting for its last delivery's ack)
        sends nothing more until those batches are acked, so waiting longer for its next
        chunk only delayed the ack it waits for (one delivery per flush interval)."""
        deadline = time.monotonic() + self.batch.flush_interval_ms / 1000
        linger = self.batch.linger_ms / 1000
        unsettled = bool(self._in_flight or self._awaiting)
        chunks: list[Chunk] = []
        events: list[StoredEvent] = []
        dead: list[DeadLetter] = []
        size = 0
        while len(events) < self.batch.max_events and size < self.batch.max_bytes:
            remaining = deadline - time.monotonic()
            if not finishing and remaining <= 0:
                break
            wait = min(remaining, linger) if chunks or unsettled else remaining
            chunk = self.queue.get(0.01 if finishing else wait)
            if chunk is None:
                break
            chunks.append(chunk)
            size += chunk.nbytes
            parsed = 0
            for item in chunk.items:
                if isinstance(item, DeadLetter):
                    dead.append(item if item.input else replace(item, input=chunk.input))
                else:
                    events.append(item)
                    size += EVENT_OVERHEAD_BYTES
                    parsed += 1
            self.read.inc(chunk.input, by=chunk.records)
            self.parsed.inc(chunk.input, by=parsed)
        if not chunks:
            return None
        oldest = min((e.ingested_ms for e in events if e.ingested_ms), default=now_ms())
        return _Batch(chunks, events, dead, oldest)

    # ---------------------------------------------------------------- one batch

    def _write(self, batch: _Batch, stop: threading.Event) -> WriteResult:
        """The whole batch, in this thread (a spooled batch, replayed)."""
        outcome = self._correlate(batch, stop)
        return self._write_rest(batch, stop) if outcome is WriteResult.STORED else outcome

    def _correlate(self, batch: _Batch, stop: threading.Event, *,
                   traces_now: bool = True) -> WriteResult:
        """Correlate the batch, and write the traces changed since the last trace write
        when ``traces_now`` (else the batch waits for the next one)."""
        if self.correlator is not None and batch.events:
            self._process(batch)
        if self.knowledge and batch.events:  # after correlation: issues may match by flow
            self.knowledge.annotate(batch.events)
        if self.correlator is None:
            return WriteResult.STORED
        batch.traces_pending = True
        return self._write_traces(batch, stop) if traces_now else WriteResult.STORED

    def _traces_are_due(self) -> bool:
        """The flush interval since the last trace write is over, or TRACE_BATCHES batches
        (this one included) would wait for theirs."""
        waiting = len(self._awaiting) + sum(b.traces_pending for b, _ in self._in_flight)
        return waiting + 1 >= TRACE_BATCHES or time.monotonic() >= self._traces_due

    def _write_traces(self, batch: _Batch, stop: threading.Event) -> WriteResult:
        """The correlator's trace write (``batch``: the newest correlated). Once it is
        stored, every batch correlated so far has its traces written: those awaiting them
        are acknowledged (the ones in flight when their events are)."""
        outcome = self._retry("traces", self._flush, batch, stop)
        if outcome is WriteResult.STORED:
            self._traces_due = time.monotonic() + self.batch.flush_interval_ms / 1000
            batch.traces_pending = False
            for earlier, _ in self._in_flight:
                earlier.traces_pending = False
            for earlier in self._awaiting:
                earlier.traces_pending = False
            self._ack_awaiting()
        return outcome

    def _write_waiting_traces(self, stop: threading.Event) -> bool:
        """Write the traces batches wait for, if any; False when the writer gave up (the
        waiting batches are then not acked: read again on the next start)."""
        pending = [b for b, _ in self._in_flight if b.traces_pending] or list(self._awaiting)
        if not pending:
            return True
        outcome = self._write_traces(pending[-1], stop)
        if outcome is WriteResult.UNAVAILABLE:  # spooled, oldest first, after those in flight
            if not self._settle_in_flight():
                return False
            self._spool_awaiting()
            return True
        return outcome is WriteResult.STORED

    def _flush(self) -> None:
        """The correlator's trace write. A ``StoreError`` is the store's, retried by the
        caller; anything else is a bug some trace meets, which no retry cures: it is logged
        with its traceback and counted (``midwatch_store_errors_total{step="traces_crash"}``),
        and the writer goes on storing events. The traces stay pending in the correlator and
        are tried again at the next trace write.

        The batches waiting for this write are acknowledged all the same (up to
        ``TRACE_BATCHES``, where one was before traces were written once per interval): a
        kill before the next trace write that succeeds loses their traces' latest hops.
        Holding them instead would stop the inputs behind a bug no retry cures, and for good:
        after a restart the same records meet the same bug. A writer that stopped here
        would therefore have stopped for good."""
        assert self.correlator is not None
        try:
            self.correlator.flush()
        except StoreError:
            raise
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("writing traces failed; events are still stored and acknowledged, "
                          "traces are tried again at the next trace write")
            self.store_errors.inc("traces_crash")

    def _process(self, batch: _Batch) -> None:
        """Correlate the batch's events. An event the correlator raises on (a bug met by one
        record) is dead-lettered (``correlate_failed``) and the others go on: the batch is
        correlated again event by event, which changes nothing for the events already joined
        (a replayed hop is a no-op)."""
        assert self.correlator is not None
        try:
            self.correlator.process(batch.events)
            return
        except Exception as exc:  # noqa: BLE001 - one record must not stop the writer
            log.error("correlation failed on a batch; correlating its events one by one",
                      extra={"events": len(batch.events), "error": _crash(exc)})
        kept: list[StoredEvent] = []
        for ev in batch.events:
            try:
                self.correlator.process([ev])
            except Exception as exc:  # noqa: BLE001 - as above, now for this one event
                batch.deadletters.append(rejected_deadletter(ev, _crash(exc), "correlate_failed",
                                                             "correlate"))
            else:
                kept.append(ev)
        batch.events = kept

    def _write_rest(self, batch: _Batch, stop: threading.Event) -> WriteResult:
        """Events, then dead letters (rejected events among them)."""
        outcome = self._retry("events", lambda: self._write_events(batch), batch, stop)
        if outcome is WriteResult.STORED:
            outcome = self._retry("deadletters", lambda: self._write_deadletters(batch),
                                  batch, stop)
        return outcome

    def _write_events(self, batch: _Batch) -> None:
        if not batch.events:
            return
        if batch.refused >= self.max_attempts:
            self._write_events_alone(batch)
            return
        started = time.perf_counter()
        try:
            result = self.store.write_events(batch.events)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - a record the store code cannot write
            log.error("the store raised on a batch; writing its events one by one",
                      extra={"events": len(batch.events), "error": _crash(exc)})
            self._write_events_alone(batch)
            return
        self.bulk.observe(time.perf_counter() - started)
        self.indexed.inc(by=result.written)
        batch.deadletters.extend(rejected_deadletter(ev, reason) for ev, reason in result.rejected)
        batch.events = []  # written: a retry of a later step must not write them again

    def _write_events_alone(self, batch: _Batch) -> None:
        """The batch kept being refused, or the store code raised on it: find the events to
        blame and dead-letter them (``store_failed``); an outage still stops the step."""
        log.warning("store refuses part of a batch; writing its events one by one",
                    extra={"events": len(batch.events), "attempts": batch.refused})
        while batch.events:
            ev = batch.events[0]
            try:
                result = self.store.write_events([ev])
            except WritesRefused as exc:
                batch.deadletters.append(rejected_deadletter(ev, str(exc), "store_failed"))
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - this event is what the store raised on
                batch.deadletters.append(rejected_deadletter(ev, _crash(exc), "store_failed"))
            else:
                self.indexed.inc(by=result.written)
                batch.deadletters.extend(rejected_deadletter(e, why) for e, why in result.rejected)
            batch.events.pop(0)

    def _write_deadletters(self, batch: _Batch) -> None:
        if not batch.deadletters:
            return
        try:
            self.store.write_deadletters(batch.deadletters)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - one unwritable dead letter must not stop us
            log.error("the store raised on dead letters; writing them one by one",
                      extra={"deadletters": len(batch.deadletters), "error": _crash(exc)})
            self._write_deadletters_alone(batch)
            return
        for item in batch.deadletters:
            self.dead.inc(reason_kind(item.reason))
        batch.deadletters = []

    def _write_deadletters_alone(self, batch: _Batch) -> None:
        """A dead letter the store code cannot write has nowhere left to go: it is logged
        (its reason and source, never its raw text) and counted as ``unwritable``."""
        while batch.deadletters:
            item = batch.deadletters[0]
            try:
                self.store.write_deadletters([item])
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - see the docstring
                log.error("dead letter could not be written; dropped",
                          extra={"reason": item.reason[:200], "source": item.source,
                                 "error": _crash(exc)})
                self.dead.inc("unwritable")
            else:
                self.dead.inc(reason_kind(item.reason))
            batch.deadletters.pop(0)

    def _retry(self, step: str, fn: Callable[[], None], batch: _Batch,
               stop: threading.Event) -> WriteResult:
        delay = self.backoff_start_s
        give_up_at: float | None = None
        while True:
            try:
                fn()
                return WriteResult.STORED
            except StoreError as exc:
                self.store_errors.inc(step)
                if isinstance(exc, StoreUnavailable) and self.spool is not None:
                    self._store_down(stop)
                    return WriteResult.UNAVAILABLE
                if isinstance(exc, WritesRefused) and step == "events":
                    # What switches the batch's events to one-by-one writing: a refused
                    # trace write says nothing of them.
                    batch.refused += 1
                if isinstance(exc, ConflictError):
                    # Lost races with another collector, already re-read: the store is fine,
                    # and waiting would only let the other side win again.
                    self.conflicts.inc()
                    continue
                log.warning("store write failed; retrying",
                            extra={"step": step, "error": str(exc), "retry_in_s": delay})
            if not stop.is_set():
                stop.wait(delay)
            else:
                give_up_at = give_up_at or time.monotonic() + self.shutdown_grace_s
                if time.monotonic() >= give_up_at:
                    log.error("stopping with a batch the store did not take; its records "
                              "will be read again on the next start", extra={"step": step})
                    return WriteResult.GAVE_UP
                time.sleep(min(delay, 0.5))
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _maybe_sweep(self, stop: threading.Event) -> bool:
        """Mark overdue traces stuck, once per sweep interval. The traces batches wait for
        are written first: the sweep finds in the store the traces that are not in memory,
        and a stored trace whose completing event is correlated but not yet written would
        be marked stuck (and fire its rule) though it has completed. False when the writer
        gave up on that trace write (as ``_write_waiting_traces``)."""
        if self.correlator is None or time.monotonic() < self._next_sweep:
            return True
        self._next_sweep = time.monotonic() + self.sweep_interval_s
        if not self._write_waiting_traces(stop):
            return False
        if not self._store_up.is_set():
            return True  # the waiting batches went to the spool: sweep once the store is back
        try:
            self.correlator.sweep(now_ms())
            if self.repair is not None:
                self.repair.run(now_ms())
        except StoreError as exc:
            log.warning("trace sweep failed; next try at the next interval",
                        extra={"error": str(exc)})
        except Exception:  # noqa: BLE001 - a bug some trace meets: as in _flush
            log.exception("trace sweep failed; next try at the next interval")
            self.store_errors.inc("sweep_crash")
        return True
