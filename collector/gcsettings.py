"""How often CPython's cyclic garbage collector runs in the pipeline's processes.

By default the youngest generation is collected every 700 net allocations of container
objects. The pipeline keeps each batch of events (up to 2,000) and the correlator's in-flight
traces alive across many such collections, so every collection promoted them, and the oldest
generation, which holds every in-flight trace and hop, was traversed again and again: in
``bench/e2e_bench.py --correlate`` (200k events, 66,667 traces) 17 full collections took
2.8 s of a 20 s run, 3.9 s with the younger generations, plus 0.5 s in the parse worker.
With a young generation of 50,000 objects the same run had no full collection and 1.1 s in
all, and the parse worker none (its events die young and are freed by reference counting).

Nothing the pipeline builds refers to itself (events, hops and traces are trees that reference
counting frees), so collecting less often holds back little memory: at most the cycles of
50,000 allocations.
"""

from __future__ import annotations

import gc

YOUNG_OBJECTS = 50_000


def collect_less() -> tuple[int, int, int]:
    """Collect the youngest generation every ``YOUNG_OBJECTS`` allocations; the thresholds
    this replaced, for a caller that hands the process back (tests run services in-process)."""
    previous = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, *previous[1:])
    return previous
