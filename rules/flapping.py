"""Flap detection: an alert that changed state more than ``flap.max_changes`` times within
``flap.window`` is notified once as flapping and held firing until it has been stable (no
change) for a whole ``flap.window``; then it resolves, or carries on firing, as its condition
says. An on-call person gets one page for a flapping check, not one per change.

    flap: {max_changes: 4, window: 1h}

The changes counted are those of the condition (after hysteresis, ``rules/bands.py``), kept
with the alert (at most ``max_changes + 1`` times, within the window), including while it is
resolved between flaps, so the state survives a restart with the rest of the alert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from collector.config_values import Section
from rules.state import FIRING, PENDING, RESOLVED, Alert

KEYS = ("max_changes", "window")
FLAPPING = "flapping"  # what an alert's history says when it starts flapping


@dataclass(frozen=True, slots=True)
class Flap:
    max_changes: int
    window_ms: int


def parse(s: Section) -> Flap | None:
    if not s.has("flap"):
        return None
    f = s.sub("flap", KEYS)
    if not f.has("max_changes"):
        raise s.error("flap", "max_changes is required", "e.g. flap: {max_changes: 4, window: 1h}")
    return Flap(f.number("max_changes", 4, minimum=1), f.duration_ms("window", "1h", minimum_ms=1000))


def damp(flap: Flap | None, prev: Alert | None, alert: Alert | None, moved: str | None,
         active: bool, at_ms: int) -> tuple[Alert | None, str | None]:
    """The alert and its move after flap detection: (``advance``'s result when ``flap`` is
    None). ``active``: the condition this evaluation, ``prev``: the alert before it."""
    if flap is None:
        return alert, moved
    was = prev is not None and prev.state in (PENDING, FIRING) and not prev.held
    flips = tuple(t for t in (prev.flips if prev else ()) if t > at_ms - flap.window_ms)
    if active != was:
        flips = (*flips, at_ms)[-(flap.max_changes + 1):]
    was_flapping = prev is not None and prev.flapping
    flapping = len(flips) > flap.max_changes or (was_flapping and bool(flips))
    if alert is None:  # resolved and quiet: remembered only while its changes count
        if prev is None or not flips:
            return None, None
        return replace(prev, flips=flips, last_eval_ms=at_ms), None
    if alert.state == RESOLVED and flapping:  # held firing until stable
        alert = replace(alert, state=FIRING, resolved_ms=None, held=True)
        moved = None
    elif alert.state == FIRING:
        alert = replace(alert, held=False)
    alert = replace(alert, flips=flips, flapping=flapping and alert.state == FIRING)
    if alert.flapping and not was_flapping:
        moved = FLAPPING
    return alert, moved
