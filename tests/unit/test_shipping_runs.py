"""A run of one file's shipped lines (``collector.envelopes.shipped.Run``) is parsed exactly as
its messages one by one: the same events (each stamped with the message that opened its
record), dead letters, counters and held origins (what Kafka commits up to), with the native
fast path and Filebeat reader and without them (``MIDWATCH_NATIVE=0``'s reference path).

The reference here is ``Delivery.parse_unwrapped`` of the messages' ``Shipped`` one each (no
``Run``), which is how every message was read before runs; each test also asserts that runs
were made, so none can pass by reading everything one by one.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest

from collector import native
from collector.envelopes import shipped, shippers
from collector.envelopes.shipped import MIN_RUN, Run, Shipped, runs
from collector.event import Event, Record
from collector.parse import ParseStats
from collector.parsers._base import ParseContext
from collector.shipping import Delivery

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import parse_bench  # noqa: E402

NOW_MS = 1_709_900_000_000
needs_native = pytest.mark.skipif(native.filebeat_runs() is None,
                                  reason="midwatch_native not built (make venv builds it), "
                                         "or turned off (MIDWATCH_NATIVE=0)")


def test_native_runs_are_built_in_ci() -> None:
    """A build from before ``FilebeatDocs.runs`` reads per message, correctly but slower:
    in CI that is a failure, not a silent skip of the native tests here."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("outside CI the extension is optional")
    assert native.filebeat_runs() is not None, "rebuild native/ (make venv)"


def filebeat(path: str, line: str, offset: int | None, stamp: str, host: str = "mule-01") -> str:
    log: dict = {"file": {"path": path}}
    if offset is not None:
        log["offset"] = offset
    return json.dumps({"@timestamp": stamp, "agent": {"type": "filebeat"},
                       "host": {"name": host}, "input": {"type": "filestream"}, "log": log,
                       "message": line})


def documents(seed: int, offsets: str) -> list[str]:
    """Mule (stack traces), NGINX, JSON and X12 lines of four files in runs of random
    length, each message with its own time; now and then two lines joined in one message
    (a shipper's multi-line setting), and a document no run takes (flattened keys)."""
    rng = random.Random(seed)
    files = {"/opt/mule/app.log": parse_bench.mule_events(150, random.Random(seed))[0],
             "/var/log/nginx/access.log": parse_bench.nginx_events(100, random.Random(seed))[0],
             "/var/log/app.jsonl": parse_bench.json_events(100, random.Random(seed))[0],
             "/data/po.edi": parse_bench.x12_sets(15, random.Random(seed))[0]}
    rows = {path: data.decode().splitlines() for path, data in files.items()}
    at = dict.fromkeys(files, 0)
    docs: list[str] = []
    while any(rows.values()):
        for path, left in rows.items():
            take = rng.randint(1, 60)
            chunk, rows[path] = left[:take], left[take:]
            while chunk:
                line = chunk.pop(0)
                if chunk and rng.random() < 0.04:
                    line += "\n" + chunk.pop(0)
                offset = at[path] if offsets == "all" or (
                    offsets == "some" and rng.random() < 0.8) else None
                docs.append(filebeat(path, line, offset,
                                     f"2024-03-01T10:15:{len(docs) % 60:02d}.{len(docs) % 7:03d}Z"))
                at[path] += len(line.encode()) + 1
    for k in range(11, len(docs), 150):
        docs[k] = json.dumps({"message": "a flattened one", "log.file.path": "/flat",
                              "agent.type": "filebeat", "@timestamp": "2024-03-01T10:15:33Z"})
    return docs


def deliver(docs: list[str], poll: int, replayable: bool, keep_open: bool, how: str,
            keep_lines: bool = False) -> tuple[list, list, ParseStats, int]:
    """The items (with, for a delivery that keeps its lines, its ``provisional`` events after
    each poll), the positions ``held`` names after each poll, the counters, and how many
    messages came in runs: the Kafka input's path (``how`` "records": one ``Delivery``
    across polls), the syslog and http inputs' (``frames``, not replayable), or each
    message's ``Shipped`` parsed one by one (``one``: the reference)."""
    ctx, stats = ParseContext(now_ms=NOW_MS, redact_key=b"k" * 32), ParseStats()
    delivery, shapes = Delivery(ctx, stats, keep_lines=keep_lines), shippers.Shapes()
    records = [Record(text=t, source="topic", position=f"0:{i}", ingested_ms=NOW_MS)
               for i, t in enumerate(docs)]
    items, held, made = [], [], 0
    rng = random.Random(poll)
    for start in range(0, len(records), poll):
        batch = records[start:start + poll]
        delivery.tick()
        if how == "frames":
            made += sum(len(found.lines) for found in delivery._shapes.unwrap_runs(
                [r.text for r in batch], [r.source for r in batch]) if found.__class__ is Run)
            items.extend(delivery.frames([r.text.encode() for r in batch], "topic", NOW_MS))
        else:
            unwrapped = (shapes.unwrap_all([r.text for r in batch], [r.source for r in batch])
                         if how == "one" else delivery.envelopes(batch))
            made += sum(len(found.lines) for found in unwrapped if found.__class__ is Run)
            items.extend(delivery.parse_unwrapped(batch, unwrapped, replayable))
        if keep_open:
            delivery.end()
            if keep_lines:
                items.append(("provisional", delivery.provisional()))
            if rng.random() < 0.3:
                items.extend(delivery.finish_idle(0))
        else:
            items.extend(delivery.finish())
        held.append([record.position if record else None for record in delivery.held()])
    items.extend(delivery.finish())
    return items, held, stats, made


