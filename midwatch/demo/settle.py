"""When a `midwatch run` over the demo's files is done: every file read and its journeys settled.

A quiet spell alone is not the end: on a loaded machine the collector can pause longer than
any fixed spell while files are still unread. The collector itself says how far it got: its
file inputs' checkpoints (read as ``midwatch doctor`` reads them) move only once the store
acknowledged, so the run is done when they reach every file's end and, after that, the
journeys stopped changing (the sweep settles stuck ones). The export test and
``bench/exporter_overhead.py`` wait through this one function.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from collector.inputs.checkpoint import CheckpointFile
from collector.store.base import Store, StoreError, TraceQuery

POLL_S = 0.5
STABLE_READS = 4  # journeys unchanged over 2 s after the files were read

Journeys = list[tuple[str, int, str]]


def read_to_end(checkpoint_dir: str | Path, inputs: list[str], sizes: dict[str, int]) -> bool:
    """Whether the checkpoints of the file inputs named ``inputs`` acknowledge every file of
    ``sizes`` (resolved path -> bytes) to its end."""
    done = {str(Path(pos.source).resolve()): pos.offset for name in inputs
            for pos in CheckpointFile(checkpoint_dir, name).load().values()}
    return all(done.get(path, -1) >= size for path, size in sizes.items())


def wait_until_settled(proc: subprocess.Popen, store: Store, checkpoint_dir: str | Path,
                       inputs: list[str], logs: Path, timeout_s: float) -> Journeys | None:
    """The journeys (key, hops, status) once ``proc`` (a ``midwatch run``) has read every file
    in ``logs`` and its journeys stopped changing; None if it exited or ``timeout_s`` passed
    first."""
    sizes = {str(p.resolve()): p.stat().st_size for p in logs.iterdir()}
    seen: Journeys | None = None
    stable, deadline = 0, time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            now = [(t.trace_key, t.hop_count, t.status)
                   for t in store.search_traces(TraceQuery(limit=100_000))]
        except StoreError:  # the collector is still creating the schema
            now = None
        # counted only once every file is read: the journeys may rest while files wait
        done = now is not None and read_to_end(checkpoint_dir, inputs, sizes)
        stable = stable + 1 if done and now == seen else 0
        seen = now
        if stable >= STABLE_READS:
            return seen
        time.sleep(POLL_S)
    return None
