"""Tail files matched by globs, through rotation, with acknowledged checkpoints.

- Globs are re-evaluated every ``rescan_interval``, so files created later are picked up
  (from their beginning; ``start_at: end`` applies only to files present at start-up).
- Files are tracked by device + inode. Rename rotation: the old inode, no longer matched
  (or matched under its new name), is read to its end before it is closed; the new file at the
  path is a new tail. copytruncate: a file shorter than what was read restarts at 0 with its
  generation bumped, so the new content gets new event positions instead of overwriting the
  events of the old content; what was written between the last read and the truncation is
  read from the rotated copy when the ``paths`` or ``rotated`` patterns show one
  (``collector.inputs.rotation``), otherwise counted as lost
  (``midwatch_input_file_rotation_gaps_total``, a warning). A truncation is seen by size,
  or by other bytes at the file's start or where the last ones read were (truncated and
  refilled past our offset before we looked). A new file is not tailed while it may be such a copy: empty, a prefix
  of a tailed file's head (a copy being written), or alike a tailed file's content not yet
  read; it is decided at a later scan (``_admit``). A file that disappears is read
  to its end through the open handle, then forgotten.
- A checkpointed file renamed while midwatch was stopped to a name the patterns do not match
  is found by device and inode in its directory and read to its end; one that is gone is
  warned about with the bytes known to be unread, and dropped from the checkpoint.
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
import stat
import threading
import time
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from collector.config import Config as MidwatchConfig
from collector.config_values import Section
from collector.encoding import SNIFF_BYTES
from collector.event import DeadLetter
from collector.inputs import format_keys
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.inputs.checkpoint import CheckpointFile, FilePosition
from collector.inputs.decode_check import DecodeCheck
from collector.inputs.lines import LineReader
from collector.inputs.parse_guard import ParseGuard
from collector.inputs.parse_worker import ParseWorker, RemoteReader
from collector.inputs.rotation import (
    FINGERPRINT_BYTES,
    MIN_COPY_HEAD,
    Fingerprint,
    Likeness,
    find_moved,
    likeness,
    read_head,
)
from collector.metrics import Registry
from collector.parse import MAX_LINE_CHARS, Output
from collector.parsers._base import ParseContext

log = logging.getLogger("midwatch.inputs.file")

IDLE_POLL_S = 0.2
# Caught up with a file written to within the last ACTIVE_S, the next look comes sooner: the
# lines a copytruncate rotation takes away unseen (no copy in sight) are those written
# between that look and the truncation.
ACTIVE_POLL_S = 0.05
ACTIVE_S = 1.0
# A path pattern that matches nothing is warned about at start, then this often while it
# still matches nothing (a typo or a missing mount must not look like a quiet system).
UNMATCHED_WARN_S = 300.0
# Rotated copies remembered (so that they are not tailed as files of their own), and files
# that could not be opened (so that they are not warned about every scan).
MAX_COPIES = 1024
# The first bytes of compressed files (gzip, bzip2, xz, zstd): logrotate's ``compress`` turns
# a rotated log into one, which ``app.log*`` matches. Its content was read before, as the
# log; read as text it was one dead letter of binary garbage a rotation (and a page from the
# dead-letter rule), so it is left out, said once and counted.
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


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
    fp: Fingerprint = field(default_factory=Fingerprint)
    # The file's size when last looked at: bytes known to exist (for loss figures).
    size_seen: int = 0
    # While the rest of the old content is read from a copytruncate copy (``fh``), the
    # handle of the truncated file itself, read again from 0 once the copy is done.
    original: BinaryIO | None = None
    # Bytes not valid in the file's encoding, warned of once (collector.inputs.decode_check).
    check: DecodeCheck | None = None

    @property
    def key(self) -> str:
        return self.start.key

    def position(self) -> FilePosition:
        """Where a restart must resume so that nothing not yet emitted is lost."""
        offset, line = self.reader.resume_at()
        return FilePosition(self.start.source, self.start.dev, self.start.inode, offset, line,
                            self.generation, max(self.size_seen, self.fp.consumed))


def matching_files(pattern: str) -> list[tuple[str, os.stat_result]]:
    """Regular files matching one path pattern (``~`` expanded), in name order."""
    files = []
    for path in sorted(glob.glob(os.path.expanduser(pattern))):
        try:
            st = os.stat(path)
        except OSError:
            continue  # vanished between glob and stat
        if stat.S_ISREG(st.st_mode):
            files.append((path, st))
    return files


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _event_ms(tail: Tail) -> int:
    return tail.event_ms


def position_prefix(inode: int, generation: int) -> str:
    return f"{inode}:" if generation == 0 else f"{inode}.{generation}:"


class FileInput:
    def __init__(self, cfg: Config, ctx: ParseContext, checkpoint_dir: str,
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
        # Set by the service when nothing after the input reads events: the worker then
        # ships their documents as bytes (collector.encoded).
        self.encode_events = False
        self._first_scan = True
        self._behind = metrics.gauge("midwatch_input_file_bytes_behind",
                                     "Bytes in tailed files not yet read.", ("input",))
        self._files = metrics.gauge("midwatch_input_files", "Files being tailed.", ("input",))
        self._unmatched = metrics.gauge(
            "midwatch_input_file_patterns_unmatched",
            "Path patterns of a file input that match no file.", ("input",))
        self._next_unmatched_warning = 0.0
        self._gaps = metrics.counter(
            "midwatch_input_file_rotation_gaps_total",
            "Rotations after which part of a file could not be read: truncated without a "
            "copy in sight, or gone before it was read to its end.", ("input", "cause"))
        self._unread = metrics.counter(
            "midwatch_input_file_unread_bytes_total",
            "Bytes known to exist in a file that was truncated or vanished before they "
            "were read (a lower bound of the loss).", ("input", "cause"))
        self._skipped = metrics.counter(
            "midwatch_input_files_skipped_total",
            "Files the patterns match that are not read: compressed (rotated logs a "
            "compress option packed; their content was read before they were).",
            ("input", "reason"))
        self._copies: dict[str, str] = {}  # key -> path of rotated copies (never tailed)
        self._unopened: dict[str, float] = {}  # path -> when to warn again it cannot be opened

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
                self._stop.wait(self._poll_interval())

    def _poll_interval(self) -> float:
        recent = time.monotonic() - ACTIVE_S
        active = any(t.last_data >= recent for t in self.tails.values())
        return ACTIVE_POLL_S if active else IDLE_POLL_S

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
        unmatched = []
        for pattern in self.cfg.paths:
            files = matching_files(pattern)
            for path, st in files:
                found.setdefault(f"{st.st_dev}:{st.st_ino}", (path, st))
            if not files:
                unmatched.append(pattern)
        self._warn_unmatched(unmatched)
        return found

    def _warn_unmatched(self, patterns: list[str]) -> None:
        self._unmatched.set(len(patterns), self.name)
        now = time.monotonic()
        if not patterns or now < self._next_unmatched_warning:
            return
        self._next_unmatched_warning = now + UNMATCHED_WARN_S
        log.warning("path pattern matches no file; checking again every rescan_interval",
                    extra={"input": self.name, "patterns": patterns,
                           "hint": "check the path and that midwatch may list its directory "
                                   "(midwatch doctor shows each input's files)"})

    def scan(self) -> None:
        """Open new files, mark vanished or rotated-away ones for draining."""
        matches = self._matches()
        if self._first_scan:
            self._find_moved(matches)
        for key, tail in self.tails.items():
            if key in matches:
                tail.path = matches[key][0]
            elif not tail.draining:
                log.info("file rotated or removed; reading it to its end",
                         extra={"input": self.name, "path": tail.path})
                tail.draining = True
        for key in [k for k in self._copies if k not in matches]:
            del self._copies[key]
            if key not in self.tails:
                self._ack(None, key)
        for key, (path, st) in matches.items():
            if key not in self.tails and self._admit(key, path, st):
                self._open(path, st)
        self._first_scan = False
        behind = 0
        for tail in self.tails.values():
            if tail.original is not None:
                continue
            try:
                tail.size_seen = os.fstat(tail.fh.fileno()).st_size
            except OSError:
                continue
            behind += max(0, tail.size_seen - tail.reader.read_offset)
        self._behind.set(behind, self.name)
        self._files.set(len(self.tails), self.name)

    def _admit(self, key: str, path: str, st: os.stat_result) -> bool:
        """Is this file, not tailed yet, to be tailed now? Not a rotated copy of a tailed file
        (copytruncate: tailing it would read that content twice), and not yet while it may be
        one: empty, a copy still being written, or a copy of content the tail has not read
        yet. Those are looked at again at the next scan; a file that turns out to be new is
        then read from its start, so waiting loses nothing. At the first scan only a copy
        recognized whole is left out, so that ``start_at`` applies to the rest."""
        if key in self._copies:
            return False
        if key in self._saved:
            return True
        head = read_head(path)
        if head is None:  # unreadable: opening it says so (and tries again every scan)
            return True
        if not head:
            return self._first_scan
        if head.startswith(COMPRESSED_MAGIC):
            log.warning("compressed file matched by the input's paths; not read",
                        extra={"input": self.name, "path": path,
                               "hint": "rotated logs are read before they are compressed; "
                                       "narrow paths (app.log, not app.log*) or decompress "
                                       "the file into a path the input reads"})
            self._skipped.inc(self.name, "compressed")
            self._remember_copy(path, st)  # never looked at again, nor after a restart
            return False
        for tail in self.tails.values():
            live = os.pread((tail.original or tail.fh).fileno(), FINGERPRINT_BYTES, 0)
            seen = likeness(head, tail.fp.head, live)
            if seen is Likeness.COPY:
                log.info("rotated copy of a tailed file; not read as a file of its own",
                         extra={"input": self.name, "path": path, "copy_of": tail.path})
                self._remember_copy(path, st)
                return False
            if seen is not Likeness.OTHER and not self._first_scan:
                return False
        return True

    def _remember_copy(self, path: str, st: os.stat_result) -> None:
        """Never tail this copy, not after a restart either: it is checkpointed as read."""
        if len(self._copies) >= MAX_COPIES:
            self._copies.pop(next(iter(self._copies)))
        key = f"{st.st_dev}:{st.st_ino}"
        self._copies[key] = path
        self._ack(FilePosition(path, st.st_dev, st.st_ino, st.st_size, 0, size=st.st_size), key)

    def _find_moved(self, matches: dict[str, tuple[str, os.stat_result]]) -> None:
        """Checkpointed files the patterns no longer match: renamed while we were stopped
        (read their rest) or gone (say how much was unread)."""
        for key, pos in self._saved.items():
            if key in matches:
                continue
            path = find_moved(os.path.dirname(pos.source) or ".", pos.dev, pos.inode)
            st = _stat(path) if path is not None else None
            if path is not None and st is not None:
                log.info("checkpointed file was renamed while midwatch was stopped; reading "
                         "its rest", extra={"input": self.name, "source": pos.source,
                                            "path": path, "bytes": st.st_size - pos.offset})
                self._open(path, st)
                if key in self.tails:
                    self.tails[key].draining = True
                continue
            self._ack(None, key)
            unread = max(0, pos.size - pos.offset)
            if not unread:  # read to its end when last seen: most likely rotated away and
                # deleted by retention; what it may have got after the last look is unknown
                log.info("checkpointed file not found; it had been read to its end",
                         extra={"input": self.name, "source": pos.source})
                continue
            log.warning("checkpointed file not found (deleted, or renamed out of its directory "
                        "while midwatch was stopped); its unread rest is lost",
                        extra={"input": self.name, "source": pos.source, "bytes": unread,
                               "hint": "keep rotated files in the same directory until read"})
            self._gaps.inc(self.name, "vanished")
            self._unread.inc(self.name, "vanished", by=unread)

    def _open(self, path: str, st: os.stat_result) -> None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - lives as long as the tail
        except OSError as exc:
            now = time.monotonic()
            if self._unopened.get(path, 0.0) <= now:  # tried every scan, said now and then
                if len(self._unopened) >= MAX_COPIES:
                    self._unopened.pop(next(iter(self._unopened)))
                self._unopened[path] = now + UNMATCHED_WARN_S
                log.warning("cannot open file; trying again every rescan_interval",
                            extra={"input": self.name, "path": path, "error": exc.strerror,
                                   "hint": "give the user midwatch runs as read access"})
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
        tail = Tail(fh=fh, path=path, start=start, reader=self._reader(start, fh),
                    generation=start.generation, size_seen=st.st_size,
                    check=self._check(start, fh))
        tail.fp.update(fh.fileno(), b"", start.offset)
        self.tails[key] = tail

    def _check(self, pos: FilePosition, fh: BinaryIO) -> DecodeCheck:
        """From the start, the encoding is sniffed from the first bytes read (the file may
        be empty now); resuming mid-file, from the file's first bytes, as ``_reader`` does."""
        if not pos.offset:
            return DecodeCheck(self.cfg.encoding)
        return DecodeCheck.of(os.pread(fh.fileno(), SNIFF_BYTES, 0), self.cfg.encoding)

    def _reader(self, pos: FilePosition, fh: BinaryIO) -> LineReader | RemoteReader:
        # Resuming mid-file, the encoding is read from the file's first bytes (its mark).
        head = os.pread(fh.fileno(), SNIFF_BYTES, 0) if pos.offset else b""
        spec = (self.cfg.format, pos.source, position_prefix(pos.inode, pos.generation),
                pos.offset, pos.line, self.cfg.max_line_bytes, self.cfg.encoding, head)
        if not self.cfg.parse_worker:
            return LineReader.open(self.ctx, *spec)
        if self._worker is None:
            self._worker = ParseWorker(self.ctx, self.name, encode=self.encode_events)
        return self._worker.reader(*spec)

    # ---------------------------------------------------------------- reading

    def read(self, tail: Tail) -> Chunk | None:
        """At most one chunk of one file; None when there was nothing to do."""
        now = now_ms()
        try:
            if tail.original is None and tail.fp.overwritten(
                    tail.fh.fileno(), os.fstat(tail.fh.fileno()).st_size):
                return self._truncated(tail, now)
            data = tail.fh.read(self.cfg.read_chunk_bytes)
        except OSError as exc:
            log.warning("read failed; dropping the file until it is seen again",
                        extra={"input": self.name, "path": tail.path, "error": exc.strerror})
            return self._finish(tail, [])
        if data:
            tail.last_data = time.monotonic()
            if tail.check is not None:
                self._check_text(tail, tail.check, data)
            tail.fp.update(tail.fh.fileno(), data, tail.fp.consumed + len(data))
            items, records, tail.reader = self.guard.feed(
                tail.key, tail.start.source, tail.fh.fileno(), tail.reader, data,
                tail.fh.tell() - len(data), now, lambda offset, line: self._reader(
                    replace(tail.start, offset=offset, line=line, generation=tail.generation),
                    tail.fh))
            return self._chunk(tail, items, records, len(data))
        if tail.original is not None:
            return self._copy_read(tail, now)
        # Quiet this long, an open record is complete; and a file rotated away or deleted is
        # done: a writer that renamed it (logrotate's create) may go on writing to it until
        # it reopens its log, so it is not closed at its first end. A last line without its
        # newline waits for it while the file is live (the checkpoint stays before it), and
        # is a line of its own once the file is done: gone, or renamed (rotated, its writer
        # moves on to the new file) and quiet.
        if time.monotonic() - tail.last_data < self.cfg.multiline_timeout_ms / 1000:
            return None
        done = tail.draining or tail.path != tail.start.source
        items = self.guard.flush(tail.key, tail.start.source, tail.reader, tail.fh.tell(), now,
                                 lambda at: tail.reader.flush(at, partial=done))
        if tail.draining:
            return self._finish(tail, items)
        if not items:
            return None
        return self._chunk(tail, items, 0, 0)

    def _check_text(self, tail: Tail, check: DecodeCheck, data: bytes) -> None:
        """Before the reader is fed ``data``: its resume point is at most a held record or a
        line being cut before the read, so counting the line costs a few bytes, once."""
        bad = check.feed(data)
        if bad is None:
            return
        start = tail.fh.tell() - len(data)
        offset, line = tail.reader.resume_at()
        before = os.pread(tail.fh.fileno(), start - offset, offset) if start > offset else b""
        line += before.count(b"\n") + data.count(b"\n", 0, bad) + 1
        log.warning("bytes not valid in the file's encoding: read as U+FFFD (said once per file)",
                    extra={"input": self.name, "path": tail.path, "line": line,
                           "encoding": check.codec,
                           "hint": "name the file's encoding on the input, e.g. encoding: "
                                   "latin-1 or cp1252 (Windows), then read it again"})
        tail.check = None

    def _truncated(self, tail: Tail, now: int) -> Chunk | None:
        copy = self._find_copy(tail)
        if copy is not None:
            path, fh, size = copy
            log.info("file truncated in place (copytruncate); reading the rest of its old "
                     "content from the rotated copy", extra={
                         "input": self.name, "path": tail.path, "copy": path,
                         "bytes": size - tail.fp.consumed})
            fh.seek(tail.fp.consumed)
            tail.original, tail.fh = tail.fh, fh
            return self.read(tail)
        unread = max(0, tail.size_seen - tail.fp.consumed)
        # Certain only of what a scan saw and no read took; lines written since the last
        # look may or may not exist (the slow case: nothing was written), so "may".
        lost = (f"the {unread} bytes seen but not read are lost, and lines written since "
                "may be" if unread else "lines written after the last read and before the "
                "truncation may be lost")
        log.warning("file truncated in place (copytruncate) and no rotated copy of it found: "
                    "%s", lost,
                    extra={"input": self.name, "path": tail.path, "bytes_known": unread,
                           "hint": "let the input's paths or rotated patterns match the "
                                   "rotated copies (e.g. rotated: [/var/log/app.log.1])"})
        self._gaps.inc(self.name, "truncated")
        self._unread.inc(self.name, "truncated", by=unread)
        return self._next_generation(tail, now)

    def _find_copy(self, tail: Tail) -> tuple[str, BinaryIO, int] | None:
        """The rotated copy of ``tail``'s old content among the files the ``rotated`` and
        ``paths`` patterns match (not the ones being tailed): an open handle on it. Every
        other copy of that content (a short one: the writer added lines after the copy and
        we read them) is remembered too, or it would be tailed once the fingerprint has
        moved on to the new content."""
        found = None
        for pattern in (*self.cfg.rotated, *self.cfg.paths):
            for path, st in matching_files(pattern):
                key = f"{st.st_dev}:{st.st_ino}"
                if key == tail.key or key in self.tails:
                    continue
                if key not in self._copies:
                    head = read_head(path) or b""
                    if len(head) < MIN_COPY_HEAD or likeness(head, tail.fp.head, b"") not in (
                            Likeness.COPY, Likeness.PARTIAL):
                        continue
                    self._remember_copy(path, st)
                if found is None and tail.fp.continued_by(path, st.st_size):
                    found = self._open_copy(path, st)
        return found

    def _open_copy(self, path: str, st: os.stat_result) -> tuple[str, BinaryIO, int] | None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by _copy_read
        except OSError:
            return None
        return path, fh, st.st_size

    def _copy_read(self, tail: Tail, now: int) -> Chunk:
        """The copy is read to its end: back to the truncated file, from its start."""
        assert tail.original is not None
        tail.fh.close()
        tail.fh, tail.original = tail.original, None
        return self._next_generation(tail, now)

    def _next_generation(self, tail: Tail, now: int) -> Chunk:
        items = tail.reader.flush(now)
        tail.reader.close()
        tail.generation += 1
        tail.fh.seek(0)
        tail.fp = Fingerprint()
        tail.check = DecodeCheck(self.cfg.encoding)
        tail.reader = self._reader(replace(tail.start, offset=0, line=0,
                                           generation=tail.generation), tail.fh)
        return self._chunk(tail, items, 0, 0)

    def _finish(self, tail: Tail, items: Output) -> Chunk:
        if tail.original is not None:
            tail.original.close()
        tail.fh.close()
        tail.reader.close()
        del self.tails[tail.key]
        key = tail.key
        return Chunk(self.name, items, 0, 0, ack=lambda: self._ack(None, key))

    def _chunk(self, tail: Tail, items: Output, records: int, nbytes: int) -> Chunk:
        position = tail.position()
        for item in reversed(items):
            if not isinstance(item, DeadLetter):
                tail.event_ms = item.timestamp_ms
                break
        return Chunk(self.name, items, records, nbytes,
                     ack=lambda: self._ack(position, position.key))


