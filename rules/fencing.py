"""What the rules leader writes goes through its lease's fence (``collector.store.paging``):
alert state and outbox records are refused once another process holds the lease, so a
leader paused past its TTL (GC, SIGSTOP, a frozen VM) that wakes up in the middle of an
evaluation or a delivery pass cannot overwrite what its successor decided. Refused writes
are counted (``midwatch_fenced_writes_refused_total{what}``) and raised as ``Deposed``."""

from __future__ import annotations

from collections.abc import Callable

from collector.store.paging import Deposed, Fence, LeaseStore


class Refusals:
    """Counts fenced writes refused, by what was written (``state`` or ``outbox``)."""

    def __init__(self) -> None:
        self.count: Callable[[str], None] = lambda what: None

    def expose(self, registry) -> None:
        refused = registry.counter("midwatch_fenced_writes_refused_total",
                                   "Writes of a deposed rules leader refused by the lease's "
                                   "fencing token (alert state, outbox records)", ("what",))
        self.count = lambda what: refused.inc(what)


class FencedState:
    """The rule engine's ``put_state`` under the leader's fence."""

    def __init__(self, leases: LeaseStore, fence: Callable[[], Fence], refusals: Refusals):
        self._leases, self._fence, self._refusals = leases, fence, refusals

    def put_state(self, namespace: str, key: str, doc: dict | None) -> None:
        try:
            self._leases.put_state(namespace, key, doc, self._fence())
        except Deposed:
            self._refusals.count("state")
            raise
