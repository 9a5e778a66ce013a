"""Rotation while a writer logs at a steady rate: no line lost or duplicated where the rotation
is observable, and the loss counted where it is not.

A writer thread logs numbered JSON lines at RATE lines/s and rotates its log every ROTATE_S
the way each scheme does it; the file input tails the directory in its own thread, as in
``midwatch run``, and every chunk is acknowledged and committed as the writer would. The loss
per mode is printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from collector.config import CollectorSettings
from collector.event import Event
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.file import Config as FileConfig
from collector.inputs.file import FileInput as FileTail
from collector.metrics import Registry

RATE = 250  # lines per second
DURATION_S = 3.2
ROTATE_S = 0.8
# logrotate's create mode: the application goes on writing to the renamed file until it
# reopens its log (after postrotate's signal); this many lines.
LATE_LINES = 40
# A run ends once every line was read or, lines lost, nothing new came for this long after
# the writer's end: long enough that a reader starved by a loaded machine is not taken for a
# loss (1.5 s once ended a rename run 90 lines early at load 20).
QUIET_S = 6.0


def line(n: int) -> bytes:
    return orjson.dumps({"timestamp": "2024-05-01T10:00:00Z", "message": f"line {n}",
                         "pad": "x" * 60}) + b"\n"


@dataclass
class Writer:
    """Writes lines 0..N-1 to ``path``, calling ``rotate`` every ROTATE_S."""

    path: Path
    rotate: Callable[[Writer], None]
    fh: object = None
    n: int = 0
    rotations: int = 0
    late: list = field(default_factory=list)  # create mode: (old handle, lines left)
    done: threading.Event = field(default_factory=threading.Event)
    at_rotation: list[int] = field(default_factory=list)  # first line after each rotation

    def run(self) -> None:
        self.fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 - reopened on rotation
        started = time.monotonic()
        next_rotation = started + ROTATE_S
        while (now := time.monotonic()) - started < DURATION_S:
            if now >= next_rotation:
                self.rotations += 1
                self.rotate(self)
                self.at_rotation.append(self.n)
                next_rotation += ROTATE_S
            target = self.late[0][0] if self.late else self.fh
            target.write(line(self.n))
            self.n += 1
            if self.late:
                self.late[0][1] -= 1
                if self.late[0][1] == 0:
                    self.late.pop()[0].close()
            # Pacing the writer (not synchronizing with the reader): the next line's slot.
            time.sleep(max(0.0, started + self.n / RATE - time.monotonic()))
        self.fh.close()
        self.done.set()

    def rotated_name(self, directory: Path | None = None) -> Path:
        return (directory or self.path.parent) / f"{self.path.name}.{self.rotations}"


def rename(w: Writer) -> None:
    w.fh.close()
    os.rename(w.path, w.rotated_name())
    w.fh = open(w.path, "ab", buffering=0)  # noqa: SIM115


def create(w: Writer) -> None:
    """logrotate ``create``: rename, create the new file; the writer reopens later."""
    os.rename(w.path, w.rotated_name())
    w.late.append([w.fh, LATE_LINES])
    w.fh = open(w.path, "ab", buffering=0)  # noqa: SIM115


# A copier as slow as one on a loaded machine: the copy exists, empty, this long before its
# first bytes, and is complete this long before the truncation. Longer than the input's
# rescan interval (100 ms), so a scan meets the copy in both states at every rotation
# (issue 21: it was read as a new file, 184 of 596 lines duplicated in a CI run).
COPY_PAUSE_S = 0.12


def copytruncate_into(directory: Path | None) -> Callable[[Writer], None]:
    def rotate(w: Writer) -> None:
        with open(w.path, "rb") as src, open(w.rotated_name(directory), "wb") as copy:
            time.sleep(COPY_PAUSE_S)  # pacing the copier, not synchronizing with the reader
            shutil.copyfileobj(src, copy, 4096)
        time.sleep(COPY_PAUSE_S)
        os.truncate(w.path, 0)  # the writer's O_APPEND handle goes on at the new end
    return rotate


def delete(w: Writer) -> None:
    w.fh.close()
    os.unlink(w.path)
    w.fh = open(w.path, "ab", buffering=0)  # noqa: SIM115


@dataclass
class Run:
    messages: Counter
    ids: dict[str, set[str]]
    metrics: str
    writer: Writer
    last_new: float = field(default_factory=time.monotonic)  # when a line was first seen

    def numbers(self) -> set[int]:
        return {int(m.split()[1]) for m in self.messages}

    def lost(self) -> list[int]:
        return sorted(set(range(self.writer.n)) - self.numbers())

    def metric(self, name: str) -> float:
        return metric_sum(self.metrics, name)


def metric_sum(text: str, name: str) -> float:
    """The sum of a metric's series in an exposition text (0 without any)."""
    return sum(float(x) for x in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))


