"""No crash loops: the bytes being parsed are noted beside the checkpoint before they are
parsed, so a record that kills the process (or its parse worker) is not parsed forever.

A parser bug that raises costs one record (``collector.parse`` dead-letters it). A record
that kills the process instead (the parse worker dies: a crash in C code, the kernel's OOM
killer) left no trace: the checkpoint had not moved, so every restart read it again and died
again. Now, before each read of a file is parsed, the file and byte range (from the start of
the record still open) are written to ``<checkpoint_dir>/<input>.parsing.json`` and cleared
after: one small write, no fsync (it has to survive the process, not the machine).

After a start that finds the note (the last run died while parsing that range):

1. the range is read again one line at a time, each line noted before it is parsed: a kill
   -9 or an OOM kill that had nothing to do with the data passes unharmed, and no good line
   is lost for a neighbour's sake;
2. if it dies again, the note now names one record (from the start of the record it was
   in to the end of the line being parsed), and the next start dead-letters that record
   (``crashed_process``, raw bytes kept, bounded and masked) and reads on after it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

import orjson

from collector.event import DeadLetter
from collector.inputs.checkpoint import input_file
from collector.normalize import redact_text
from collector.parse import Output
from collector.parsers._base import ParseContext

log = logging.getLogger("midwatch.inputs.parse_guard")


@dataclass(frozen=True, slots=True)
class Region:
    """Bytes of one file being parsed: ``key`` (dev:inode), ``start`` (the open record's
    first byte) to ``end``; ``line``: lines before ``start``. ``narrow``: one line at a time,
    so a crash there blames the one record."""

    key: str
    source: str
    start: int
    end: int
    line: int
    narrow: bool


class Reader(Protocol):
    def feed(self, data: bytes, now_ms: int) -> tuple[Output, int]: ...

    def resume_at(self) -> tuple[int, int]: ...

    def close(self) -> None: ...


class ParseGuard:
    """The note of one file input, and the careful reading it calls for after a crash."""

    def __init__(self, directory: str | os.PathLike, input_name: str, ctx: ParseContext):
        self.path = input_file(directory, input_name, ".parsing.json")
        self.ctx = ctx
        self.suspect = self._load()
        self._noted = self.suspect is not None
        self._fd: int | None = None

    def _load(self) -> Region | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw:
            return None
        try:
            region = Region(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError) as exc:
            log.warning("unreadable parse note; ignored", extra={"path": str(self.path),
                                                                  "error": str(exc)})
            return None
        log.warning("the last run stopped while parsing this range; reading it again one "
                    "line at a time" if not region.narrow else
                    "the last run stopped twice on this record; it will be dead-lettered",
                    extra={"source": region.source, "start": region.start, "end": region.end})
        return region

    def _note(self, region: Region | None) -> None:
        """Two syscalls on a file kept open: this runs twice for every read of a file."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if region is None:
            if self._noted:
                os.ftruncate(self._fd, 0)
                self._noted = False
            return
        data = orjson.dumps(asdict(region))
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))
        self._noted = True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def feed(self, key: str, source: str, fd: int, reader: Reader, data: bytes, offset: int,
             now_ms: int, reopen: Callable[[int, int], Reader]) -> tuple[Output, int, Reader]:
        """``reader.feed(data)`` for the bytes at ``offset`` of the file open as ``fd``, noted
        first; carefully (line by line, or past a record to blame) where a crash was noted.
        Returns the reader to go on with: a new one after a dead-lettered record."""
        end = offset + len(data)
        s = self.suspect
        if s is not None and s.key == key and offset >= s.end:
            self.suspect = s = None  # the noted range was read (and acknowledged) before
        if s is None or s.key != key or end <= s.start:
            return *self._feed(reader, key, source, data, end, now_ms, False), reader
        out: Output = []
        records = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            stop = len(data) if nl < 0 or offset + nl + 1 > s.end else nl + 1
            if s.narrow and offset + stop >= s.end:
                stop = s.end - offset
                out.append(self._dead_letter(s, fd, now_ms))
                reader.close()
                reader = reopen(s.end, s.line + os.pread(fd, s.end - s.start, s.start).count(b"\n"))
            else:
                items, n = self._feed(reader, key, source, data[pos:stop], offset + stop,
                                      now_ms, True)
                out.extend(items)
                records += n
            pos = stop
            if offset + pos >= s.end:
                self.suspect = None  # past it: back to reading whole chunks
                if pos < len(data):
                    items, n = self._feed(reader, key, source, data[pos:], end, now_ms, False)
                    out.extend(items)
                    records += n
                break
        return out, records, reader

    def flush(self, key: str, source: str, reader: Reader, end: int, now_ms: int,
              flush: Callable[[int], Output]) -> Output:
        """The reader's ``flush`` (the open record, complete), noted as one record."""
        start, line = reader.resume_at()
        self._note(Region(key, source, start, end, line, True))
        out = flush(now_ms)
        self._note(None)
        return out

    def _feed(self, reader: Reader, key: str, source: str, data: bytes, end: int, now_ms: int,
              narrow: bool) -> tuple[Output, int]:
        start, line = reader.resume_at()
        self._note(Region(key, source, start, end, line, narrow))
        result = reader.feed(data, now_ms)
        self._note(None)  # not reached when it raised: the note stays for the next start
        return result

    def _dead_letter(self, s: Region, fd: int, now_ms: int) -> DeadLetter:
        raw = os.pread(fd, min(s.end - s.start, DeadLetter.MAX_RAW), s.start)
        text = redact_text(raw.decode("utf-8", errors="replace"), self.ctx.redact_cards,
                           self.ctx.redact_emails)
        log.error("dead-lettering a record that stopped the collector twice",
                  extra={"source": s.source, "start": s.start, "end": s.end})
        return DeadLetter(
            reason=f"crashed_process: parsing bytes {s.start}-{s.end} stopped the collector "
                   f"(or its parse worker) twice; set aside so the rest of the file is read",
            source=s.source, line=s.line + 1, raw=text, ingested_ms=now_ms)
