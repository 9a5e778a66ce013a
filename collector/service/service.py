"""``midwatch run``: inputs, writer, correlator and API started together, stopped in order.

Stopping (SIGTERM, SIGINT, or every finite input ended): inputs stop reading; the writer
drains the queue, stores, acks and commits; then inputs close (the Kafka consumer commits its
last acked offsets and leaves its group), the API and workers stop, the store closes. A second
signal kills the process the default way.

Other packages run beside the pipeline as ``BackgroundJob``s (the rule scheduler, passed in by
the CLI, since ``collector`` imports nothing above it).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from collector.api import Api
from collector.config import Config
from collector.correlation.catalog import load_catalog
from collector.correlation.correlator import Correlator
from collector.correlation.joinview import CatalogSource
from collector.correlation.trace_repair import TraceRepair, repair_lease
from collector.gcsettings import collect_less
from collector.httpserver import ListenError
from collector.inputs import INPUTS
from collector.inputs.base import ChunkQueue, Input, parse_context
from collector.inputs.mapped_ids import mapped_id_types
from collector.knowledge import from_config as knowledge_of
from collector.metrics import Registry
from collector.redaction_key import load_key
from collector.service.pipeline import Correlating, Pipeline
from collector.service.spool import Spool, SpoolError
from collector.store.base import Store, StoreError
from collector.yamlconf import ConfigError, load

log = logging.getLogger("midwatch.service")

PROGRESS_TTY_S = 2.0
PROGRESS_LOG_S = 30.0
# Input threads parse without pausing and hold the GIL for Python's whole default 5 ms switch
# interval; every time the writer's bulk request comes back from the socket it waits for it
# (the convoy effect), so the store sat idle between requests. 0.5 ms: end-to-end file -> ES
# from ~0.6 to ~1.0 of raw helpers.bulk in the same run (bench/e2e_bench.py).
SWITCH_INTERVAL_S = 0.0005


class BackgroundJob(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def build_inputs(config: Config, metrics: Registry) -> list[Input]:
    """Each configured input built by its own module (``collector.inputs.INPUTS``)."""
    inputs: list[Input] = []
    settings = config.collector
    key = load_key(settings, config.file) if config.inputs else None
    for index, cfg in enumerate(config.inputs):
        ctx = parse_context(settings, config.edi_own_ids, getattr(cfg, "mapping", None), key)
        ctx.log_format = getattr(cfg, "log_format", None)
        ctx.date_order = getattr(cfg, "date_order", "auto")
        try:
            inputs.append(INPUTS.get(cfg.type).build(cfg, ctx, config, metrics))
        except ListenError as exc:
            raise ConfigError(config.file, None, f"inputs.{index}.listen",
                              f"input {cfg.name!r}: {exc}") from None
    return inputs


def ship_encoded(inputs: Sequence[Input], how: bool | CatalogSource = True) -> None:
    """Have the parse workers of file inputs ship events as their document bytes: nothing in
    this process reads an event then (no correlator, no known issues), and the store takes
    the bytes as they are (``collector.encoded``: a fifth of the collector's CPU per event).
    With a correlator, ``how`` is its catalog's source: the workers classify each event and
    add what the correlator reads (``collector.correlation.joinview``)."""
    for inp in inputs:
        if hasattr(inp, "encode_events"):
            inp.encode_events = how


def build_correlator(config: Config, store: Store) -> Correlating:
    """The correlator over the flow catalog (flows: may be empty: events then join the
    ``unknown`` flow and still correlate by their IDs)."""
    flows = config.section("flows")
    c = config.correlation
    data, doc, path = flows.data, flows.doc, flows.path
    if isinstance(data, str):
        # A catalog file is read once, here: parse workers start later (lazily, or after a
        # crash) and must classify by what this process validated and joins by, not by the
        # file as edited since (half-saved, it stopped the input).
        doc = load(Path(data))
        data, path = doc.data, ()
    mapped = mapped_id_types(config.inputs)
    return Correlator(load_catalog(data, doc, path, mapped_types=mapped), store,
                      max_in_flight=c.max_in_flight, idle_ttl_ms=c.idle_ttl_ms,
                      source=CatalogSource(data, path, mapped))


def open_spool(config: Config) -> Spool:
    try:
        return Spool(config.collector.spool.dir, config.collector.spool.max_bytes)
    except SpoolError as exc:
        raise ConfigError(config.file, None, "collector.spool.dir", str(exc)) from None


def build_repair(config: Config, store: Store, correlator: Correlating | None) -> TraceRepair | None:
    """Merging traces split across collectors (see ``collector.correlation.trace_repair``),
    next to the correlator whose catalog it shares; none without one."""
    catalog = getattr(correlator, "catalog", None)
    if catalog is None:
        return None
    return TraceRepair(catalog, store, window_ms=config.correlation.idle_ttl_ms,
                       lease=repair_lease(store, config.correlation.sweep_interval_ms))


class Service:
    def __init__(self, config: Config, store: Store, *, with_api: bool = True,
                 workers: Sequence[BackgroundJob] = (), correlator: Correlating | None = None,
                 progress_tty: bool | None = None, store_ready: bool = True):
        self.config, self.store = config, store
        self.metrics = Registry()
        self.queue = ChunkQueue(config.collector.queue_chunks)
        self.inputs = build_inputs(config, self.metrics)
        settings = config.collector
        knowledge = knowledge_of(config.doc)  # known issues: events filed under them, API
        if not knowledge and getattr(store, "writes_encoded", False):
            if correlator is None:
                ship_encoded(self.inputs)
            elif (source := getattr(correlator, "catalog_source", None)) is not None:
                ship_encoded(self.inputs, source)
        self.pipeline = Pipeline(store, self.queue, self.inputs, settings.batch,
                                 self.metrics, correlator,
                                 sweep_interval_ms=config.correlation.sweep_interval_ms,
                                 spool=open_spool(config),
                                 max_attempts=settings.max_attempts, store_ready=store_ready,
                                 repair=build_repair(config, store, correlator),
                                 knowledge=knowledge)
        try:
            self.api = (Api(config.api, store, self.metrics, knowledge) if with_api else None)
        except ListenError as exc:
            raise ConfigError(config.file, None, "api.listen", str(exc)) from None
        self.workers = list(workers)
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failed: list[str] = []
        self._progress_tty = sys.stderr.isatty() if progress_tty is None else progress_tty
        self._last = (0.0, 0.0)  # (monotonic time, events indexed) at the last progress line

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        for inp in self.inputs:
            thread = threading.Thread(target=self._run_input, args=(inp,),
                                      name=f"input-{inp.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.api is not None:
            self.api.server.serve_in_thread("api")
            log.info("API listening", extra={"listen": f"{self.config.api.listen[0]}:{self.api.port}"})
        for worker in self.workers:
            worker.start()
        threading.Thread(target=self._progress, name="progress", daemon=True).start()

    def _run_input(self, inp: Input) -> None:
        try:
            inp.run(self.queue)
        except Exception:
            log.exception("input failed; stopping the service", extra={"input": inp.name})
            self._failed.append(inp.name)
            self.stop()

    def inputs_done(self) -> bool:
        """Every input ended. Without inputs the service (API, rules, probes) runs until
        stopped rather than ending at once."""
        if not self.inputs:
            return self.stopping.is_set()
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        """Ask everything to finish; safe from a signal handler and from any thread."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        for inp in self.inputs:
            inp.stop()

    def run(self) -> int:
        """Start, write until stopped or every input ended, shut down. The exit status."""
        self._install_signals()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc_thresholds = collect_less()
        try:
            self.start()
            stored = self.pipeline.run(self.stopping, self.inputs_done)
            self.stop()
            if stored:
                self._publish()
            for thread in self._threads:
                thread.join(timeout=10)
            self.shutdown()
        finally:
            gc.set_threshold(*gc_thresholds)
        return 0 if stored and not self._failed else 1

    def _publish(self) -> None:
        """Make the last writes searchable now: the event and trace indices refresh only every
        few seconds (they are written far more than read), and whoever stops a run usually
        looks at its traces next."""
        try:
            self.store.refresh()
        except StoreError as exc:
            log.warning("could not refresh the store after the last write; searches may "
                        "miss it for a few seconds", extra={"error": str(exc)})

    def shutdown(self) -> None:
        for inp in self.inputs:
            try:
                inp.close()
            except Exception:
                log.exception("closing input failed", extra={"input": inp.name})
        for worker in self.workers:
            worker.stop()
        if self.api is not None:
            self.api.close()
        if self.pipeline.spool is not None:
            self.pipeline.spool.close()
        self._print_progress(final=True)

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, _frame: object) -> None:
            log.info("stopping: finishing the current batch", extra={"signal": signum})
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    # ---------------------------------------------------------------- progress

    def _progress(self) -> None:
        interval = PROGRESS_TTY_S if self._progress_tty else PROGRESS_LOG_S
        while not self.stopping.wait(interval):
            self._print_progress()

    def _figures(self) -> dict[str, float]:
        p = self.pipeline
        return {
            "read": p.read.total(),
            "indexed": p.indexed.total(),
            "deadlettered": p.dead.total(),
            "queue": self.queue.depth(),
            "spooled_bytes": p.spool.nbytes if p.spool is not None else 0,
        }

    def _print_progress(self, final: bool = False) -> None:
        figures = self._figures()
        now = time.monotonic()
        then, before = self._last
        rate = (figures["indexed"] - before) / (now - then) if then else 0.0
        self._last = (now, figures["indexed"])
        if self._progress_tty:
            line = (f"\r{figures['read']:,.0f} read  {figures['indexed']:,.0f} indexed  "
                    f"{figures['deadlettered']:,.0f} dead-lettered  {rate:,.0f} events/s  "
                    f"queue {figures['queue']:.0f}/{self.config.collector.queue_chunks}")
            sys.stderr.write(line + ("\n" if final else ""))
            sys.stderr.flush()
        else:
            log.info("progress", extra={**figures, "events_per_s": round(rate, 1)})

