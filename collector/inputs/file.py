"""Tail files matched by globs, through rotation, with acknowledged checkpoints.

- Globs are re-evaluated every ``rescan_interval``, so files created later are picked up
  (from their beginning; ``start_at: end`` applies only to files present at start-up).
- Files are tracked by device + inode. Rename rotation: the old inode, no longer matched
  (or matched under its new name), is read to its end before it is closed; the new file at the
  path is a new tail. copytruncate: a file shorter than what was read restarts at 0 with its
  generation bumped, so the new content gets new event positions instead of overwriting the
  events of the old content. A file that disappears is read to its end through the open
  handle, then forgotten.
- Reads are chunked (``read_chunk_bytes``); a line longer than ``max_line_bytes`` is cut
  there, dead-lettered by the parse core as ``line_too_long``, and the rest of it skipped
  without being held. Invalid UTF-8 becomes U+FFFD and is parsed anyway (counted by the core).
- A record position is ``<inode>:<offset>`` (``<inode>.<generation>:<offset>`` after a
  truncation) and the source is the path the file had when first seen: event IDs stay the
  same across restarts and renames, so a replay overwrites instead of duplicating.
- The checkpoint of a file moves only when the writer acknowledges a chunk: to the start of
  the oldest record not yet emitted (a stack trace still waiting for its next line is re-read
  whole after a restart).
- What is being parsed is noted beside the checkpoint first (``collector.inputs.parse_guard``),
  so a record that kills the process is read carefully after a restart, and dead-lettered
  after a second death instead of being parsed forever.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from collector.config import FileInput as FileInputConfig
from collector.event import Event
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.inputs.checkpoint import CheckpointFile, FilePosition
from collector.inputs.lines import LineReader
from collector.inputs.parse_guard import ParseGuard
from collector.inputs.parse_worker import ParseWorker, RemoteReader
from collector.metrics import Registry
from collector.parse import Output
from collector.parsers.base import ParseContext

log = logging.getLogger("midwatch.inputs.file")

IDLE_POLL_S = 0.2


@dataclass(slots=True)
class Tail:
    """One open file: where it came from, and the reader turning its bytes into events."""

    fh: BinaryIO
    path: str
    start: FilePosition
    reader: LineReader | RemoteReader
    generation: int = 0
    last_data: float = field(default_factory=time.monotonic)
    draining: bool = False
    # Time of the last event read from it: files are read oldest first (see FileInput.run).
    event_ms: int = 0

    @property
    def key(self) -> str:
        return self.start.key

    def position(self) -> FilePosition:
        """Where a restart must resume so that nothing not yet emitted is lost."""
        offset, line = self.reader.resume_at()
        return FilePosition(self.start.source, self.start.dev, self.start.inode, offset, line,
                            self.generation)


def _event_ms(tail: Tail) -> int:
    return tail.event_ms


def position_prefix(inode: int, generation: int) -> str:
    return f"{inode}:" if generation == 0 else f"{inode}.{generation}:"


class FileInput:
    def __init__(self, cfg: FileInputConfig, ctx: ParseContext, checkpoint_dir: str,
                 metrics: Registry):
        self.name = cfg.name
        self.cfg = cfg
        self.ctx = ctx
        self.checkpoints = CheckpointFile(checkpoint_dir, cfg.name)
        self.guard = ParseGuard(checkpoint_dir, cfg.name, ctx)  # no crash loops
        self._saved = self.checkpoints.load()
        self._acked: dict[str, FilePosition] = dict(self._saved)
        self._ack_lock = threading.Lock()
        self._stop = threading.Event()
        self.tails: dict[str, Tail] = {}
        self._worker: ParseWorker | None = None  # started with the first file (parse_worker)
        self._first_scan = True
        self._behind = metrics.gauge("midwatch_input_file_bytes_behind",
                                     "Bytes in tailed files not yet read.", ("input",))
        self._files = metrics.gauge("midwatch_input_files", "Files being tailed.", ("input",))

    # ---------------------------------------------------------------- thread body

    def run(self, out: ChunkQueue) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_scan:
                self.scan()
                next_scan = time.monotonic() + self.cfg.rescan_interval_ms / 1000
            progressed = False
            # One chunk at a time from the file whose events are oldest: files of one period
            # (systems logging the same messages) are then read side by side, so a catch-up
            # sees a message's hops together instead of a read chunk of each file apart,
            # and each trace is written once instead of once per file. Files caught up
            # answer nothing and the next one is asked.
            for tail in sorted(self.tails.values(), key=_event_ms):
                chunk = self.read(tail)
                if chunk is not None:
                    progressed = True
                    if not out.put(chunk, self._stop):
                        return
                    break
            if not progressed:
                self._stop.wait(IDLE_POLL_S)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.commit()
        for tail in self.tails.values():
            tail.fh.close()
        self.tails.clear()
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self.guard.close()

    # ---------------------------------------------------------------- acknowledgements

    def _ack(self, position: FilePosition | None, key: str) -> None:
        with self._ack_lock:
            if position is None:
                self._acked.pop(key, None)
            else:
                self._acked[key] = position

    def commit(self) -> None:
        with self._ack_lock:
            if self._acked == self._saved:
                return
            snapshot = dict(self._acked)
        self.checkpoints.save(snapshot)
        self._saved = snapshot

    # ---------------------------------------------------------------- discovery

    def _matches(self) -> dict[str, tuple[str, os.stat_result]]:
        found: dict[str, tuple[str, os.stat_result]] = {}
        for pattern in self.cfg.paths:
            for path in sorted(glob.glob(os.path.expanduser(pattern))):
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # vanished between glob and stat
                if os.path.isfile(path):
                    found.setdefault(f"{st.st_dev}:{st.st_ino}", (path, st))
        return found

    def scan(self) -> None:
        """Open new files, mark vanished or rotated-away ones for draining."""
        matches = self._matches()
        for key, tail in self.tails.items():
            if key in matches:
                tail.path = matches[key][0]
            elif not tail.draining:
                log.info("file rotated or removed; reading it to its end",
                         extra={"input": self.name, "path": tail.path})
                tail.draining = True
        for key, (path, st) in matches.items():
            if key not in self.tails:
                self._open(path, st)
        self._first_scan = False
        behind = 0
        for tail in self.tails.values():
            try:
                behind += max(0, os.fstat(tail.fh.fileno()).st_size - tail.reader.read_offset)
            except OSError:
                pass
        self._behind.set(behind, self.name)
        self._files.set(len(self.tails), self.name)

    def _open(self, path: str, st: os.stat_result) -> None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - lives as long as the tail
        except OSError as exc:
            log.warning("cannot open file", extra={"input": self.name, "path": path,
                                                   "error": exc.strerror})
            return
        key = f"{st.st_dev}:{st.st_ino}"
        saved = self._saved.get(key)
        if saved is not None and saved.offset <= st.st_size:
            start = saved
        elif saved is not None:  # shrank while we were down: truncated, or a reused inode
            start = FilePosition(saved.source, st.st_dev, st.st_ino, 0, 0, saved.generation + 1)
        elif self._first_scan and self.cfg.start_at == "end":
            start = FilePosition(path, st.st_dev, st.st_ino, st.st_size, 0)
        else:
            start = FilePosition(path, st.st_dev, st.st_ino, 0, 0)
        fh.seek(start.offset)
        self.tails[key] = Tail(fh=fh, path=path, start=start, reader=self._reader(start),
                               generation=start.generation)

    def _reader(self, pos: FilePosition) -> LineReader | RemoteReader:
        spec = (self.cfg.format, pos.source, position_prefix(pos.inode, pos.generation),
                pos.offset, pos.line, self.cfg.max_line_bytes)
        if not self.cfg.parse_worker:
            return LineReader.open(self.ctx, *spec)
        if self._worker is None:
            self._worker = ParseWorker(self.ctx, self.name)
        return self._worker.reader(*spec)

    # ---------------------------------------------------------------- reading

    def read(self, tail: Tail) -> Chunk | None:
        """At most one chunk of one file; None when there was nothing to do."""
        now = now_ms()
        try:
            if os.fstat(tail.fh.fileno()).st_size < tail.reader.read_offset:
                return self._truncated(tail, now)
            data = tail.fh.read(self.cfg.read_chunk_bytes)
        except OSError as exc:
            log.warning("read failed; dropping the file until it is seen again",
                        extra={"input": self.name, "path": tail.path, "error": exc.strerror})
            return self._finish(tail, [])
        if data:
            tail.last_data = time.monotonic()
            items, records, tail.reader = self.guard.feed(
                tail.key, tail.start.source, tail.fh.fileno(), tail.reader, data,
                tail.fh.tell() - len(data), now, lambda offset, line: self._reader(
                    replace(tail.start, offset=offset, line=line, generation=tail.generation)))
            return self._chunk(tail, items, records, len(data))
        idle = time.monotonic() - tail.last_data >= self.cfg.multiline_timeout_ms / 1000
        if not (idle or tail.draining):
            return None
        items = self.guard.flush(tail.key, tail.start.source, tail.reader, tail.fh.tell(), now,
                                 tail.reader.flush)
        if tail.draining:
            return self._finish(tail, items)
        if not items:
            return None
        return self._chunk(tail, items, 0, 0)

    def _truncated(self, tail: Tail, now: int) -> Chunk:
        log.info("file truncated in place (copytruncate); reading it again from the start",
                 extra={"input": self.name, "path": tail.path})
        items = tail.reader.flush(now)
        tail.reader.close()
        tail.generation += 1
        tail.fh.seek(0)
        tail.reader = self._reader(replace(tail.start, offset=0, line=0,
                                           generation=tail.generation))
        return self._chunk(tail, items, 0, 0)

    def _finish(self, tail: Tail, items: Output) -> Chunk:
        tail.fh.close()
        tail.reader.close()
        del self.tails[tail.key]
        key = tail.key
        return Chunk(self.name, items, 0, 0, ack=lambda: self._ack(None, key))

    def _chunk(self, tail: Tail, items: Output, records: int, nbytes: int) -> Chunk:
        position = tail.position()
        for item in reversed(items):
            if isinstance(item, Event):
                tail.event_ms = item.timestamp_ms
                break
        return Chunk(self.name, items, records, nbytes,
                     ack=lambda: self._ack(position, position.key))
