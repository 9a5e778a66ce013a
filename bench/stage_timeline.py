"""Where the wall time of an end-to-end run goes, stage by stage (``e2e_bench.py --timeline``).

A profiler counts CPU; what bounds the collector's rate is how its stages wait for each other
(issue 25): the file thread waiting for its parse worker, the writer correlating and waiting
for its trace writes, the event writer waiting for its bulk requests. Each stage's method is
wrapped for the run with a wall clock, and the totals are printed beside the run's elapsed
time: a stage whose total is near it is the one the others wait for. The bulk requests'
total counts every request of every sender thread, so with several in flight it exceeds the
elapsed time. Totals cover the whole measured call, the service's shut-down included (the
writer's last waits for input that will not come), so the writer's stages may add up to a
little more than the elapsed time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from collector.inputs.base import ChunkQueue
from collector.inputs.parse_worker import ParseWorker
from collector.service.pipeline import Pipeline
from collector.store.elasticsearch import ElasticsearchStore

# (class, method, what it is: the thread it runs in, then the stage)
STAGES: tuple[tuple[type, str, str], ...] = (
    (ParseWorker, "call", "file thread: waiting for the parse worker"),
    (ChunkQueue, "put", "file thread: waiting for room in the queue"),
    (Pipeline, "_collect", "writer: collecting a batch"),
    (Pipeline, "_process", "writer: correlating"),
    (ElasticsearchStore, "get_traces_by_ids", "writer: reading traces"),
    (ElasticsearchStore, "upsert_traces", "writer: writing traces"),
    (Pipeline, "_settle_in_flight", "writer: waiting for the events in flight"),
    (Pipeline, "_write_rest", "event writer: writing a batch's events"),
    (ElasticsearchStore, "_bulk", "sender threads: bulk requests (all)"),
)


@contextmanager
def stage_timeline() -> Iterator[dict[str, list[float]]]:
    """Wall seconds and calls per stage while the block runs: ``{stage: [seconds, calls]}``."""
    totals: dict[str, list[float]] = {what: [0.0, 0] for _, _, what in STAGES}
    lock = threading.Lock()
    saved = [(cls, name, getattr(cls, name)) for cls, name, _ in STAGES]

    def timed(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - started
                with lock:
                    totals[what][0] += took
                    totals[what][1] += 1
        return wrapper

    for (cls, name, fn), (_, _, what) in zip(saved, STAGES, strict=True):
        setattr(cls, name, timed(fn, what))
    try:
        yield totals
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def report(totals: dict[str, list[float]], elapsed_s: float) -> str:
    lines = [f"where the wall time went ({elapsed_s:.2f} s from start to the last event "
             f"stored):"]
    for what, (seconds, calls) in totals.items():
        if calls:
            lines.append(f"  {what:45s} {seconds:7.2f} s  {seconds / elapsed_s:5.0%}  "
                         f"{int(calls):6d} calls")
    return "\n".join(lines)
