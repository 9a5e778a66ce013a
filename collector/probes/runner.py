"""Runs the configured probes on their intervals inside ``midwatch run`` (or once, for the CLI).

One scheduler thread hands due probes to a small thread pool. Every run has its probe's
timeout on each network call, a probe still running when it is due again is skipped (never
stacked), and the pool has a thread per probe up to ``max_threads``: a slow probe costs its
own thread, never another probe's turn. Results are written straight to the store; a store
that is down loses those samples only (the next run measures again), never blocks the probes.

With a metrics registry (``expose_metrics``: ``midwatch run`` hands it the service's), every run
is also counted in ``/metrics``: ``midwatch_probe_runs_total{probe,result}``,
``midwatch_probe_duration_seconds{probe}`` and ``midwatch_probe_last_success_timestamp_seconds
{probe}``. A run's result is ``ok`` when every reading is ok (what ``probes run --once`` prints
as ok), ``timeout`` when it failed on the probe's timeout, ``error`` for any other failure
(target down or refusing, certificate not trusted, cluster red) and ``skipped_overrun`` when
it was due while the previous run was still going. The ``probe`` label only takes the
configured names.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from collector.event import Event
from collector.metrics import MAX_SERIES, Registry
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


OK, ERROR, TIMEOUT, SKIPPED = "ok", "error", "timeout", "skipped_overrun"
RESULTS = (OK, ERROR, TIMEOUT, SKIPPED)


@dataclass(frozen=True, slots=True)
class Run:
    """One run of one probe: its events, its result (``RESULTS``) and how long it took."""

    events: list[Event]
    result: str
    seconds: float


def measure(item: Scheduled, at_ms: int) -> Run:
    """One run of one probe; a probe that fails says so in ``probe.up``."""
    start = time.perf_counter_ns()
    raised: Exception | None = None
    try:
        readings = item.probe.run(item.spec.timeout_ms / 1000)
        up = Reading("probe.up", 1, {"endpoint": item.identity.target})
    except Exception as exc:  # any failure of the target or the client is a failed probe
        log.warning("probe %s (%s) failed: %s", item.spec.name, item.spec.kind, exc)
        raised = exc
        readings = []
        up = Reading("probe.up", 0, {"endpoint": item.identity.target}, ok=False,
                     error=f"{type(exc).__name__}: {exc}")
        # Start the next run from a fresh connection (the broker may have moved).
        _close(item)
    took = time.perf_counter_ns() - start
    events = [to_event(item.identity, r, at_ms, took if r is up else None)
              for r in (up, *readings)]
    if all(e.outcome == "success" for e in events):
        result = OK
    elif _is_timeout(raised) or took >= item.spec.timeout_ms * 1_000_000:
        # Probes that report their own failures (http, tls) have no exception to show: a
        # failed run that used up the whole timeout is a timeout all the same.
        result = TIMEOUT
    else:
        result = ERROR
    return Run(events, result, took / 1e9)


def run_probe(item: Scheduled, at_ms: int) -> list[Event]:
    """One run of one probe as events (``measure`` without the result)."""
    return measure(item, at_ms).events


def check(spec: ProbeSpec) -> Run:
    """One probe run once, its client closed after (``midwatch doctor``)."""
    item = build(spec)
    try:
        return measure(item, now_ms())
    finally:
        _close(item)


def _is_timeout(exc: BaseException | None) -> bool:
    # TimeoutError (socket timeouts), kafka's KafkaTimeoutError, httpget's ProbeTimeout:
    # matched by name so that no client library has to be imported here. Only the class's own
    # name: urllib3's NewConnectionError (a refused connection) derives from a timeout class.
    return isinstance(exc, TimeoutError) or (exc is not None and "Timeout" in type(exc).__name__)


class ProbeMetrics:
    """The probes' series in a ``collector.metrics.Registry`` (see the module docstring)."""

    def __init__(self, registry: Registry, names: Sequence[str] = ()):
        self.runs = registry.counter("midwatch_probe_runs_total",
                                     "Probe runs by result (ok, error, timeout, "
                                     "skipped_overrun).", ("probe", "result"))
        self.duration = registry.histogram("midwatch_probe_duration_seconds",
                                           "How long one probe run took.", ("probe",))
        self.last_success = registry.gauge("midwatch_probe_last_success_timestamp_seconds",
                                           "Unix time of the probe's last ok run.", ("probe",))
        # Every result from zero, so that increase() sees the first failure; only while the
        # series fit under the registry's cap (past it they would all land in "overflow").
        if len(names) * len(RESULTS) <= MAX_SERIES:
            for name in names:
                for result in RESULTS:
                    self.runs.inc(name, result, by=0)

    def record(self, name: str, run: Run) -> None:
        self.runs.inc(name, run.result)
        self.duration.observe(run.seconds, name)
        if run.result == OK:
            self.last_success.set(time.time(), name)

    def skipped(self, name: str) -> None:
        self.runs.inc(name, SKIPPED)


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
        self.metrics: ProbeMetrics | None = None

    def expose_metrics(self, registry: Registry) -> None:
        """Count runs in ``registry`` (``/metrics`` of ``midwatch run``); again is harmless."""
        self.metrics = ProbeMetrics(registry, [i.spec.name for i in self.items])

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
                if self.metrics is not None:
                    self.metrics.skipped(item.spec.name)
                log.warning("probe %s is still running after %d ms; skipping this run",
                            item.spec.name, interval)
                return
            item.running = True
        self.pool.submit(self._run, item, now)

    def _run(self, item: Scheduled, at_ms: int) -> None:
        events: list[Event] = []
        try:
            done = measure(item, at_ms)
            events = done.events
            item.runs += 1
            if self.metrics is not None:
                self.metrics.record(item.spec.name, done)
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
