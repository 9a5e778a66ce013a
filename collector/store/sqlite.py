"""The embedded store: one SQLite file, so midwatch runs on a laptop with no services.

Same semantics as the Elasticsearch store (one contract suite runs against both): events are
idempotent on ``event.id``, traces carry a version for optimistic concurrency, and a trace is
found by its key, any typed ID or a bare ID through the ``trace_ids`` table.

Thread safety: one connection per store, shared by threads under a lock, because SQLite
serializes writers anyway and one connection keeps the WAL reads consistent. Several
processes may open the same file (WAL + busy timeout), as the collector and ``midwatch
trace`` do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson

from collector.event import SCHEMA_VERSION, DeadLetter, Event, from_doc, ms_to_iso, to_doc
from collector.store import documents, metric_shape
from collector.store.base import (
    ConflictError,
    Filter,
    Index,
    MetricQuery,
    MetricRow,
    RawSource,
    StoreError,
    TraceQuery,
    WriteResult,
)
from collector.store.sqlite_query import metric_sql, where_sql
from collector.trace import Trace

# Raw query rules (``type: query``) read any index with the cluster's own query language.
RAW_REFUSED = ("rules with index:/query: (type query) need an Elasticsearch or OpenSearch "
               "store; the SQLite store holds only midwatch's own schema: set store.kind: "
               "elasticsearch, or write the rule with filter: on midwatch fields")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS event_ids (
    typed_id TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (typed_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS traces (
    trace_key TEXT PRIMARY KEY, version INTEGER NOT NULL, started INTEGER NOT NULL,
    last_seen INTEGER NOT NULL, ended INTEGER, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_last_seen ON traces (last_seen);
CREATE INDEX IF NOT EXISTS traces_started ON traces (started);
CREATE TABLE IF NOT EXISTS trace_ids (
    id TEXT NOT NULL, bare TEXT NOT NULL, trace_key TEXT NOT NULL, PRIMARY KEY (id, trace_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trace_ids_bare ON trace_ids (bare);
CREATE INDEX IF NOT EXISTS trace_ids_key ON trace_ids (trace_key);
CREATE TABLE IF NOT EXISTS alerts (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts);
CREATE TABLE IF NOT EXISTS deadletter (id TEXT PRIMARY KEY, ts INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deadletter_ts ON deadletter (ts);
CREATE TABLE IF NOT EXISTS state (
    namespace TEXT NOT NULL, key TEXT NOT NULL, updated INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
"""

_UPSERT_EVENT = (
    "INSERT INTO events (id, ts, doc) VALUES (?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET ts = excluded.ts, doc = excluded.doc"
)
_INSERT_EVENT_ID = "INSERT OR IGNORE INTO event_ids (typed_id, event_id) VALUES (?, ?)"
_TRACE_COLUMNS = "t.doc, t.version"


