"""What the store keeps for paging: the notification outbox and the evaluator lease, beside
(not inside) the ``Store`` protocol so each backend's code is its own module.

An outbox record is a plain dict (see ``rules.outbox``): ``id``, ``notifier``, ``key`` (dedup
key), ``rule``, ``action``, ``state`` (pending, delivered, superseded, expired, failed),
``created_ms``, ``next_ms``, ``attempts``, ``last_error``, ``delivered_ms``, ``log`` (the last
attempts) and ``notification``. The store only keeps and finds them; deciding is the rules'.

A lease is one named row/document holding (holder, token, expires_ms): whoever holds it
unexpired is the one rule evaluator among many ``midwatch run`` processes on the store.

The holder writes alert state and outbox records under a ``Fence`` (its holder and token):
the store refuses such a write (``Deposed``) once another process has taken the lease, so a
leader paused past its TTL that wakes up mid-evaluation changes nothing. SQLite checks the
lease row in the write's own transaction; Elasticsearch has no multi-document transactions,
so it reads the lease (real time) before the write and writes each document with an external
version derived from the token, which a newer holder's write of that document outranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from collector.store.base import Store, StoreError


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    token: int
    expires_ms: int
    # The holder this acquire took the lease from while its term ran out unreleased (it
    # may be alive: paused, cut off); "" when the lease was free, released, or already ours.
    taken_from: str = ""


@dataclass(frozen=True, slots=True)
class Fence:
    lease: str
    holder: str
    token: int


class Deposed(StoreError):
    """A fenced write refused: another process holds the lease now (or a newer token wrote)."""


class OutboxStore(Protocol):
    def put(self, records: Sequence[dict], fence: Fence | None = None) -> None:
        """Write records by ``id`` (replacing), visible to this process's next read; with a
        fence, refused (``Deposed``) unless it still holds."""

    def pending(self, notifier: str, limit: int) -> list[dict]:
        """Undelivered records of one notifier, oldest first."""

    def current(self, ids: Sequence[str]) -> list[dict]:
        """These records as they are now (Elasticsearch: real-time GET, not a search), in
        the order asked; missing ones left out. What a worker is about to send is checked
        here, so a search that lags behind the last writes never sends a record twice."""

    def of_rule(self, rule: str, limit: int, key: str | None = None) -> list[dict]:
        """Any records of one rule (of one alert of it, with ``key``), newest first."""

    def of_alerts(self, alerts: Sequence[tuple[str, str]], limit: int
                  ) -> dict[tuple[str, str], list[dict]]:
        """``of_rule(rule, limit, key)`` of each (rule, key), all at once: what a delivery
        pass reads for every alert with a pending resolve. Elasticsearch asks them in
        ``_msearch`` requests, not one search after another (200 alerts: 1.9-8.0 s a pass
        one by one); the answers are those of the single reads, and one that fails fails all
        as the single read would (``StoreUnavailable`` while it may pass)."""

    def of_rules_since(self, since: Mapping[str, int], limit: int,
                       before: Mapping[str, tuple[int, str]] | None = None
                       ) -> dict[str, list[dict]]:
        """Each rule's records created at or after its time in ``since``, newest first (by
        ``created_ms``, then ``id``), at most ``limit`` a rule, all at once (Elasticsearch:
        ``_msearch`` as ``of_alerts``): what a new lease holder reads at restore for the
        decisions the alert state missed. ``before``: per rule, the (``created_ms``, ``id``)
        of the last record of its previous page; this page starts after it (a pass may have
        decided more than one page, and records of one write share their ``created_ms``)."""

    def summary(self) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
        """(record count by (notifier, state), oldest pending ``created_ms`` by notifier)."""

    def purge(self, states: Sequence[str], before_ms: int, limit: int) -> int:
        """Delete at most ``limit`` records in ``states`` created before ``before_ms``: how
        many went. Bounded, so one sweep of a long-neglected outbox stays short."""


class LeaseStore(Protocol):
    def acquire(self, name: str, holder: str, ttl_ms: int, now_ms: int) -> Lease | None:
        """Take or renew the lease: the held lease, or None while another holds it unexpired.
        A takeover increments the token (the fencing token)."""

    def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (clean stop) if still held by ``holder``."""

    def put_state(self, namespace: str, key: str, doc: dict | None, fence: Fence) -> None:
        """``Store.put_state`` under ``fence``: ``Deposed`` when it no longer holds."""


def _sqlite(store: Store) -> bool:
    """Checked this way round so the SQLite path never imports the Elasticsearch client."""
    from collector.store.sqlite import SQLiteStore

    return isinstance(store, SQLiteStore)


def outbox_for(store: Store) -> OutboxStore:
    if _sqlite(store):
        from collector.store.outbox_sqlite import SQLiteOutbox

        return SQLiteOutbox(store)  # type: ignore[arg-type]
    from collector.store.outbox_es import EsOutbox

    return EsOutbox(store)  # type: ignore[arg-type]


def lease_for(store: Store) -> LeaseStore:
    if _sqlite(store):
        from collector.store.lease_sqlite import SQLiteLease

        return SQLiteLease(store)  # type: ignore[arg-type]
    from collector.store.lease_es import EsLease

    return EsLease(store)  # type: ignore[arg-type]
