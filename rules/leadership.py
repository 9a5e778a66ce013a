"""Which of many ``midwatch run`` processes on one store evaluates rules and sends: the holder
of the ``rules`` lease in the store (``collector.store.paging``).

Every process runs this thread. It tries to take or renew the lease every ``ttl/3``; the
holder counts itself leader only until ``ttl - ttl/5`` after the start of its last
successful renewal (measured on its monotonic clock), while the others wait for the stored
expiry (``ttl`` after the renewal) to pass. So a holder that cannot renew (store away,
process paused) stops evaluating and sending before anyone else may start: that is the
fence. A holder killed with SIGKILL is replaced within ``ttl + ttl/3`` (< 2 x ttl).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from collector.store.base import StoreError
from collector.store.paging import Fence, LeaseStore

log = logging.getLogger("midwatch.rules")

LEASE = "rules"
DEFAULT_TTL_MS = 15_000


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    def __init__(self, leases: LeaseStore, *, ttl_ms: int = DEFAULT_TTL_MS,
                 clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000):
        self.leases = leases
        self.ttl_ms = ttl_ms
        self.clock = clock
        self.holder = holder_id()
        self.token = 0
        self._valid_until = 0.0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rules-lease", daemon=True)

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def fence(self) -> Fence:
        """What this process writes under: the store refuses it once another holds the lease."""
        return Fence(LEASE, self.holder, self.token)

    def renew(self) -> bool:
        """Take or renew once; whether this process is the leader now."""
        was = self.held()
        started = time.monotonic()
        taken_from = ""
        try:
            lease = self.leases.acquire(LEASE, self.holder, self.ttl_ms, self.clock())
        except StoreError as exc:  # keeps what it had: the lease runs out by itself
            log.error("cannot renew the rules lease: %s", exc)
        else:
            if lease is None:  # another process holds it
                self._valid_until = 0.0
            else:
                self.token = lease.token
                taken_from = lease.taken_from
                self._valid_until = started + (self.ttl_ms - self.ttl_ms // 5) / 1000
        now = self.held()
        if now != was:
            self._said(now, taken_from)
        return now

    def _said(self, now: bool, taken_from: str) -> None:
        """A normal start (lease free or released) is news, not a warning; taking it from a
        holder whose term ran out unreleased is (two may act at once if that one is only
        paused), and so is losing it."""
        if now and not taken_from:
            log.info("rules lease taken: this process evaluates rules (token %d, holder %s)",
                     self.token, self.holder)
        elif now:
            log.warning("rules lease taken over from %s, whose lease ran out unreleased: "
                        "this process evaluates rules (token %d, holder %s)",
                        taken_from, self.token, self.holder)
        else:
            log.warning("rules lease lost (token %d, holder %s)", self.token, self.holder)

    def start(self) -> None:
        self.renew()
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.ttl_ms / 3000):
            self.renew()

    def stop(self) -> None:
        """Give the lease up so another process takes over at once, not after the TTL."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        if self.held():
            self._valid_until = 0.0
            try:
                self.leases.release(LEASE, self.holder)
            except StoreError as exc:
                log.warning("cannot release the rules lease (others take over after %d s): %s",
                            self.ttl_ms // 1000, exc)
