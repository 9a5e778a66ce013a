"""Self-monitoring: counters, gauges and histograms, exposed in the Prometheus text format.

Small on purpose (no client library): the collector needs a handful of series, and every
family caps its label sets (``MAX_SERIES``) so that a label fed from data (a dead-letter
reason, an input name) cannot grow memory without bound; past the cap, samples land in one
``overflow`` series, which is itself a signal worth alerting on.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

MAX_SERIES = 100
OVERFLOW = "overflow"
# Seconds; suits bulk requests (ms to tens of seconds) and pipeline lag alike.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

LabelValues = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Family:
    kind = ""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...]):
        self.name, self.help, self.labels = name, help_text, labels
        self._lock = threading.Lock()
        self._series: dict[LabelValues, object] = {}

    def _key(self, values: tuple[str, ...]) -> LabelValues:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {values}")
        key = tuple(str(v) for v in values)
        if key not in self._series and len(self._series) >= MAX_SERIES:
            return (OVERFLOW,) * len(self.labels)
        return key

    def _label_text(self, key: LabelValues, extra: str = "") -> str:
        parts = [f'{n}="{_escape(v)}"' for n, v in zip(self.labels, key, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def expose(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        with self._lock:
            items = sorted(self._series.items())
        for key, value in items:
            lines.extend(self._sample_lines(key, value))
        return lines

    def _sample_lines(self, key: LabelValues, value: object) -> list[str]:
        return [f"{self.name}{self._label_text(key)} {_number(value)}"]


class Counter(_Family):
    kind = "counter"

    def inc(self, *labels: str, by: float = 1) -> None:
        with self._lock:
            key = self._key(labels)
            self._series[key] = self._series.get(key, 0) + by

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._series.get(tuple(labels), 0)

    def total(self) -> float:
        with self._lock:
            return sum(self._series.values())


class Gauge(_Family):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        with self._lock:
            self._series[self._key(labels)] = value

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._series.get(tuple(labels), 0)

    def replace(self, first_label: str, values: dict[tuple[str, ...], float]) -> None:
        """Set every series whose first label is ``first_label`` at once, dropping the ones
        not named (a Kafka partition this consumer lost must not report a frozen lag)."""
        with self._lock:
            for key in [k for k in self._series if k and k[0] == first_label]:
                del self._series[key]
            for rest, value in values.items():
                self._series[self._key((first_label, *rest))] = value


class Histogram(_Family):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...],
                 buckets: tuple[float, ...] = DEFAULT_BUCKETS):
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            key = self._key(labels)
            state = self._series.get(key)
            if state is None:
                state = self._series[key] = [[0] * len(self.buckets), 0.0, 0]
            counts, _, _ = state
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
            state[1] += value
            state[2] += 1

    def count(self, *labels: str) -> int:
        with self._lock:
            state = self._series.get(tuple(labels))
            return state[2] if state else 0

    def _sample_lines(self, key: LabelValues, value: object) -> list[str]:
        counts, total, n = value
        lines = [f"{self.name}_bucket{self._label_text(key, f'le={_q(_number(b))}')} {c}"
                 for b, c in zip(self.buckets, counts, strict=True)]
        lines.append(f"{self.name}_bucket{self._label_text(key, 'le=' + _q('+Inf'))} {n}")
        lines.append(f"{self.name}_sum{self._label_text(key)} {_number(total)}")
        lines.append(f"{self.name}_count{self._label_text(key)} {n}")
        return lines


def _q(text: str) -> str:
    return f'"{text}"'


class Registry:
    """Named families, plus collect-time callbacks for values that are read, not counted
    (queue depth, bytes behind), so nothing has to poll them."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._collectors: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def _family(self, cls: type, name: str, help_text: str, labels: tuple[str, ...], **kw):
        with self._lock:
            found = self._families.get(name)
            if found is None:
                found = self._families[name] = cls(name, help_text, labels, **kw)
            elif not isinstance(found, cls) or found.labels != labels:
                raise ValueError(f"metric {name} already registered with another shape")
            return found

    def counter(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Counter:
        return self._family(Counter, name, help_text, labels)

    def gauge(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return self._family(Gauge, name, help_text, labels)

    def histogram(self, name: str, help_text: str, labels: tuple[str, ...] = (),
                  buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> Histogram:
        return self._family(Histogram, name, help_text, labels, buckets=buckets)

    def on_collect(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._collectors.append(fn)

    def expose(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            collectors = list(self._collectors)
            families = sorted(self._families.values(), key=lambda f: f.name)
        for fn in collectors:
            fn()
        lines: list[str] = []
        for family in families:
            lines.extend(family.expose())
        return "\n".join(lines) + "\n"


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
