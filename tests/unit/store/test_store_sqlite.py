"""What only the SQLite store has: its file, its schema version, its threads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from collector.event import SCHEMA_VERSION, Event, event_id
from collector.store.base import MetricQuery, StoreError
from collector.store.sqlite import SQLiteStore

T0 = 1_709_546_400_000


def _events(tag: str, n: int) -> list[Event]:
    return [Event(T0 + i, "generic.json", "generic", f"{tag} {i}", id=event_id(tag, str(i)))
            for i in range(n)]


def test_documents_are_json_text_and_survive_reopening(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    store.write_events(_events("a", 3))
    store.close()
    with sqlite3.connect(tmp_sqlite_path) as db:
        # TEXT, not BLOB: SQLite 3.45+ would read a BLOB as binary JSONB and fail.
        assert db.execute("SELECT DISTINCT typeof(doc) FROM events").fetchall() == [("text",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    again = SQLiteStore(tmp_sqlite_path)
    again.setup()
    assert again.metric(MetricQuery("events", T0, T0 + 10))[0].count == 3
    again.close()


def test_a_file_from_a_newer_midwatch_is_refused(tmp_sqlite_path):
    with sqlite3.connect(tmp_sqlite_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SQLiteStore(tmp_sqlite_path)
    with pytest.raises(StoreError, match="written by a newer midwatch"):
        store.setup()
    store.close()


def test_threads_can_share_one_store(tmp_sqlite_path):
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            for k in range(10):
                store.write_events(_events(f"{tag}-{k}", 50))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.metric(MetricQuery("events", T0, T0 + 100))[0].count == 4 * 10 * 50
    store.close()


def test_an_unwritable_path_names_the_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=f"cannot open SQLite store {blocker}/x.sqlite"):
        SQLiteStore(blocker / "x.sqlite")


def test_reading_a_store_nothing_was_collected_into_says_so(tmp_sqlite_path):
    """Opening a path creates an empty file: a read command on a config whose collector
    never ran must say the store is empty, not "no such table: traces"."""
    store = SQLiteStore(tmp_sqlite_path)
    with pytest.raises(StoreError, match=r"is empty: nothing has been collected into it yet"):
        store.get_trace("order-1")
    store.setup()
    assert store.get_trace("order-1") is None
    with sqlite3.connect(tmp_sqlite_path) as db:
        db.execute("DROP TABLE traces")
    with pytest.raises(StoreError, match="no such table: traces"):  # a damaged store is not "empty"
        store.get_trace("order-1")
    store.close()
