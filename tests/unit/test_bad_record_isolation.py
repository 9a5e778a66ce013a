"""One bad record never stops the pipeline (issue 29): a record that makes the parser, the
normalizer, the correlator or the store raise is dead-lettered with its reason, and every
other record of the same batch is stored. The store (SQLite) and the correlator are real; the
bad records are injected as data: a parser stand-in that raises, an event the normalizer
cannot take, one whose ID is not text (the correlator raises), and one whose duration no
64-bit field holds (the store's encoder raises)."""

from __future__ import annotations

import sqlite3
import threading
import types

import orjson
from test_pipeline import Recorder

from collector.config import Batch
from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event, Record
from collector.inputs.base import Chunk, ChunkQueue
from collector.metrics import Registry
from collector.parse import ParseStats, run_parser
from collector.parsers._base import ParseContext
from collector.service.pipeline import Pipeline
from collector.store.sqlite import SQLiteStore

NOW = 1_765_000_000_000
CTX = ParseContext(now_ms=NOW)


def good(n: int) -> Event:
    return Event(timestamp_ms=NOW + n, dataset="generic.json", platform="generic",
                 message=f"good {n}", id=f"good-{n}", ingested_ms=NOW, ids=[f"order:{n}"])


def _raise(record: Record, ctx: ParseContext) -> list[Event]:
    raise RuntimeError(f"parser bug on {record.text!r}")


def _unnormalizable(record: Record, ctx: ParseContext) -> list[Event]:
    return [Event(timestamp_ms=NOW, dataset="d", platform="generic", message=None)]  # type: ignore[arg-type]


def test_each_stage_raising_on_one_record_dead_letters_that_record_only(tmp_path):
    stats = ParseStats()
    parse_out = []
    for fn, text in ((_raise, "line that crashes the parser"),
                     (_unnormalizable, "line whose event crashes normalize")):
        parser = types.SimpleNamespace(NAME="stand-in", parse=fn)
        parse_out += run_parser(Record(text=text, source="in.log", line=1, ingested_ms=NOW),
                                parser, CTX, stats)  # type: ignore[arg-type]
    assert stats.deadletters["parser_crash"] == 2
    bad_for_correlator = Event(timestamp_ms=NOW, dataset="d", platform="generic",
                               id="bad-correlate", ids=[12345])  # type: ignore[list-item]
    bad_for_store = Event(timestamp_ms=NOW, dataset="d", platform="generic", id="bad-store",
                          duration_ns=10**30)
    items = [good(1), *parse_out, bad_for_correlator, good(2), bad_for_store, good(3)]

    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    store.setup()
    queue = ChunkQueue(4)
    acked = []
    assert queue.offer(Chunk("rec", items, len(items), 1000, ack=lambda: acked.append(1)), 0)
    assert queue.offer(Chunk("rec", [good(4)], 1, 10, ack=lambda: acked.append(2)), 0)
    rec = Recorder()
    pipeline = Pipeline(store, queue, [rec], Batch(flush_interval_ms=20, max_events=100),
                        Registry(), Correlator(empty_catalog(), store), backoff_start_s=0.01,
                        shutdown_grace_s=0.2)
    assert pipeline.run(threading.Event(), lambda: True) is True
    store.close()

    assert acked == [1, 2] and rec.commits >= 1
    db = sqlite3.connect(path)
    stored = sorted(row[0] for row in db.execute("SELECT id FROM events"))
    assert stored == ["good-1", "good-2", "good-3", "good-4"]
    dead = [orjson.loads(row[0]) for row in db.execute("SELECT doc FROM deadletter")]
    reasons = sorted(d["reason"].split(":", 1)[0] for d in dead)
    assert reasons == ["correlate_failed", "parser_crash", "parser_crash", "store_failed"]
    by_kind = {d["reason"].split(":", 1)[0]: d for d in dead}
    assert "AttributeError" in by_kind["correlate_failed"]["reason"]
    assert by_kind["correlate_failed"]["source"] == "event:bad-correlate"
    assert by_kind["correlate_failed"]["stage"] == "correlate"
    assert "64-bit" in by_kind["store_failed"]["reason"]
    assert "bad-store" in by_kind["store_failed"]["raw"]
    assert pipeline.dead.value("correlate_failed") == 1
    assert pipeline.dead.value("store_failed") == 1
    assert pipeline.dead.value("parser_crash") == 2
    assert pipeline.indexed.total() == 4
    traces = db.execute("SELECT count(*) FROM traces").fetchone()[0]
    assert traces == 4, "the good events were correlated (one trace per order ID)"


def test_a_trace_the_store_code_cannot_write_does_not_stop_the_writer(tmp_path):
    """An event that bypassed normalization with a time no 64-bit column holds: its trace
    write raises (not a StoreError) in every batch; events go on being stored."""
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(path)
    store.setup()
    poison = Event(timestamp_ms=10**30, dataset="d", platform="generic", id="bad-trace",
                   ids=["order:poison"])
    queue = ChunkQueue(4)
    assert queue.offer(Chunk("rec", [good(1), poison], 2, 100), 0)
    assert queue.offer(Chunk("rec", [good(2)], 1, 10), 0)
    pipeline = Pipeline(store, queue, [Recorder()], Batch(flush_interval_ms=20, max_events=2),
                        Registry(), Correlator(empty_catalog(), store, idle_ttl_ms=0),
                        backoff_start_s=0.01, shutdown_grace_s=0.2, sweep_interval_ms=0)
    assert pipeline.run(threading.Event(), lambda: True) is True
    store.close()
    db = sqlite3.connect(path)
    assert sorted(r[0] for r in db.execute("SELECT id FROM events")) == ["good-1", "good-2"]
    assert pipeline.store_errors.value("sweep_crash") >= 1, "the sweep met it too, and went on"
    (reason,) = [orjson.loads(r[0])["reason"] for r in db.execute("SELECT doc FROM deadletter")]
    assert reason.startswith("store_failed: OverflowError")
    assert pipeline.store_errors.value("traces_crash") >= 1
