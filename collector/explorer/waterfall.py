"""Where each hop of a trace sits on one time axis: the geometry of the trace page's waterfall.

Hops are points in time (the event that recorded them), so a hop's bar spans the wait since the
previous hop: a long bar is where the message sat. Kept pure (a Trace in, numbers out) so the
layout is tested without a browser and the template only places boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.trace import Trace

# A wait that takes at least this share of the journey (and at least GAP_MIN_MS) is drawn as
# a gap: that is where to look first.
GAP_SHARE = 0.3
GAP_MIN_MS = 1000
# An SLA deadline further out than this many journey lengths is noted, not drawn to scale
# (a 4h SLA would squash a 2s journey into one pixel).
DEADLINE_SCALE = 3
MIN_WIDTH_PCT = 0.4


@dataclass(frozen=True, slots=True)
class Bar:
    index: int
    left_pct: float
    width_pct: float
    wait_ms: int  # since the previous hop (0 for the first)
    outcome: str
    retry: bool
    gap: bool


@dataclass(frozen=True, slots=True)
class Layout:
    start_ms: int
    span_ms: int  # what 100% of the axis is
    bars: list[Bar]
    deadline_pct: float | None  # the SLA deadline on the axis, None when off it or no SLA
    deadline_off_axis: bool
    ticks: list[tuple[float, int]]  # (position %, ms since start)


def is_retry(trace: Trace, index: int) -> bool:
    """A hop is a retry when it says so, or when it repeats the stage of an earlier failed hop."""
    hop = trace.hops[index]
    if hop.action == "retried":
        return True
    return hop.stage is not None and any(
        h.stage == hop.stage and h.outcome == "failure" for h in trace.hops[:index])


def layout(trace: Trace) -> Layout:
    hops = trace.hops
    start = trace.started_ms if not hops else min(trace.started_ms, hops[0].timestamp_ms)
    end = max([start, *(h.timestamp_ms for h in hops)])
    journey = end - start
    deadline = start + trace.sla_ms if trace.sla_ms else None
    off_axis = deadline is not None and deadline - start > DEADLINE_SCALE * max(journey, 1)
    span = max(journey, 1)
    if deadline is not None and not off_axis:
        span = max(span, deadline - start)

    def pct(ms: int) -> float:
        return round(100.0 * (ms - start) / span, 3)

    bars = []
    previous = start
    for i, hop in enumerate(hops):
        wait = max(0, hop.timestamp_ms - previous) if i else 0
        left = pct(previous if i else hop.timestamp_ms)
        width = max(MIN_WIDTH_PCT, pct(hop.timestamp_ms) - left)
        gap = wait >= GAP_MIN_MS and wait >= GAP_SHARE * journey
        bars.append(Bar(i, min(left, 100 - MIN_WIDTH_PCT), width, wait, hop.outcome,
                        is_retry(trace, i), gap))
        previous = hop.timestamp_ms
    ticks = [(round(100.0 * k / 4, 3), span * k // 4) for k in range(5)]
    return Layout(start, span, bars, None if deadline is None or off_axis else pct(deadline),
                  off_axis, ticks)
