"""Walk-through: a second `midwatch run` on the same config started and ran beside the first
on one checkpoint directory (positions overwritten by both, each one's crash notes read as the
other's death). It is refused at once in one line naming the directory and the holder's PID;
once the first ends, the directory is free again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from collector.service.dirlock import lock_dir


def _config(tmp_path: Path) -> Path:
    log = tmp_path / "app.log"
    log.write_text("2026-12-07T10:00:00Z INFO started\n")
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'mw.sqlite'}}}\n"
                   f"collector:\n  checkpoint_dir: {tmp_path / 'ckpt'}\n"
                   f"  state_dir: {tmp_path}\n"
                   f"inputs:\n  - {{type: file, name: app, paths: ['{log}'], format: auto}}\n")
    return cfg


def _start(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "midwatch", "run", "-c", str(cfg), "--no-api",
                             "--log-level", "error"], stderr=subprocess.PIPE, text=True)


def _wait_for_holder(lock: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.1)  # poll: the process takes the lock at start
    raise AssertionError(f"{proc.pid} did not take {lock} in 30 s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stderr.close()


def test_second_run_on_one_checkpoint_dir_is_refused_naming_the_holder(tmp_path):
    cfg = _config(tmp_path)
    lock = tmp_path / "ckpt" / ".lock"
    first = _start(cfg)
    try:
        _wait_for_holder(lock, first)
        second = subprocess.run([sys.executable, "-m", "midwatch", "run", "-c", str(cfg),
                                 "--no-api", "--log-level", "error"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines() == [
            f"midwatch run: {cfg}: collector.checkpoint_dir: {tmp_path / 'ckpt'} is in use by "
            f"another midwatch run (pid {first.pid}); stop it, or give each process its own "
            f"collector.checkpoint_dir and collector.spool.dir"]
    finally:
        _stop(first)
    third = _start(cfg)  # the kernel released the first one's lock with its process
    try:
        _wait_for_holder(lock, third)
    finally:
        _stop(third)


def _run(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midwatch", "run", "-c", str(cfg), "--no-api",
                           "--log-level", "warning"], capture_output=True, text=True, timeout=120)


def test_a_refused_second_run_never_touches_the_store(tmp_path):
    """The lock used to come after the store's setup: a refused run first created the SQLite
    file (or templates and mappings on a live cluster) and, with the store down, sat through
    its retries (8.4 s against a refused port) before being refused (review E item 3)."""
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text("store:\n  kind: elasticsearch\n"
                   "  elasticsearch: {url: 'http://127.0.0.1:9', index_prefix: mende-lock}\n"
                   f"collector:\n  checkpoint_dir: {tmp_path / 'ckpt'}\n  state_dir: {tmp_path}\n")
    (tmp_path / "sqlite").mkdir()
    sqlite_cfg = _config(tmp_path / "sqlite")
    held = lock_dir(tmp_path / "ckpt")
    held_sqlite = lock_dir(tmp_path / "sqlite" / "ckpt")
    try:
        down = _run(cfg)
        on_sqlite = _run(sqlite_cfg)
    finally:
        os.close(held)
        os.close(held_sqlite)
    for result, config in ((down, cfg), (on_sqlite, sqlite_cfg)):
        assert result.returncode == 2, result.stderr
        (line,) = result.stderr.strip().splitlines()  # no "store unavailable" warning first
        assert line.startswith(f"midwatch run: {config}: collector.checkpoint_dir: "), line
        assert f"(pid {os.getpid()})" in line
    assert not (tmp_path / "sqlite" / "mw.sqlite").exists()


def test_an_unusable_checkpoint_dir_is_one_line_naming_the_setting(tmp_path):
    """lock_dir's OSError (a checkpoint_dir that cannot be created) was a traceback, rc 1,
    with the store left open (review E item 4)."""
    cfg = _config(tmp_path)
    (tmp_path / "not-a-dir").write_text("")
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "ckpt"),
                                           str(tmp_path / "not-a-dir" / "ckpt")))
    result = _run(cfg)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"midwatch run: {cfg}: collector.checkpoint_dir: cannot lock "
        f"{tmp_path / 'not-a-dir' / 'ckpt'}: Not a directory; give a directory this user may "
        f"create and write"]
