"""The parse note: what a start does with the note a dead run left (see also the real-process
test in tests/integration/test_faults_crash_loop.py)."""

from __future__ import annotations

import orjson

from collector.event import DeadLetter, Event
from collector.inputs.lines import LineReader
from collector.inputs.parse_guard import ParseGuard
from collector.parsers._base import ParseContext

CTX = ParseContext(now_ms=1_765_000_000_000)


def _file(tmp_path, n: int) -> tuple[str, bytes]:
    path = tmp_path / "app.log"
    data = b"".join(orjson.dumps({"message": f"line {i}"}) + b"\n" for i in range(n))
    path.write_bytes(data)
    return str(path), data


def _reader(source: str, offset: int = 0, line: int = 0) -> LineReader:
    return LineReader.open(CTX, "json", source, "1:", offset, line, 1 << 20)


def _read(guard: ParseGuard, source: str, data: bytes, chunk: int) -> list:
    reader = _reader(source)
    out: list = []
    with open(source, "rb") as fh:
        for offset in range(0, len(data), chunk):
            items, _, reader = guard.feed(
                "1:1", source, fh.fileno(), reader, data[offset:offset + chunk], offset,
                CTX.now_ms, lambda off, line: _reader(source, off, line))
            out.extend(items)
    return out


def test_a_clean_read_leaves_an_empty_note(tmp_path):
    source, data = _file(tmp_path, 50)
    guard = ParseGuard(tmp_path / "cp", "tail", CTX)
    items = _read(guard, source, data, 256)
    assert len(items) == 50 and all(isinstance(i, Event) for i in items)
    assert (tmp_path / "cp" / "tail.parsing.json").read_bytes() == b""


def test_a_range_noted_by_a_dead_run_is_read_again_whole_when_nothing_crashes(tmp_path):
    """A kill -9 that had nothing to do with the data costs nothing."""
    source, data = _file(tmp_path, 50)
    note = tmp_path / "tail.parsing.json"
    note.write_bytes(orjson.dumps({"key": "1:1", "source": source, "start": 200, "end": 700,
                                   "line": 0, "narrow": False}))
    guard = ParseGuard(tmp_path, "tail", CTX)
    items = _read(guard, source, data, 256)
    assert [i.message for i in items] == [f"line {i}" for i in range(50)]
    assert guard.suspect is None and note.read_bytes() == b""


def test_a_record_noted_twice_is_dead_lettered_and_the_rest_is_read(tmp_path):
    source, data = _file(tmp_path, 50)
    lines = data.split(b"\n")
    start = sum(len(x) + 1 for x in lines[:20])
    end = start + len(lines[20]) + 1
    (tmp_path / "tail.parsing.json").write_bytes(orjson.dumps(
        {"key": "1:1", "source": source, "start": start, "end": end, "line": 20,
         "narrow": True}))
    guard = ParseGuard(tmp_path, "tail", CTX)
    items = _read(guard, source, data, 256)
    dead = [i for i in items if isinstance(i, DeadLetter)]
    assert len(dead) == 1 and dead[0].reason.startswith("crashed_process:")
    assert dead[0].raw == lines[20].decode() + "\n" and dead[0].line == 21
    events = [i for i in items if isinstance(i, Event)]
    assert [e.message for e in events] == [f"line {i}" for i in range(50) if i != 20]


def test_an_unreadable_note_is_ignored(tmp_path):
    (tmp_path / "tail.parsing.json").write_bytes(b"{not json")
    assert ParseGuard(tmp_path, "tail", CTX).suspect is None