def make_input(tmp_path: Path, paths: list[str], rotated: tuple[str, ...] = (),
               metrics: Registry | None = None) -> FileTail:
    cfg = FileConfig(name="rot", paths=tuple(paths), rotated=rotated, format="json",
                    rescan_interval_ms=100, multiline_timeout_ms=500, parse_worker=False)
    return FileTail(cfg, parse_context(CollectorSettings(), frozenset(), None),
                    str(tmp_path / "ckpt"), metrics or Registry())


class Reader:
    """A file input running in its thread; chunks acknowledged and committed as they come."""

    def __init__(self, inp: FileTail, run: Run):
        self.inp, self.run = inp, run
        self.queue = ChunkQueue(64)
        self.thread = threading.Thread(target=inp.run, args=(self.queue,), daemon=True)
        self.thread.start()

    def drain(self, until: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not until():
            chunk = self.queue.get(0.05)
            if chunk is None:
                continue
            for item in chunk.items:
                if isinstance(item, Event):
                    if item.message not in self.run.messages:
                        self.run.last_new = time.monotonic()
                    self.run.messages[item.message] += 1
                    self.run.ids.setdefault(item.message, set()).add(item.id)
            if chunk.ack is not None:
                chunk.ack()
            self.inp.commit()

    def stop(self) -> None:
        self.inp.stop()
        self.thread.join(10)
        self.drain(lambda: self.queue.depth() == 0, 2)
        self.inp.close()


def run_mode(tmp_path: Path, rotate: Callable[[Writer], None], paths: list[str],
             rotated: tuple[str, ...] = ()) -> Run:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    metrics = Registry()
    inp = make_input(tmp_path, [str(logs / p) for p in paths],
                     tuple(str(logs / r) for r in rotated), metrics)
    writer = Writer(logs / "app.log", rotate)
    run = Run(Counter(), {}, "", writer)
    reader = Reader(inp, run)
    wt = threading.Thread(target=writer.run, daemon=True)
    wt.start()
    # Until every line is read, or (lines lost) nothing new came for QUIET_S after the end.
    reader.drain(lambda: writer.done.is_set() and (
        len(run.numbers()) >= writer.n or time.monotonic() - run.last_new >= QUIET_S), 60)
    reader.drain(lambda: False, 0.7)  # anything read twice shows up now
    reader.stop()
    wt.join(5)
    run.metrics = metrics.expose()
    return run


def report(mode: str, run: Run) -> None:
    print(f"\nrotation {mode}: {run.writer.n} lines, {run.writer.rotations} rotations, "
          f"{len(run.lost())} lost, {sum(c - 1 for c in run.messages.values())} duplicated, "
          f"gaps counted {run.metric('midwatch_input_file_rotation_gaps_total'):g}, "
          f"bytes known unread {run.metric('midwatch_input_file_unread_bytes_total'):g}")


def assert_exact(run: Run) -> None:
    assert run.writer.rotations >= 3
    assert run.lost() == [], f"lost lines {run.lost()[:20]}"
    dup = {m: c for m, c in run.messages.items() if c > 1}
    assert dup == {}, f"duplicated {list(dup.items())[:10]}"
    assert run.metric("midwatch_input_file_rotation_gaps_total") == 0


@pytest.mark.parametrize(("mode", "rotate", "paths"), [
    ("rename", rename, ["*.log"]),
    ("rename, rotated names matched", rename, ["app.log*"]),
    ("create", create, ["*.log"]),
    ("delete while open", delete, ["*.log"]),
])
def test_rotation_loses_and_duplicates_nothing(tmp_path, mode, rotate, paths):
    run = run_mode(tmp_path, rotate, paths)
    report(mode, run)
    assert_exact(run)


@pytest.mark.parametrize(("mode", "paths", "rotated"), [
    ("copytruncate, copies matched by paths", ["app.log*"], ()),
    ("copytruncate, copies named by rotated", ["app.log"], ("app.log.*",)),
])
def test_copytruncate_with_the_copy_in_sight_loses_nothing(tmp_path, mode, paths, rotated):
    run = run_mode(tmp_path, copytruncate_into(None), paths, rotated)
    report(mode, run)
    assert_exact(run)


def test_copytruncate_without_a_copy_counts_each_gap(tmp_path):
    """The copies go where no pattern looks: what was written between the last read and a
    truncation is lost, and only that: the missing lines sit right before rotations, and
    every rotation that lost something is counted."""
    (tmp_path / "elsewhere").mkdir()
    run = run_mode(tmp_path, copytruncate_into(tmp_path / "elsewhere"), ["app.log"])
    report("copytruncate, copy out of sight", run)
    w = run.writer
    assert w.rotations >= 3
    assert all(c == 1 for c in run.messages.values())
    for n in run.lost():
        before = [r for r in w.at_rotation if r > n]
        assert before and before[0] - n <= RATE, f"line {n} lost away from a rotation"
    gaps = run.metric("midwatch_input_file_rotation_gaps_total")
    assert gaps == w.rotations, "each truncation noticed and counted"


def test_rename_while_stopped_is_finished_from_its_new_name(tmp_path):
    """Stopped mid-stream; the log is renamed to a name the pattern does not match and a
    new one started; the restarted input finishes the renamed file from its checkpoint."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "app.log"
    with path.open("ab") as fh:
        for n in range(300):
            fh.write(line(n))
    run = Run(Counter(), {}, "", Writer(path, rename))
    first = Reader(make_input(tmp_path, [str(logs / "*.log")]), run)
    first.drain(lambda: len(run.messages) >= 100, 10)
    first.stop()
    read_before = len(run.messages)
    with path.open("ab") as fh:  # the application went on while midwatch was down
        for n in range(300, 400):
            fh.write(line(n))
    path.rename(logs / "app.log.old")  # *.log no longer matches it
    with path.open("ab") as fh:
        for n in range(400, 450):
            fh.write(line(n))
    run.writer.n = 450
    metrics = Registry()
    second = Reader(make_input(tmp_path, [str(logs / "*.log")], metrics=metrics), run)
    second.drain(lambda: len(run.numbers()) >= 450, 10)
    second.drain(lambda: False, 0.7)  # the renamed file, finished, is then dropped
    second.stop()
    print(f"\nrotation rename while stopped: 450 lines, {read_before} read before the stop, "
          f"{len(run.lost())} lost")
    assert run.lost() == []
    assert all(len(ids) == 1 for ids in run.ids.values()), "a replay keeps its event IDs"
    assert metric_sum(metrics.expose(), "midwatch_input_file_rotation_gaps_total") == 0


def test_file_gone_while_stopped_is_warned_with_its_unread_bytes(tmp_path, caplog):
    """Checkpointed with bytes not yet acknowledged (an open record), then moved out of its
    directory while stopped: a warning with those bytes, a counted gap, and the entry is
    dropped. A file read to its end that is gone (retention deleting old rotations) is not
    a gap."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path, done = logs / "app.log", logs / "old.log"
    path.write_bytes(b"".join(line(n) for n in range(50)))
    done.write_bytes(line(99))
    inp = make_input(tmp_path, [str(logs / "*.log")])
    inp.scan()
    for tail in list(inp.tails.values()):
        inp.read(tail).ack()
    inp.close()
    with path.open("ab") as fh:  # a line still being written: read, not acknowledged
        fh.write(line(50)[:30])
    second = make_input(tmp_path, [str(logs / "*.log")])
    second.scan()
    for tail in list(second.tails.values()):
        if (chunk := second.read(tail)) is not None:
            chunk.ack()
    second.close()
    (pos,) = [p for p in second.checkpoints.load().values() if p.source == str(path)]
    assert pos.size - pos.offset == 30
    (tmp_path / "archive").mkdir()
    path.rename(tmp_path / "archive" / "app.log.1")  # out of its directory
    done.unlink()
    metrics = Registry()
    with caplog.at_level("INFO", logger="midwatch.inputs.file"):
        again = make_input(tmp_path, [str(logs / "*.log")], metrics=metrics)
        again.scan()
        again.commit()
    text = metrics.expose()
    assert 'midwatch_input_file_rotation_gaps_total{input="rot",cause="vanished"} 1' in text
    assert 'midwatch_input_file_unread_bytes_total{input="rot",cause="vanished"} 30' in text
    warned = [r for r in caplog.records if "its unread rest is lost" in r.getMessage()]
    assert [(r.source, r.bytes) for r in warned] == [(str(path), 30)]
    assert again.checkpoints.load() == {}, "gone files are dropped from the checkpoint"