def same(got: tuple, want: tuple, docs: list[str], poll: int, origins: bool = True) -> None:
    (items, held, stats, made), (ref, ref_held, ref_stats, none) = got, want
    assert none == 0 and made > len(docs) * (0.3 if poll < 60 else 0.8)
    assert stats == ref_stats
    assert len(items) == len(ref) > 350
    for g, w in zip(items, ref, strict=True):
        assert g == w
    if origins:
        assert held == ref_held


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(("offsets", "poll", "replayable", "keep_open"), [
    ("all", 500, True, False), ("all", 7, True, True), ("none", 50, True, True),
    ("none", 500, False, False), ("some", 37, False, True), ("some", 500, True, True),
])
def test_runs_parse_as_their_messages_one_by_one(fast, offsets, poll, replayable, keep_open):
    if fast and native.filebeat_runs() is None:
        pytest.skip("midwatch_native not built (make venv builds it)")
    before = native.use(fast)
    try:
        docs = documents(len(offsets) + poll, offsets)
        got = deliver(docs, poll, replayable, keep_open, "records")
        want = deliver(docs, poll, replayable, keep_open, "one")
    finally:
        native.use(before)
    same(got, want, docs, poll)
    if keep_open:
        assert any(got[1]), "records were held across polls"


def syslog(docs: list[str], paths: bool) -> list[str]:
    """The documents' lines as RFC 5424 frames (rsyslog's template: the file path as
    structured data; or named by program alone); the flattened one stays as it is."""
    frames = []
    for text in docs:
        doc = json.loads(text)
        if "log" not in doc:
            frames.append(text)
            continue
        path = doc["log"]["file"]["path"]
        where = f'[file@32473 path="{path}"]' if paths else "-"
        frames.append(f"<134>1 {doc['@timestamp']} mule-01 {path.rsplit('/', 1)[-1]} - - "
                      f"{where} {doc['message']}")
    return frames


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(("offsets", "poll", "keep_lines"), [
    ("all", 1000, True), ("some", 60, True), ("none", 200, False), ("all", 9, False),
    ("syslog", 500, False), ("syslog-app", 40, False),
])
def test_frames_in_runs_parse_as_their_messages_one_by_one(fast, offsets, poll, keep_lines):
    """The syslog and http inputs' frames (http keeps its lines for ``provisional``: the
    open records stored as they stand before it answers, the same with runs): Filebeat
    documents, and syslog frames with the file path or the program alone."""
    if fast and native.filebeat_runs() is None:
        pytest.skip("midwatch_native not built (make venv builds it)")
    before = native.use(fast)
    try:
        docs = documents(len(offsets) + poll, offsets)
        if offsets.startswith("syslog"):
            docs = syslog(docs, offsets == "syslog")
        got = deliver(docs, poll, False, True, "frames", keep_lines)
        want = deliver(docs, poll, False, True, "one", keep_lines)
    finally:
        native.use(before)
    same(got, want, docs, poll, origins=False)
    if keep_lines:
        shown = [ev for item in got[0] if isinstance(item, tuple) for ev in item[1]]
        assert any(isinstance(ev, Event) for ev in shown), "records held open, stored as they stand"


