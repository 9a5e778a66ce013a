"""One ``midwatch run`` per ``collector.checkpoint_dir``.

Two processes on one checkpoint directory overwrite each other's file positions and read each
other's crash notes (``<input>.parsing.json``) as a death of their own, dead-lettering records
another live process was parsing. So ``midwatch run`` takes an ``flock`` on
``<checkpoint_dir>/.lock`` at start (released by the kernel even on ``kill -9``) and a second
process is refused at once, naming the holder's PID, instead of failing later or silently.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class DirInUse(Exception):
    """The directory is locked by another live process."""


def lock_dir(directory: str | Path) -> int:
    """Lock ``directory`` (created if absent) for this process; the returned descriptor holds
    the lock until closed or the process ends. Raises DirInUse naming the holder's PID.

    A lock is on an inode, not a name: when ``.lock`` was removed or replaced (the directory
    wiped or recreated by hand or by config management) the descriptor opened may be locked
    while the live holder keeps the old inode. So after ``flock`` the descriptor must still be
    the file at ``.lock``; otherwise it is closed and the name opened again."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DirInUse(f"{path} is in use by another midwatch run (pid {holder})") from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, path / ".lock"):
            break
        os.close(fd)  # locked an unlinked inode: open what the name is now
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)
