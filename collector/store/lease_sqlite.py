"""The evaluator lease in SQLite: one row per lease name, taken or renewed inside one
``BEGIN IMMEDIATE`` transaction, so two processes on the same file cannot both win."""

from __future__ import annotations

from collector.store.paging import Lease
from collector.store.sqlite import SQLiteStore

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
        return Lease(holder, token, now_ms + ttl_ms)

    def release(self, name: str, holder: str) -> None:
        with self.store._tx() as db:
            db.execute("UPDATE lease SET expires_ms = 0 WHERE name = ? AND holder = ?",
                       (name, holder))