@needs_native
def test_native_runs_are_the_runs_of_the_python_reader():
    """The native reader's runs against ``runs`` of the Python matcher's ``Shipped``: the
    same grouping (a new run at another file, host or shipper, around a joined line and a
    declined document), the same lines, offsets and times."""
    stamp = "2024-03-01T10:15:33.004Z"
    docs = [filebeat("/a", f"a{k}", 10 * k, stamp) for k in range(4)]
    docs += [filebeat("/a", "joined\nline", 40, stamp), filebeat("/a", "cr\r", 50, stamp)]
    docs += [filebeat("/a", f"b{k}", 60 + k, f"2024-03-01T10:15:3{k}Z") for k in range(3)]
    docs += [filebeat("/a", "other host", 70, stamp, host="mule-02")]
    docs += [filebeat("/b", f"c{k}", None if k == 1 else k, stamp) for k in range(5)]
    docs += [json.dumps(json.loads(docs[0]) | {"agent": {"type": "elastic-agent"}})] * 3
    docs += [filebeat("/b", "é \"quoted\" \\", 9, stamp)] * 2
    shapes = shippers.Shapes()
    shapes.unwrap_all(docs[:2], ["t", "t"])  # the source is learned as Filebeat's
    got = shapes.unwrap_runs(docs, ["t"] * len(docs))
    native.use(False)
    try:
        want = runs(shippers.Shapes().unwrap_all(docs, ["t"] * len(docs)))
    finally:
        native.use(True)
    assert got == want
    assert [len(f.lines) if isinstance(f, Run) else 1 for f in got] == [
        4, 1, 1, 3, 1, 5, 3, 1, 1]
    assert [f.offsets for f in got if isinstance(f, Run)] == [True, True, False, True]
    assert got[3].created == [1709288130000, 1709288131000, 1709288132000]
    assert got[0].at(2) == Shipped("a2", "filebeat", "mule-01", "/a", 20, 1709288133004)


@needs_native
def test_a_batch_with_a_document_the_native_reader_declines_is_read_as_unwrap_all():
    """A declined document (flattened keys) sends the batch the Python matcher's way, so a
    batch's answer never depends on which reader made it; its runs are made all the same."""
    stamp = "2024-03-01T10:15:33.004Z"
    docs = [filebeat("/a", f"a{k}", k, stamp) for k in range(5)]
    docs.insert(2, json.dumps({"message": "flat", "log.file.path": "/a", "agent.type": "filebeat"}))
    shapes = shippers.Shapes()
    shapes.unwrap_all(docs[:2], ["t", "t"])
    assert native.filebeat_runs()(docs)[1] is None
    got = shapes.unwrap_runs(docs, ["t"] * len(docs))
    assert got == runs(shapes.unwrap_all(docs, ["t"] * len(docs)))
    assert [type(f) for f in got] == [Shipped, Shipped, Shipped, Run]


def test_runs_take_only_enough_one_line_messages_of_one_source():
    found = [Shipped(f"l{k}", "filebeat", "h", "/a", k, 1) for k in range(MIN_RUN)]
    apart = Shipped("x", "filebeat", None, None, None, 1)  # names no source: its input's
    joined = Shipped("a\nb", "filebeat", "h", "/a", 9, 1)
    assert runs([*found[:2], None, *found]) == [*found[:2], None, Run(
        "filebeat", "h", "/a", [(f.line, f.offset, 0, False, True) for f in found],
        [1] * MIN_RUN, True)]
    assert runs([apart] * 4 + [joined] * 4) == [apart] * 4 + [joined] * 4


@pytest.mark.parametrize(("value", "ms"), [
    (1_709_546_400, 1_709_546_400_000), (1_709_546_400.5, 1_709_546_400_500),
    (1_709_546_400_000, 1_709_546_400_000), (-1.8e305, 0), (float("inf"), 0),
    (float("nan"), 0), (-5, 0), (1e300, 0), (True, 0), (None, 0)])
def test_a_shipper_time_no_clock_gives_is_no_time(value: object, ms: int) -> None:
    """A Filebeat document's ``@timestamp`` of -1.8e305 (found by the generated-document
    test) raised OverflowError and failed the whole delivery."""
    assert shipped.when(value) == ms


@pytest.mark.skipif(native.batch_parser("mule", ParseContext()) is None,
                    reason="midwatch_native not built (make venv builds it)")
def test_records_taken_whole_are_stamped_without_a_shipped_each(monkeypatch):
    """NGINX lines sent over syslog, records taken by the native fast path: stamped per
    stretch of messages of one time, not a ``Shipped`` made (``Run.at``) for every event,
    which cost the syslog and http inputs' workers ~2 us an event. The stamps are those of
    each event's own message (``test_frames_in_runs_parse_as_their_messages_one_by_one``)."""
    made: list[int] = []
    real_at = Run.at
    monkeypatch.setattr(Run, "at", lambda run, k: made.append(k) or real_at(run, k))
    rows = parse_bench.nginx_events(600, random.Random(3))[0].decode().splitlines()
    texts = [f"<134>1 2024-03-01T10:15:3{i // 300}.004Z web-01 nginx - - [file@32473 "
             f'path="/var/log/nginx/access.log"] {row}' for i, row in enumerate(rows)]
    delivery = Delivery(ParseContext(now_ms=NOW_MS), ParseStats())
    items = delivery.frames([t.encode() for t in texts], "syslog:peer", NOW_MS)
    items += delivery.finish()
    events = [i for i in items if isinstance(i, Event)]
    assert len(events) == len(rows) == 600
    assert {e.created_ms for e in events} == {1_709_288_130_004, 1_709_288_131_004}
    # A ``Shipped`` for the first line, each of the first records a source's parser reads
    # line by line (it notes their outline), and each change of time.
    assert len(made) < 50
