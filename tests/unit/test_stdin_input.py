"""The stdin input: a pipe read to its end, framed and parsed like a file."""

from __future__ import annotations

import io
import os
import threading
import time

from collector.config import CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.stdin import Config as StdinConfig
from collector.inputs.stdin import StdinInput as Reader

LINE = '{"timestamp":"2024-05-01T10:00:00Z","message":"m%d","correlationId":"c-%d"}\n'


def test_codepage_pipe_with_explicit_encoding():
    """A Windows tool piping in its ANSI code page: read as cp1252, not as broken UTF-8."""
    data = "".join(LINE % (i, i) for i in range(3)).replace(':"m', ':"Müller ').replace("\n", "\r\n")
    reader = Reader(StdinConfig(name="pipe", format="json", encoding="cp1252"),
                    parse_context(CollectorSettings(), frozenset(), None),
                    stream=io.BytesIO(data.encode("cp1252")))
    q = ChunkQueue(8)
    reader.run(q)
    items = [i for c in iter(lambda: q.get(0.01), None) for i in c.items]
    assert [i.message for i in items if isinstance(i, Event)] == [
        "Müller 0", "Müller 1", "Müller 2"]
    assert not [i for i in items if isinstance(i, DeadLetter)]


def test_reads_to_the_end_in_chunks_and_keeps_bad_lines():
    data = "".join(LINE % (i, i) for i in range(2500)) + "\x00\x01 binary garbage\n"
    reader = Reader(StdinConfig(name="pipe", format="json"),
                    parse_context(CollectorSettings(), frozenset(), None),
                    stream=io.BytesIO(data.encode()))
    q = ChunkQueue(8)
    reader.run(q)
    chunks = [c for c in iter(lambda: q.get(0.01), None)]
    items = [i for c in chunks for i in c.items]
    # a chunk per read (64 KiB: 4 for these 195 KB), and the end of the pipe's (empty here)
    assert len(chunks) == 5 and sum(c.records for c in chunks) == 2501
    events = [i for i in items if isinstance(i, Event)]
    assert [e.message for e in events[:2]] == ["m0", "m1"] and len(events) == 2500
    assert len({e.id for e in events}) == 2500
    (dead,) = [i for i in items if isinstance(i, DeadLetter)]
    assert dead.line == 2501 and dead.reason.startswith("parse_error")


def test_a_live_pipe_lines_go_on_as_they_come():
    """``tail -F app.log | midwatch run``: three lines of a quiet log were held until 2,000
    had come (or the pipe closed), so they were stored hours late or, stopped, never."""
    r, w = os.pipe()
    reader = Reader(StdinConfig(name="pipe", format="json"),
                    parse_context(CollectorSettings(), frozenset(), None),
                    stream=os.fdopen(r, "rb"))
    q = ChunkQueue(8)
    worker = threading.Thread(target=reader.run, args=(q,), daemon=True)
    worker.start()
    os.write(w, "".join(LINE % (i, i) for i in range(3)).encode())
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:  # polled with a deadline
        chunk = q.get(0.05)
        got += [i.message for i in chunk.items] if chunk is not None else []
    assert got == ["m0", "m1", "m2"] and worker.is_alive()  # the pipe is still open
    os.close(w)
    worker.join(10)
    assert not worker.is_alive()
