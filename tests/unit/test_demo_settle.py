"""The wait for a `midwatch run` over files (the export test's and bench/exporter_overhead.py's):
journeys that stopped changing are not the end while a file is unread; the checkpoints
reaching every file's end are. A real SQLite store, real checkpoint files, a real child
process standing for the collector."""

from __future__ import annotations

import subprocess
import time

import pytest

from collector.inputs.checkpoint import CheckpointFile, FilePosition
from collector.store.sqlite import SQLiteStore
from midwatch.demo.settle import wait_until_settled


@pytest.fixture
def setup(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("line one\nline two\n")
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    proc = subprocess.Popen(["sleep", "120"])
    yield tmp_path, logs, store, proc
    proc.kill()
    proc.wait()
    store.close()


def test_quiet_journeys_are_not_the_end_while_a_file_is_unread(setup):
    tmp_path, logs, store, proc = setup
    ckpt = tmp_path / "ckpt"
    # nothing changes in the store for 3 s, far longer than the 2 s quiet spell
    assert wait_until_settled(proc, store, ckpt, ["a"], logs, timeout_s=3) is None
    st = (logs / "a.log").stat()
    half = FilePosition(str(logs / "a.log"), st.st_dev, st.st_ino, 9, 1, size=st.st_size)
    CheckpointFile(ckpt, "a").save({half.key: half})
    assert wait_until_settled(proc, store, ckpt, ["a"], logs, timeout_s=3) is None
    end = FilePosition(str(logs / "a.log"), st.st_dev, st.st_ino, st.st_size, 2,
                       size=st.st_size)
    CheckpointFile(ckpt, "a").save({end.key: end})
    started = time.monotonic()
    assert wait_until_settled(proc, store, ckpt, ["a"], logs, timeout_s=30) == []
    assert time.monotonic() - started < 30


def test_an_exited_collector_ends_the_wait(setup):
    tmp_path, logs, store, proc = setup
    proc.kill()
    proc.wait()
    started = time.monotonic()
    assert wait_until_settled(proc, store, tmp_path / "ckpt", ["a"], logs, timeout_s=30) is None
    assert time.monotonic() - started < 5
