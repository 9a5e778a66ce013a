"""Runs the configured probes on their intervals inside ``midwatch run`` (or once, for the CLI).

One scheduler thread hands due probes to a small thread pool. Every run has its probe's
timeout on each network call, a probe still running when it is due again is skipped (never
stacked), and the pool has a thread per probe up to ``max_threads``: a slow probe costs its
own thread, never another probe's turn. Results are written straight to the store; a store
that is down loses those samples only (the next run measures again), never blocks the probes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collector.event import Event
from collector.probes.config import ProbeSpec
from collector.probes.reading import ProbeIdentity, Reading, to_event
from collector.store.base import Store, StoreError

log = logging.getLogger("midwatch.probes")
MAX_THREADS = 8


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Scheduled:
    spec: ProbeSpec
    probe: object
    identity: ProbeIdentity
    next_due_ms: int = 0
    running: bool = False
    runs: int = 0
    skipped: int = 0


def build(spec: ProbeSpec) -> Scheduled:
    probe = spec.module.Probe(spec.settings)
    return Scheduled(spec, probe, ProbeIdentity(spec.name, spec.kind, spec.module.PLATFORM,
                                                probe.target))


def run_probe(item: Scheduled, at_ms: int) -> list[Event]:
    """One run of one probe as events; a probe that fails says so in ``probe.up``."""
    start = time.perf_counter_ns()
    try:
        readings = item.probe.run(item.spec.timeout_ms / 1000)
        up = Reading("probe.up", 1, {"endpoint": item.identity.target})
    except Exception as exc:  # any failure of the target or the client is a failed probe
        log.warning("probe %s (%s) failed: %s", item.spec.name, item.spec.kind, exc)
        readings = []
        up = Reading("probe.up", 0, {"endpoint": item.identity.target}, ok=False,
                     error=f"{type(exc).__name__}: {exc}")
        # Start the next run from a fresh connection (the broker may have moved).
        _close(item)
    took = time.perf_counter_ns() - start
    return [to_event(item.identity, r, at_ms, took if r is up else None)
            for r in (up, *readings)]


def run_once(specs: Sequence[ProbeSpec], at_ms: int | None = None) -> list[Event]:
    """Every probe once, concurrently (``midwatch probes run --once``, tests)."""
    items = [build(s) for s in specs]
    at = now_ms() if at_ms is None else at_ms
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(len(items), MAX_THREADS))) as pool:
            return [e for events in pool.map(lambda i: run_probe(i, at), items) for e in events]
    finally:
        for item in items:
            _close(item)


class ProbeRunner:
    """The worker ``midwatch run`` starts: ``start()`` and ``stop()`` like the rule scheduler."""

    def __init__(self, specs: Sequence[ProbeSpec], store: Store, *,
                 clock: Callable[[], int] = now_ms, max_threads: int = MAX_THREADS):
        self.items = [build(s) for s in specs]
        self.store = store
        self.clock = clock
        self.stopping = threading.Event()
        # Threads start only when needed, so the cap costs nothing with few probes.
        self.pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="probe")
        self.thread = threading.Thread(target=self.run, name="probe-scheduler", daemon=True)
        self._lock = threading.Lock()
        self.written = 0
        self.write_failures = 0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for item in self.items:
            _close(item)

    def run(self) -> None:
        while not self.stopping.is_set():
            now = self.clock()
            for item in self.items:
                if now >= item.next_due_ms:
                    self._dispatch(item, now)
            next_due = min((i.next_due_ms for i in self.items), default=now + 1000)
            self.stopping.wait(max(next_due - self.clock(), 50) / 1000)

    def _dispatch(self, item: Scheduled, now: int) -> None:
        interval = item.spec.interval_ms
        # Aligned to the interval, like rule ticks, so samples of restarts and replicas line up.
        item.next_due_ms = now - now % interval + interval
        with self._lock:
            if item.running:
                item.skipped += 1
                log.warning("probe %s is still running after %d ms; skipping this run",
                            item.spec.name, interval)
                return
            item.running = True
        self.pool.submit(self._run, item, now)

    def _run(self, item: Scheduled, at_ms: int) -> None:
        events: list[Event] = []
        try:
            events = run_probe(item, at_ms)
            item.runs += 1
            self.store.write_events(events)
            self.written += len(events)
        except StoreError as exc:
            self.write_failures += 1
            log.error("probe %s: %d results not stored: %s", item.spec.name, len(events), exc)
        finally:
            with self._lock:
                item.running = False


def _close(item: Scheduled) -> None:
    try:
        item.probe.close()
    except Exception as exc:  # closing a broken client must not hide the probe's own error
        log.debug("probe %s: close failed: %s", item.spec.name, exc)
