"""Finding a tailed file's content again after it was copied away or renamed out of sight.

copytruncate (logrotate) copies the file, then truncates it in place. Whatever the writer
added between our last read and the truncation is only in the copy: Filebeat and Fluent Bit
document that window as lost. Here the copy is looked for among the files the input's
``paths`` and ``rotated`` patterns match, and recognized by content: it starts with the same
bytes as the file we read (``Fingerprint.head``), is at least as long as what we read, and
has the bytes we read last right before that point (``Fingerprint.last``). Its rest is then
read as the end of the old content. A copy that matched the input's own ``paths`` is also
never tailed as a file of its own (it would duplicate everything).

A file renamed while midwatch was stopped to a name the patterns do not match is found by
device and inode in the directory it was first seen in (``find_moved``).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

# Bytes compared at the start of a file, and at the end of what was read.
FINGERPRINT_BYTES = 1024
PROBE_BYTES = 64
# Below this much content two unrelated files may well start alike (a shared banner):
# such a file is never taken for a copy, so it is read rather than skipped.
MIN_COPY_HEAD = 64


@dataclass(slots=True)
class Fingerprint:
    """The first bytes of a file and the last bytes read from it, to recognize a copy."""

    head: bytes = b""
    last: bytes = b""
    consumed: int = 0  # bytes read from the file so far (its handle's position)

    def update(self, fd: int, data: bytes, consumed: int) -> None:
        """``data`` was just read from ``fd``, ending at ``consumed``."""
        if len(self.head) < FINGERPRINT_BYTES and consumed > len(self.head):
            self.head = os.pread(fd, FINGERPRINT_BYTES, 0)
        if len(data) >= PROBE_BYTES:
            self.last = data[-PROBE_BYTES:]
        elif data:
            self.last = (self.last + data)[-PROBE_BYTES:]
        self.consumed = consumed

    def starts(self, path: str, size: int) -> bool:
        """Does the file at ``path`` (of ``size`` bytes) start with this content?"""
        if len(self.head) < MIN_COPY_HEAD or size < len(self.head):
            return False
        return _read_at(path, 0, len(self.head)) == self.head

    def continued_by(self, path: str, size: int) -> bool:
        """Is ``path`` a copy of everything read so far (and possibly more)?"""
        if size < self.consumed or not self.starts(path, size):
            return False
        start = self.consumed - len(self.last)
        return _read_at(path, start, len(self.last)) == self.last


    def overwritten(self, fd: int, size: int) -> bool:
        """Was the file truncated (and possibly written again past where we were) since we
        read it? Shorter than what was read, or other bytes where its first ones or our
        last ones were: a copytruncate seen late, after the writer had refilled the file.
        Both are compared: lines of one shape (a padded JSON layout) end alike, so the
        last bytes alone can match at another line's end."""
        if size < self.consumed:
            return True
        probes = ((0, self.head), (self.consumed - len(self.last), self.last))
        return any(data and os.pread(fd, len(data), at) != data for at, data in probes)


class Likeness(enum.Enum):
    """How a file not tailed yet relates to a tailed one, by their first bytes."""

    COPY = "copy"        # starts with everything we fingerprinted of the tailed content
    PARTIAL = "partial"  # a prefix of it: a copy still being written, or a short copy
    UNREAD = "unread"    # starts like the tailed file does now, which we have not read yet
    OTHER = "other"


def likeness(candidate: bytes, read: bytes, live: bytes) -> Likeness:
    """``candidate``: the first ``FINGERPRINT_BYTES`` of a file not tailed (not empty);
    ``read``: the fingerprinted head of a tailed file's content (``Fingerprint.head``);
    ``live``: that file's first bytes now.

    A copy is recognized whole (COPY) or while still being written (PARTIAL); one of content
    we have not read yet (UNREAD: the tailed file was just truncated and refilled, or we are
    behind) is decided once we have. Either way it must not be read as a file of its own
    before it is decided: that read everything in it a second time (issue 21).
    """
    if len(read) >= MIN_COPY_HEAD:
        if candidate.startswith(read):
            return Likeness.COPY
        if read.startswith(candidate):
            return Likeness.PARTIAL
    n = min(len(candidate), len(live))
    if n >= MIN_COPY_HEAD and candidate[:n] == live[:n]:
        return Likeness.UNREAD
    return Likeness.OTHER


def read_head(path: str) -> bytes | None:
    """A file's first ``FINGERPRINT_BYTES`` (None: it cannot be read)."""
    return _read_at(path, 0, FINGERPRINT_BYTES)


def _read_at(path: str, offset: int, n: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.pread(fd, n, offset)
    finally:
        os.close(fd)


def find_moved(directory: str, dev: int, inode: int) -> str | None:
    """The path of the file with this device and inode in ``directory``, if any."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            if entry.inode() == inode and entry.is_file() and entry.stat().st_dev == dev:
                return entry.path
        except OSError:
            continue
    return None
