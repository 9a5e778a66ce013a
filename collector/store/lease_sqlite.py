"""The evaluator lease in SQLite: one row per lease name, taken or renewed inside one
``BEGIN IMMEDIATE`` transaction, so two processes on the same file cannot both win. A fenced
write (alert state, outbox records) reads the lease row in its own transaction: a deposed
holder's write is refused as a whole, never half done."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from collector.store.paging import Deposed, Fence, Lease
from collector.store.sqlite import SQLiteStore, put_state_in

SCHEMA = ("CREATE TABLE IF NOT EXISTS lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, "
          "token INTEGER NOT NULL, expires_ms INTEGER NOT NULL)")


class SQLiteLease:
    def __init__(self, store: SQLiteStore):
        self.store = store
        with store._tx() as db:
            db.execute(SCHEMA)

    def acquire(self, name: str, holder: str, ttl_ms: int, now_ms: int) -> Lease | None:
        with self.store._tx() as db:
            row = db.execute("SELECT holder, token, expires_ms FROM lease WHERE name = ?",
                             (name,)).fetchone()
            if row is not None and row[0] != holder and row[2] > now_ms:
                return None
            token = 1 if row is None else row[1] + (row[0] != holder)
            db.execute("INSERT OR REPLACE INTO lease VALUES (?, ?, ?, ?)",
                       (name, holder, token, now_ms + ttl_ms))
        taken_from = row[0] if row is not None and row[0] != holder and row[2] else ""
        return Lease(holder, token, now_ms + ttl_ms, taken_from)

    def put_state(self, namespace: str, key: str, doc: dict | None, fence: Fence) -> None:
        with fenced(self.store, fence) as db:
            put_state_in(db, namespace, key, doc)

    def release(self, name: str, holder: str) -> None:
        with self.store._tx() as db:
            db.execute("UPDATE lease SET expires_ms = 0 WHERE name = ? AND holder = ?",
                       (name, holder))


@contextmanager
def fenced(store: SQLiteStore, fence: Fence) -> Iterator[sqlite3.Connection]:
    """A write transaction that goes ahead only while ``fence`` holds the lease."""
    with store._tx() as db:
        row = db.execute("SELECT holder, token FROM lease WHERE name = ?",
                         (fence.lease,)).fetchone()
        if row is None or (row[0], row[1]) != (fence.holder, fence.token):
            raise deposed(fence, row)
        yield db


def deposed(fence: Fence, current: tuple | None) -> Deposed:
    now = f"held by {current[0]} with token {current[1]}" if current else "not held"
    return Deposed(f"write refused: the {fence.lease} lease is {now}, not by this process "
                   f"({fence.holder}, token {fence.token}); another process evaluates rules now")
