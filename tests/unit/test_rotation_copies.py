"""copytruncate copies met by a scan in each state a copier leaves them in, step by step (no
threads, no timing): every line read exactly once, and a copy never tailed as a file of its
own. The steady-rate suite (test_rotation_suite.py) covers the same under a running writer.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest

from collector.config import CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs.base import parse_context
from collector.inputs.file import Config as FileConfig
from collector.inputs.file import FileInput as FileTail
from collector.inputs.rotation import MIN_COPY_HEAD, Likeness, likeness
from collector.metrics import Registry


def msg(n: int) -> str:
    return f"line {n:04d}"  # every line of one length, as a padded layout writes them


def line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2024-05-01T10:00:00Z", "message": msg(n),
                         "pad": "x" * 70}) + b"\n"  # the last 64 bytes of every line alike


def lines(first: int, last: int) -> bytes:
    return b"".join(line(n) for n in range(first, last))


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    (tmp_path / "logs").mkdir()
    return tmp_path / "logs"


def make_input(tmp_path: Path, pattern: str = "app.log*") -> tuple[FileTail, Registry]:
    metrics = Registry()
    cfg = FileConfig(name="cp", paths=(str(tmp_path / "logs" / pattern),), format="json",
                    multiline_timeout_ms=0, parse_worker=False)
    return FileTail(cfg, parse_context(CollectorSettings(), frozenset(), None),
                    str(tmp_path / "ckpt"), metrics), metrics


def read_all(inp: FileTail, seen: list[str]) -> None:
    """Scan, then read every tail until none has anything (chunks acknowledged)."""
    inp.scan()
    while chunks := [c for t in list(inp.tails.values()) if (c := inp.read(t)) is not None]:
        for chunk in chunks:
            for item in chunk.items:
                assert not isinstance(item, DeadLetter), item.reason
                if isinstance(item, Event):
                    seen.append(item.message)
            chunk.ack()


def tailed(inp: FileTail) -> list[str]:
    return sorted(os.path.basename(t.path) for t in inp.tails.values())


def gaps(metrics: Registry) -> bool:
    return "midwatch_input_file_rotation_gaps_total{" in metrics.expose()


def truncate_then_write(inp: FileTail, app: Path, first: int, last: int,
                        seen: list[str]) -> None:
    """copytruncate's truncation, the writer going on at the start; then read to the end,
    and scan again: a copy not recognized would be tailed then, its fingerprint gone."""
    os.truncate(app, 0)
    with app.open("ab") as fh:
        fh.write(lines(first, last))
    read_all(inp, seen)
    read_all(inp, seen)


def assert_each_line_once(inp: FileTail, seen: list[str], n: int) -> None:
    assert sorted(seen) == sorted(msg(i) for i in range(n))
    assert tailed(inp) == ["app.log"], "no copy tailed"


def test_likeness_of_heads():
    read = b"a" * MIN_COPY_HEAD + b"bcd"
    assert likeness(read + b"more", read, b"") is Likeness.COPY
    assert likeness(read[:10], read, b"") is Likeness.PARTIAL  # a copy being written
    other = b"x" * (MIN_COPY_HEAD + 5)
    assert likeness(other, b"", other + b"more") is Likeness.UNREAD
    assert likeness(other, read, b"y" * 100) is Likeness.OTHER
    # Under MIN_COPY_HEAD bytes alike, two unrelated files may share a banner: not a copy.
    assert likeness(b"banner\n", b"banner\n", b"banner\n") is Likeness.OTHER


def test_copy_met_empty_then_complete_is_never_tailed(tmp_path, logs):
    app = logs / "app.log"
    app.write_bytes(lines(0, 30))
    inp, metrics = make_input(tmp_path)
    seen: list[str] = []
    read_all(inp, seen)
    copy = logs / "app.log.1"
    copy.touch()  # the copier has created the copy, not yet written it
    read_all(inp, seen)
    assert tailed(inp) == ["app.log"]
    with app.open("ab") as fh:
        fh.write(lines(30, 35))  # written before the copy: only the copy keeps them
    shutil.copyfile(app, copy)
    read_all(inp, seen)  # the scan meets the whole copy before the tail sees a truncation
    truncate_then_write(inp, app, 35, 40, seen)
    assert_each_line_once(inp, seen, 40)
    assert not gaps(metrics)


def test_copy_of_content_the_tail_has_not_read_waits_for_it(tmp_path, logs):
    """The tail is behind (a fresh generation, nothing read yet) when the copy appears: the
    copy is not read as a new file; once the tail has read, it is recognized as the copy."""
    app = logs / "app.log"
    app.touch()
    inp, metrics = make_input(tmp_path)
    seen: list[str] = []
    read_all(inp, seen)
    app.write_bytes(lines(0, 20))
    shutil.copyfile(app, logs / "app.log.1")
    inp.scan()  # before the tail has read a byte of it
    assert tailed(inp) == ["app.log"]
    read_all(inp, seen)
    truncate_then_write(inp, app, 20, 25, seen)
    assert_each_line_once(inp, seen, 25)
    assert not gaps(metrics)


def test_copy_shorter_than_what_was_read_is_remembered_at_the_truncation(tmp_path, logs):
    """The writer added lines after the copy was taken and we read them: the copy is a prefix
    of what we read (no rest to take from it), and must not be tailed afterwards."""
    app = logs / "app.log"
    app.write_bytes(lines(0, 8))
    inp, _ = make_input(tmp_path)
    seen: list[str] = []
    read_all(inp, seen)
    (logs / "app.log.1").write_bytes(lines(0, 5))  # taken before lines 5..7 were written
    read_all(inp, seen)
    truncate_then_write(inp, app, 8, 10, seen)
    assert_each_line_once(inp, seen, 10)


@pytest.mark.parametrize("pattern", ["app.log*", "app.log"])
def test_truncated_and_refilled_past_the_read_offset_is_seen(tmp_path, logs, pattern):
    """Truncated and written again beyond where the tail was before it looked: the size alone
    does not show it, nor the bytes before the read offset (lines of one length end alike
    there); the first bytes do. The new content is read from its start (not from the old
    offset), the old rest from the copy when in sight."""
    app = logs / "app.log"
    app.write_bytes(lines(0, 3))
    inp, metrics = make_input(tmp_path, pattern)
    seen: list[str] = []
    read_all(inp, seen)
    with app.open("ab") as fh:
        fh.write(lines(3, 5))  # not read before the rotation
    shutil.copyfile(app, logs / "app.log.1")
    truncate_then_write(inp, app, 5, 30, seen)  # 25 lines: past the 3 read
    expected = range(30) if pattern == "app.log*" else [*range(3), *range(5, 30)]
    assert sorted(seen) == sorted(msg(n) for n in expected)
    assert gaps(metrics) == (pattern == "app.log")
