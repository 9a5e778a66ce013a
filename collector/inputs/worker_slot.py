"""The parse worker of a listening shipper input (syslog, http), replaced when it dies.

Several threads (a syslog input's connections, the http listener's requests) share one
worker and may all see it die at once: exactly one of them starts the new one, the others
take it. Each replacement is logged and counted (``midwatch_input_parse_worker_restarts_total``)
so a worker dying over and over is seen on /metrics, not only in the log.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from collector.inputs.parse_worker import ParseWorker, WorkerFailed
from collector.metrics import Counter, Registry
from collector.parsers._base import ParseContext

if TYPE_CHECKING:
    from collector.correlation.joinview import CatalogSource

log = logging.getLogger("midwatch.inputs.worker")


def restarts_counter(metrics: Registry) -> Counter:
    return metrics.counter("midwatch_input_parse_worker_restarts_total",
                           "Parse workers of a syslog or http input started again after one "
                           "died (what they held open is re-read or refused, see "
                           "docs/shipping.md).", ("input",))


def worker_slot(ctx: ParseContext, name: str, parse_worker: bool,
                metrics: Registry | None) -> WorkerSlot | None:
    """The worker slot of listening input ``name``, or None when it parses in the collector's
    process (``parse_worker: false``); its restarts counted on ``metrics`` when given (tests
    and the bench build inputs without one)."""
    if not parse_worker:
        return None
    return WorkerSlot(ctx, name, restarts_counter(metrics) if metrics is not None else None)


class WorkerSlot:
    """The current worker of input ``name``; ``replace`` swaps a dead one once."""

    def __init__(self, ctx: ParseContext, name: str, restarts: Counter | None = None):
        self.ctx, self.name = ctx, name
        self.worker = ParseWorker(ctx, name, shipping=True)
        self.restarts = restarts
        # Events shipped as their document bytes (``collector.encoded``), as the file input's
        # worker ships them when nothing in the collector's process reads events.
        self.encode: bool | CatalogSource = False
        self._lock = threading.Lock()

    def encode_events(self, on: bool | CatalogSource) -> None:
        """Have the worker (and any that replaces it) ship events as document bytes (with
        a ``CatalogSource``: classified for the correlator too, ``ParseWorker``)."""
        with self._lock:
            self.encode = on
            self.worker.call("init", self.ctx, on)

    def replace(self, failed: ParseWorker, exc: WorkerFailed) -> bool:
        """Start a new worker if ``failed`` is still the current one: True when this call
        did (the caller then drops what it kept in the dead one), False when another thread
        had already."""
        with self._lock:
            if self.worker is not failed:
                return False
            log.error("parse worker failed; starting a new one",
                      extra={"input": self.name, "error": str(exc)})
            self.worker = ParseWorker(self.ctx, self.name, encode=self.encode,
                                      shipping=True)
            if self.restarts is not None:
                self.restarts.inc(self.name)
        failed.close()
        return True

    def close(self) -> None:
        self.worker.close()


class EncodesEvents:
    """``encode_events`` for an input parsing in a ``WorkerSlot`` (``workers``): set by the
    service (``collector.service.service.ship_encoded``) as it is on the file input."""

    workers: WorkerSlot | None

    @property
    def encode_events(self) -> bool | CatalogSource:
        return self.workers.encode if self.workers is not None else False

    @encode_events.setter
    def encode_events(self, on: bool | CatalogSource) -> None:
        if self.workers is not None:
            self.workers.encode_events(on)