# --- configuration and construction: the ``file`` entry of ``collector.inputs.INPUTS`` ---

# Config keys beyond the common ``type`` and ``name``.
KEYS = ("paths", "format", "mapping", "start_at", "rescan_interval", "multiline_timeout",
        "read_chunk_bytes", "max_line_bytes", "parse_worker", "log_format", "date_order",
        "encoding", "rotated")


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    paths: tuple[str, ...]
    format: str = "auto"
    mapping: str | None = None
    start_at: str = "beginning"
    rescan_interval_ms: int = 5000
    # A record still open this long after the file stopped growing is emitted as it is.
    multiline_timeout_ms: int = 2000
    read_chunk_bytes: int = 128 * 1024
    max_line_bytes: int = 1024 * 1024
    # Parse in a child process (collector.inputs.parse_worker), off the writer's GIL.
    parse_worker: bool = True
    # The access log's own format string (collector.parsers.logformat), and the order of a
    # slashed date at a text line's start (auto: each layout's own; or ymd, dmy, mdy).
    log_format: str | None = None
    date_order: str = "auto"
    # "auto" (byte-order mark, else UTF-8) or a codec name (collector.encoding).
    encoding: str = "auto"
    # Where copytruncate rotation puts its copies, if the paths do not match them
    # (collector.inputs.rotation): the lines of the truncation window are read from there.
    rotated: tuple[str, ...] = ()
    type: str = "file"


