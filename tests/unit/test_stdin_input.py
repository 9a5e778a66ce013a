"""The stdin input: a pipe read to its end, framed and parsed like a file."""

from __future__ import annotations

import io

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
    assert len(chunks) == 2 and sum(c.records for c in chunks) == 2501
    events = [i for i in items if isinstance(i, Event)]
    assert [e.message for e in events[:2]] == ["m0", "m1"] and len(events) == 2500
    assert len({e.id for e in events}) == 2500
    (dead,) = [i for i in items if isinstance(i, DeadLetter)]
    assert dead.line == 2501 and dead.reason.startswith("parse_error")