class SQLiteStore:
    def __init__(self, path: str | Path = "./var/midwatch.sqlite", *, busy_timeout_s: float = 10.0):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file;
            # the inputs replay from their unacknowledged positions.
            self._db.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from None

    # --- lifecycle -------------------------------------------------------------------
    def setup(self) -> None:
        with self._tx() as db:
            found = db.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer midwatch (schema {found}, this one "
                    f"knows {SCHEMA_VERSION}); upgrade midwatch or use another store path"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def ping(self) -> str:
        with self._read() as db:
            version = db.execute("SELECT sqlite_version()").fetchone()[0]
        return f"SQLite {version} at {self.path}"

    def refresh(self) -> None:
        """Nothing to do: a committed write is visible to the next read."""

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path}: {exc}") from None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                if "no such table" in str(exc) and self._unset():
                    raise StoreError(
                        f"SQLite store {self.path} is empty: nothing has been collected into it "
                        "yet (start the collector with `midwatch run` on this config, or try "
                        "`midwatch demo`)") from None
                raise StoreError(f"SQLite store {self.path}: {exc}") from None

    def _unset(self) -> bool:
        """Whether the file has no midwatch schema at all: opening a path that did not
        exist creates it empty, so a read command on a config whose collector never ran
        finds a file without tables (a raw "no such table" said nothing useful)."""
        try:
            return self._db.execute("PRAGMA user_version").fetchone()[0] == 0
        except sqlite3.Error:
            return False

    # --- write path ------------------------------------------------------------------
    def write_events(self, events: Sequence[Event]) -> WriteResult:
        result = WriteResult()
        rows, id_rows = [], []
        for ev in events:
            if not ev.id:
                result.rejected.append((ev, "event has no id (set it with collector.event.event_id)"))
                continue
            rows.append((ev.id, ev.timestamp_ms, _json(to_doc(ev))))
            id_rows.extend((typed, ev.id) for typed in ev.ids)
        with self._tx() as db:
            db.executemany(_UPSERT_EVENT, rows)
            db.executemany(_INSERT_EVENT_ID, id_rows)
        result.written = len(rows)
        return result

    def write_deadletters(self, items: Sequence[DeadLetter]) -> None:
        rows = []
        for item in items:
            ms = item.ingested_ms or documents.now_ms()
            doc = {**item.to_doc(), "@timestamp": ms_to_iso(ms)}
            rows.append((documents.deadletter_key(doc), ms, _json(doc)))
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO deadletter (id, ts, doc) VALUES (?, ?, ?)", rows)

    def get_traces_by_ids(self, ids: Iterable[str], *, since_ms: int | None = None,
                          until_ms: int | None = None) -> list[Trace]:
        wanted = _json(sorted(set(ids)))
        sql = (
            f"SELECT {_TRACE_COLUMNS} FROM traces t WHERE t.trace_key IN "
            "(SELECT trace_key FROM trace_ids WHERE id IN (SELECT value FROM json_each(:ids)))"
        )
        if since_ms is not None or until_ms is not None:
            sql += (" AND (t.last_seen >= :since AND t.started <= :until"
                    " OR t.trace_key IN (SELECT value FROM json_each(:ids)))")
        params = {"ids": wanted, "since": -(2**62) if since_ms is None else since_ms,
                  "until": 2**62 if until_ms is None else until_ms}
        with self._read() as db:
            return [_trace(row) for row in db.execute(sql, params)]

    def upsert_traces(self, traces: Sequence[Trace], deleted: Sequence[Trace] = ()) -> None:
        """All writes that did not conflict are committed; then ConflictError names the rest
        (as a bulk request to Elasticsearch behaves). Written traces get their new version."""
        conflicts: list[str] = []
        written: list[tuple[Trace, int]] = []
        with self._tx() as db:
            for trace in traces:
                version = self._write_trace(db, trace)
                if version is None:
                    conflicts.append(trace.trace_key)
                else:
                    written.append((trace, version))
            # One statement for the IDs of every written trace (the spill path writes
            # thousands of traces per flush).
            db.executemany(
                "INSERT OR IGNORE INTO trace_ids (id, bare, trace_key) VALUES (?, ?, ?)",
                [(i, documents.bare_id(i), t.trace_key) for t, _ in written for i in t.ids],
            )
            for trace in deleted:
                sql, params = "DELETE FROM traces WHERE trace_key = ?", [trace.trace_key]
                if trace.version is not None:
                    sql += " AND version = ?"
                    params.append(trace.version)
                if db.execute(sql, params).rowcount == 0 and trace.version is not None:
                    if db.execute("SELECT 1 FROM traces WHERE trace_key = ?",
                                  (trace.trace_key,)).fetchone():
                        conflicts.append(trace.trace_key)
                        continue
                db.execute("DELETE FROM trace_ids WHERE trace_key = ?", (trace.trace_key,))
        for trace, version in written:
            trace.version = version
        if conflicts:
            raise ConflictError(
                f"traces changed since they were read: {', '.join(conflicts)}; re-read and retry",
                trace_keys=tuple(conflicts),
            )

    @staticmethod
    def _write_trace(db: sqlite3.Connection, trace: Trace) -> int | None:
        """Write one trace if its version still matches; the new version, or None on conflict.
        Its ID rows are (re)written by the caller once the version check passed."""
        doc = _json(documents.trace_doc(trace))
        if trace.version is None:
            cur = db.execute(
                "INSERT OR IGNORE INTO traces (trace_key, version, started, last_seen, ended, doc)"
                " VALUES (?, 1, ?, ?, ?, ?)",
                (trace.trace_key, trace.started_ms, trace.last_seen_ms, trace.ended_ms, doc),
            )
            new_version = 1
        else:
            cur = db.execute(
                "UPDATE traces SET version = version + 1, started = ?, last_seen = ?, ended = ?,"
                " doc = ? WHERE trace_key = ? AND version = ?",
                (trace.started_ms, trace.last_seen_ms, trace.ended_ms, doc, trace.trace_key,
                 trace.version),
            )
            new_version = trace.version + 1
        if cur.rowcount == 0:
            return None
        if trace.version is not None:  # a new trace has no ID rows yet; the caller adds them
            db.execute("DELETE FROM trace_ids WHERE trace_key = ?", (trace.trace_key,))
        return new_version

    # --- read path -------------------------------------------------------------------
    def get_trace(self, any_id: str) -> Trace | None:
        found = self._find(any_id, 1, keyed=False)
        return found[0] if found else None

    def find_traces(self, any_id: str, limit: int = 50) -> list[Trace]:
        return self._find(any_id, limit, keyed=True)

    def _find(self, any_id: str, limit: int, *, keyed: bool) -> list[Trace]:
        """A trace_key or typed ID wins over a bare one: only the traces of the best of
        these kinds of match, most recently seen first (and, ``keyed``, the key's trace
        after them)."""
        sql = (
            "WITH m AS ("
            " SELECT trace_key, 1 AS rank FROM traces WHERE trace_key = :id"
            " UNION ALL SELECT trace_key, 1 FROM trace_ids WHERE id = :id"
            " UNION ALL SELECT trace_key, 2 FROM trace_ids WHERE bare = :id)"
            f" SELECT {_TRACE_COLUMNS} FROM traces t WHERE t.trace_key IN"
            " (SELECT trace_key FROM m WHERE rank = (SELECT MIN(rank) FROM m))"
            " ORDER BY t.last_seen DESC, t.trace_key LIMIT :limit"
        )
        value = any_id.strip()
        with self._read() as db:
            found = [_trace(row) for row in db.execute(sql, {"id": value, "limit": limit})]
            if keyed and len(found) == limit and all(t.trace_key != value for t in found):
                # the key names its trace alone (a permalink) also past ``limit`` later
                # messages reusing that ID
                found += [_trace(row) for row in db.execute(
                    f"SELECT {_TRACE_COLUMNS} FROM traces t WHERE t.trace_key = ?", (value,))]
        return found

    def search_traces(self, query: TraceQuery) -> list[Trace]:
        return self._traces(documents.trace_filters(query), query.since_ms, query.until_ms,
                            "t.last_seen DESC, t.trace_key", query.limit)

    def open_traces(self, last_seen_before_ms: int, limit: int = 1000) -> list[Trace]:
        filters = [Filter("status", "eq", "in_flight")]
        return self._traces(filters, None, last_seen_before_ms, "t.last_seen, t.trace_key", limit)

    def shared_trace_ids(self, last_seen_since_ms: int, limit: int = 500, *,
                         only_kinds: Iterable[str] | None = None,
                         skip_kinds: Iterable[str] = ()) -> list[str]:
        kind = "substr(i.id, 1, instr(i.id, ':') - 1)"
        where, params = "", []
        if only_kinds is not None:
            where, params = f" AND {kind} IN (SELECT value FROM json_each(?))", [
                _json(sorted(only_kinds))]
        elif skip_kinds:
            where, params = f" AND {kind} NOT IN (SELECT value FROM json_each(?))", [
                _json(sorted(skip_kinds))]
        sql = ("SELECT i.id FROM trace_ids i JOIN traces t ON t.trace_key = i.trace_key "
               f"WHERE t.last_seen >= ?{where} GROUP BY i.id HAVING COUNT(*) > 1 "
               "ORDER BY COUNT(*) DESC, i.id LIMIT ?")
        with self._read() as db:
            return [row[0] for row in db.execute(sql, (last_seen_since_ms, *params, limit))]

    def _traces(self, filters: list[Filter], since_ms: int | None, until_ms: int | None,
                order: str, limit: int) -> list[Trace]:
        where, params = where_sql(
            "traces", filters, time_field="last_seen", start_ms=since_ms, end_ms=until_ms
        )
        sql = f"SELECT {_TRACE_COLUMNS} FROM traces t WHERE {where} ORDER BY {order} LIMIT ?"
        with self._read() as db:
            return [_trace(row) for row in db.execute(sql, [*params, limit])]

    def trace_events(self, trace: Trace, limit: int = 1000) -> list[Event]:
        sql = (
            "SELECT e.doc FROM events e WHERE e.id IN (SELECT event_id FROM event_ids"
            " WHERE typed_id IN (SELECT value FROM json_each(?))) AND e.ts BETWEEN ? AND ?"
            " ORDER BY e.ts, e.id LIMIT ?"
        )
        with self._read() as db:
            rows = db.execute(sql, (_json(trace.ids), trace.started_ms, trace.last_seen_ms,
                                    limit)).fetchall()
        return [from_doc(orjson.loads(doc)) for (doc,) in rows]

    def search_events(
        self, filters: Sequence[Filter], start_ms: int, end_ms: int, limit: int = 100
    ) -> list[Event]:
        """Newest first."""
        docs = self._newest("events", filters, start_ms, end_ms, limit)
        return [from_doc(doc) for doc in docs]

    def search_deadletters(
        self, filters: Sequence[Filter], start_ms: int, end_ms: int, limit: int = 100
    ) -> list[dict]:
        return self._newest("deadletter", filters, start_ms, end_ms, limit, "".join(
            f"json_extract(doc, '$.{f}'), " for f in documents.DEADLETTER_TIES))

    def _newest(self, index: Index, filters: Sequence[Filter],
                start_ms: int, end_ms: int, limit: int, ties: str = "") -> list[dict]:
        """The documents of a table keyed by time (``ts``) that match, newest first (then by
        the ``ties`` SQL, then by key)."""
        metric_shape.validate_filters(index, filters)
        where, params = where_sql(
            index, list(filters), time_field="@timestamp", start_ms=start_ms, end_ms=end_ms
        )
        sql = f"SELECT doc FROM {index} WHERE {where} ORDER BY ts DESC, {ties}id LIMIT ?"
        with self._read() as db:
            rows = db.execute(sql, [*params, limit]).fetchall()
        return [orjson.loads(doc) for (doc,) in rows]

    def metric(self, q: MetricQuery) -> list[MetricRow]:
        if q.source is not None:
            raise ValueError(RAW_REFUSED)
        metric_shape.validate(q)
        sql, params = metric_sql(q)
        with self._read() as db:
            raw = db.execute(sql, params).fetchall()
        n = len(q.group_by)
        rows = []
        for r in raw:
            group = {
                name: metric_shape.typed_key(q.index, name, r[i]) for i, name in enumerate(q.group_by)
            }
            bucket, count, agg = r[n], r[n + 1], r[n + 2]
            rows.append(MetricRow(group, _value(q, count, agg), count, bucket))
        return metric_shape.order_rows(q, rows)

    def metrics(self, qs: Sequence[MetricQuery]) -> list[list[MetricRow]]:
        return [self.metric(q) for q in qs]

    def check_source(self, source: RawSource, fields: dict[str, str]) -> list[str]:
        return [RAW_REFUSED]

    # --- alert engine state ----------------------------------------------------------
    def append_alert_history(self, docs: Sequence[dict]) -> None:
        rows = []
        for doc in docs:
            ms, stamped = documents.alert_doc(doc)
            rows.append((ms, _json(stamped)))
        with self._tx() as db:
            db.executemany("INSERT INTO alerts (ts, doc) VALUES (?, ?)", rows)

    def put_state(self, namespace: str, key: str, doc: dict | None) -> None:
        with self._tx() as db:
            put_state_in(db, namespace, key, doc)

    def get_state(self, namespace: str) -> dict[str, dict]:
        with self._read() as db:
            rows = db.execute(
                "SELECT key, doc FROM state WHERE namespace = ? ORDER BY key", (namespace,)
            ).fetchall()
        return {key: orjson.loads(doc) for key, doc in rows}