def _max_line_bytes(s: Section) -> int:
    """At most 1 MiB: a longer line is dead-lettered whole by the parse stage however high
    this is set, and an EDI interchange over it is read in pieces of whole segments, so a
    higher value only made such interchanges one ``line_too_long`` dead letter."""
    value = s.size_bytes("max_line_bytes", "1MiB", minimum=1024)
    if value > MAX_LINE_CHARS:
        raise s.error("max_line_bytes", f"size must be at most 1MiB ({MAX_LINE_CHARS}), got "
                      f"{value}: a longer line is dead-lettered whatever this says; EDI "
                      "interchanges longer than it are read in pieces of whole segments")
    return value


def parse(s: Section, name: str) -> Config:
    fmt, mapping = format_keys.format_and_mapping(s, "auto")
    return Config(
        name=name, paths=s.str_list("paths", required=True), format=fmt, mapping=mapping,
        start_at=s.choice("start_at", ("beginning", "end"), "beginning"),
        rescan_interval_ms=s.duration_ms("rescan_interval", "5s", minimum_ms=100),
        multiline_timeout_ms=s.duration_ms("multiline_timeout", "2s", minimum_ms=10),
        read_chunk_bytes=s.size_bytes("read_chunk_bytes", "128KiB", minimum=4096),
        max_line_bytes=_max_line_bytes(s),
        parse_worker=s.flag("parse_worker", True),
        log_format=format_keys.log_format(s, fmt),
        date_order=s.choice("date_order", ("auto", "ymd", "dmy", "mdy"), "auto"),
        encoding=format_keys.encoding(s),
        rotated=s.str_list("rotated"),
    )


def build(cfg: Config, ctx: ParseContext, config: MidwatchConfig,
          metrics: Registry) -> FileInput:
    """The running input; ``config`` supplies the sections it shares with others."""
    return FileInput(cfg, ctx, config.collector.checkpoint_dir, metrics)
