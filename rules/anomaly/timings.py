"""How long training and scoring take, for ``/metrics`` of ``midwatch run``.

Rule types run without a metrics registry at hand, so they report here; ``expose`` connects
the running service's registry once (the rule scheduler calls it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Sink = Callable[[str, str, float, int], None]
_sinks: list[Sink] = []
BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@contextmanager
def timed(phase: str, rule: str, series: int) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    for sink in _sinks:
        sink(phase, rule, seconds, series)


def expose(registry) -> None:
    """Histogram of durations and a gauge of series per rule and phase (train|score)."""
    if any(getattr(s, "registry", None) is registry for s in _sinks):
        return
    duration = registry.histogram("midwatch_anomaly_duration_seconds",
                                  "Anomaly model training and scoring time per rule",
                                  ("phase", "rule"), buckets=BUCKETS)
    series = registry.gauge("midwatch_anomaly_series",
                            "Series in the last training or scoring run per rule",
                            ("phase", "rule"))

    def sink(phase: str, rule: str, seconds: float, n: int) -> None:
        duration.observe(seconds, phase, rule)
        series.set(n, phase, rule)

    sink.registry = registry  # type: ignore[attr-defined]
    _sinks.append(sink)


def detach(registry) -> None:
    _sinks[:] = [s for s in _sinks if getattr(s, "registry", None) is not registry]
