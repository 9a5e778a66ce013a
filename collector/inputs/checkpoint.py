"""Where each tailed file was acknowledged up to, on disk, surviving crashes.

One JSON file per file input in ``collector.checkpoint_dir``. Written atomically (temp file,
fsync, rename, fsync of the directory) so a crash leaves the old or the new checkpoint, never
half of one. Entries are keyed by device and inode, not path: a renamed (rotated) file is the
same file, and a new file at the old path is a new one.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

VERSION = 1


@dataclass(frozen=True, slots=True)
class FilePosition:
    # The path the file had when first opened: event IDs derive from it, so it never changes.
    source: str
    dev: int
    inode: int
    # Resume here: the start of the first record not yet acknowledged (possibly one that
    # was still open, e.g. a stack trace waiting for its next line).
    offset: int
    # Lines before ``offset``, so line numbers in dead letters stay right after a restart.
    line: int
    # Times the file was truncated in place (copytruncate); part of the event position.
    generation: int = 0
    # Bytes known to be in the file when this was recorded: if it is gone at the next start,
    # at least ``size - offset`` bytes of it were never read (reported, not guessed).
    size: int = 0

    @property
    def key(self) -> str:
        return f"{self.dev}:{self.inode}"


def input_file(directory: str | os.PathLike, input_name: str, suffix: str) -> Path:
    """The file of an input's own state in ``directory`` (its checkpoint, its notes of what
    is in flight), named after the input with anything unsafe in a file name replaced."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in input_name)
    return Path(directory) / f"{safe}{suffix}"


class CheckpointFile:
    def __init__(self, directory: str | os.PathLike, input_name: str):
        self.path = input_file(directory, input_name, ".json")

    def load(self) -> dict[str, FilePosition]:
        """Positions by key; a missing file means no checkpoint yet. A corrupt one is an
        error, not a silent restart from scratch (which would re-read every file)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            doc = orjson.loads(raw)
            positions = [FilePosition(**p) for p in doc["files"]]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{self.path}: unreadable checkpoint ({exc}); delete it to re-read the files "
                f"from their start_at position"
            ) from None
        return {p.key: p for p in positions}

    def save(self, positions: dict[str, FilePosition]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": VERSION,
               "files": [asdict(p) for p in sorted(positions.values(), key=lambda p: p.key)]}
        write_durably(self.path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def write_durably(path: Path, data: bytes) -> None:
    """A crash leaves the old file or the new one, never half of one: temp file, fsync,
    rename, fsync of the directory (the rename itself must survive a power loss too)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