def put_state_in(db: sqlite3.Connection, namespace: str, key: str, doc: dict | None) -> None:
    """``put_state`` inside a transaction the caller holds (a fenced write checks its lease
    in the same one: ``collector.store.lease_sqlite``)."""
    if doc is None:
        db.execute("DELETE FROM state WHERE namespace = ? AND key = ?", (namespace, key))
    else:
        db.execute(
            "INSERT OR REPLACE INTO state (namespace, key, updated, doc) VALUES (?, ?, ?, ?)",
            (namespace, key, documents.now_ms(), _json(doc)),
        )


def _json(value: object) -> str:
    """JSON as TEXT: SQLite 3.45+ reads a BLOB given to json functions as binary JSONB."""
    return orjson.dumps(value).decode()


def _trace(row: tuple) -> Trace:
    doc, version = row
    return Trace.from_doc(orjson.loads(doc), version=version)


def _value(q: MetricQuery, count: int, agg: object) -> float | None:
    kind = q.agg.kind
    if kind == "count":
        return float(count)
    if kind == "ratio":
        return agg / count if count else None
    if kind == "percentile":
        return metric_shape.percentile(sorted(orjson.loads(agg)), q.agg.q)
    if agg is None:
        return metric_shape.empty_value(q.agg)
    return float(agg)
