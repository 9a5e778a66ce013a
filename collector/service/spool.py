"""A bounded on-disk buffer for batches the store could not take, drained oldest first.

Why on disk: during a store outage the inputs must keep their positions moving (a Kafka
consumer that stops committing for minutes replays everything after a crash, a file that
rotates twice is gone), yet memory must stay bounded. So a batch the store refused as
unavailable is written here, and only then are its input positions acknowledged.

Layout: one segment file per batch, ``<sequence:012d>.seg`` in ``directory``; the sequence
gives the drain order. A segment is NDJSON: a header line, then the events as stored
documents (``collector.event.to_doc``), then the dead letters.

Durability (the fsync policy): a segment is written to ``<name>.tmp``, fsynced, renamed to
its final name and the directory fsynced, all before ``append`` returns, and the writer acks
the inputs only after that. A ``kill -9`` therefore leaves either a complete segment (drained
on the next start) or a ``.tmp`` (deleted on open; its records were never acked, so the
inputs read them again). A segment is deleted only after the store acknowledged all of it;
a crash between the two writes it again, which deterministic event IDs make harmless.

One collector process per spool directory: a second one would drain the first one's
segments and reuse its sequence numbers, so the directory is locked (``flock``, released by
the kernel even on ``kill -9``) and a second process is refused with a clear error.

The cap (``max_bytes``) is checked before an append: once reached, ``full`` is True and the
writer stops taking batches from the queue, so the inputs block or pause (backpressure);
nothing is dropped. One batch may overshoot the cap, so a batch is never split.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from collector.encoded import StoredEvent, document_bytes
from collector.event import DeadLetter, Event, from_doc
from collector.inputs.checkpoint import write_durably

log = logging.getLogger("midwatch.spool")

VERSION = 1
SUFFIX = ".seg"
DEFAULT_MAX_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class Segment:
    sequence: int
    path: Path
    nbytes: int


class SpoolError(Exception):
    """A segment that cannot be read back: named, kept aside, never silently dropped."""


class Spool:
    def __init__(self, directory: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock_fd: int | None = None
        if self.directory.exists():
            self._lock()
        for stale in self.directory.glob(f"*{SUFFIX}.tmp"):
            stale.unlink()  # never acked: its records are read again by the inputs
        self._segments: list[Segment] = sorted(
            (Segment(int(p.stem), p, p.stat().st_size)
             for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit()),
            key=lambda s: s.sequence)
        self._bytes = sum(s.nbytes for s in self._segments)
        self._next = self._segments[-1].sequence + 1 if self._segments else 0

    # ---------------------------------------------------------------- state

    def __len__(self) -> int:
        return len(self._segments)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def full(self) -> bool:
        return self._bytes >= self.max_bytes

    def oldest(self) -> Segment | None:
        return self._segments[0] if self._segments else None

    # ---------------------------------------------------------------- write

    def append(self, events: Sequence[StoredEvent], deadletters: Sequence[DeadLetter]) -> Segment:
        """Write one batch durably (see the module doc); the caller may ack once it returns."""
        header = {"version": VERSION, "events": len(events), "deadletters": len(deadletters)}
        lines = [orjson.dumps(header)]
        lines.extend(map(document_bytes, events))
        lines.extend(orjson.dumps(dataclasses.asdict(dl)) for dl in deadletters)
        body = b"\n".join(lines) + b"\n"
        self._lock()  # creates the directory on first use: most runs never spool
        path = self.directory / f"{self._next:012d}{SUFFIX}"
        write_durably(path, body)
        segment = Segment(self._next, path, len(body))
        self._segments.append(segment)
        self._bytes += segment.nbytes
        self._next += 1
        return segment

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolError(f"{self.directory}: in use by another collector process; give "
                             f"each process its own collector.spool.dir") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---------------------------------------------------------------- drain

    def read(self, segment: Segment) -> tuple[list[Event], list[DeadLetter]]:
        try:
            lines = segment.path.read_bytes().splitlines()
            header = orjson.loads(lines[0])
            n_events, n_dead = header["events"], header["deadletters"]
            if header.get("version") != VERSION or len(lines) != 1 + n_events + n_dead:
                raise ValueError(f"expected version {VERSION} with {n_events} events and "
                                 f"{n_dead} dead letters, found {len(lines) - 1} lines")
            events = [from_doc(orjson.loads(x)) for x in lines[1:1 + n_events]]
            dead = [_dead_letter(orjson.loads(x)) for x in lines[1 + n_events:]]
        except (OSError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise SpoolError(f"{segment.path}: unreadable spool segment ({exc})") from None
        return events, dead

    def remove(self, segment: Segment) -> None:
        """After the store acknowledged the whole segment."""
        segment.path.unlink(missing_ok=True)
        self._forget(segment)

    def set_aside(self, segment: Segment) -> Path:
        """Move an unreadable segment out of the drain path (kept for a person to inspect)."""
        bad = segment.path.with_name(segment.path.name + ".bad")
        os.replace(segment.path, bad)
        self._forget(segment)
        log.error("unreadable spool segment set aside", extra={"path": str(bad)})
        return bad

    def _forget(self, segment: Segment) -> None:
        self._segments.remove(segment)
        self._bytes -= segment.nbytes


_DEAD_FIELDS = frozenset(f.name for f in dataclasses.fields(DeadLetter))


def _dead_letter(doc: dict) -> DeadLetter:
    """A spooled dead letter, keys a later midwatch added left out: a rollback after an
    upgrade that gave dead letters a field must not set aside whole batches, events and all
    (a midwatch older than this reader does: drain the spool before rolling back past it)."""
    return DeadLetter(**{k: v for k, v in doc.items() if k in _DEAD_FIELDS})
