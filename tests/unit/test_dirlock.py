"""The checkpoint-dir lock is on an inode, not a name (review E item 2). A process that opened
``.lock`` just before the file was replaced (a checkpoint dir recreated by hand or by config
management) and then took ``flock`` held an inode no one else would ever open again, beside a
holder of the file now at that name: both ran on one directory. Now it opens the name again."""

from __future__ import annotations

import fcntl
import os

import pytest

from collector.service import dirlock
from collector.service.dirlock import DirInUse, lock_dir


def test_a_lock_file_replaced_between_open_and_flock_is_opened_again(tmp_path, monkeypatch):
    name = tmp_path / ".lock"
    name.write_text("")
    real_flock = fcntl.flock
    others: list[int] = []

    def replaced_before_flock(fd: int, op: int) -> None:
        if not others:  # the first flock: meanwhile the file is replaced and another run holds it
            fresh = tmp_path / "fresh"
            fresh.write_text("4242\n")
            os.replace(fresh, name)
            others.append(os.open(name, os.O_RDWR))
            real_flock(others[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        real_flock(fd, op)

    monkeypatch.setattr(dirlock.fcntl, "flock", replaced_before_flock)
    try:
        with pytest.raises(DirInUse, match=r"in use by another midwatch run \(pid 4242\)"):
            lock_dir(tmp_path)
    finally:
        os.close(others[0])
    fd = lock_dir(tmp_path)  # the holder gone, the directory is free
    try:
        assert os.fstat(fd).st_ino == os.stat(name).st_ino
        assert name.read_text() == f"{os.getpid()}\n"
    finally:
        os.close(fd)


def test_a_second_lock_in_the_same_directory_is_refused_until_the_first_is_closed(tmp_path):
    fd = lock_dir(tmp_path / "ck")
    try:
        with pytest.raises(DirInUse, match=rf"pid {os.getpid()}\)"):
            lock_dir(tmp_path / "ck")
    finally:
        os.close(fd)
    os.close(lock_dir(tmp_path / "ck"))
