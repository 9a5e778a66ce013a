"""What a probe measured, and the event that stores it.

A reading is one number about one thing (the lag of one consumer group on one topic, the days
left on one certificate). It is stored as an event of dataset ``midwatch.probe`` so the metric
queries rules and boards already run can filter (``labels.probe.metric``), group (any label)
and aggregate (``midwatch.probe.value``) it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from collector.event import Event, event_id, lower_keys

DATASET = "midwatch.probe"


@dataclass(frozen=True, slots=True)
class Reading:
    metric: str
    value: int | None
    labels: dict[str, str] = field(default_factory=dict)  # keys stored lower case (to_event)
    # False when the reading itself is bad news the probe is sure of (endpoint down, certificate
    # not trusted); a high lag is still ok=True: how much is too much is the rules' call.
    ok: bool = True
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeIdentity:
    """What every event of one probe shares."""

    name: str
    kind: str
    platform: str
    target: str


def to_event(probe: ProbeIdentity, reading: Reading, at_ms: int,
             duration_ns: int | None = None) -> Event:
    # Probe events do not pass ``collector.normalize``: keys lower-cased here, as there.
    labels = {"probe.kind": probe.kind, "probe.name": probe.name,
              "probe.metric": reading.metric, **lower_keys(reading.labels)}
    dims = "\x1f".join(f"{k}={v}" for k, v in sorted(reading.labels.items()))
    shown = "" if reading.value is None else f" = {reading.value}"
    where = ", ".join(f"{k}={v}" for k, v in reading.labels.items())
    return Event(
        timestamp_ms=at_ms,
        dataset=DATASET,
        platform=probe.platform,
        message=f"{reading.metric}{' ' + where if where else ''}{shown}"
                + (f": {reading.error}" if reading.error else ""),
        outcome="success" if reading.ok else "failure",
        level="info" if reading.ok else "error",
        # Same probe, thing and instant -> same ID: a retried write overwrites.
        id=event_id(f"probe:{probe.name}", f"{reading.metric}\x1f{dims}", at_ms),
        ingested_ms=at_ms,
        duration_ns=duration_ns,
        service=probe.name,
        host=probe.target,
        error_message=reading.error,
        labels=labels,
        probe_value=reading.value,
    )


class Growth:
    """How much a value grew since the previous run, for at most ``max_series`` series.

    Growth needs memory of the previous sample; keeping it here (bounded, least recently seen
    dropped first) lets a rule ask "is the dead-letter queue growing" with a plain threshold
    on the stored delta instead of comparing samples across time.
    """

    def __init__(self, max_series: int = 10_000):
        self.max_series = max_series
        self._last: OrderedDict[tuple, int] = OrderedDict()

    def delta(self, key: tuple, value: int) -> int | None:
        """``value`` minus the previous one for ``key``; None the first time it is seen."""
        previous = self._last.pop(key, None)
        self._last[key] = value
        while len(self._last) > self.max_series:
            self._last.popitem(last=False)
        return None if previous is None else value - previous
