"""The loaded shape of rules and of what evaluating them yields: plain frozen data.

A rule's type-specific settings live in ``spec``, a dataclass owned by the module in
``rules/types/`` that defines the type, so a new type (``anomaly``) adds fields without
touching the common ones here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.store.base import Filter
from rules.templates import Template
from rules.timewindows import TimeWindow

SEVERITIES = ("critical", "error", "warning", "info")
ANNOTATIONS = ("summary", "description", "runbook_url")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    type: str
    spec: Any
    window_ms: int
    filters: tuple[Filter, ...] = ()
    group_by: tuple[str, ...] = ()
    interval_ms: int | None = None  # None: every scheduler interval
    for_ms: int = 0
    severity: str = "warning"
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, Template], ...] = ()
    notify: tuple[str, ...] | None = None  # None: the config's rules.notify
    mute: tuple[TimeWindow, ...] = ()
    enabled: bool = True
    repeat_interval_ms: int = 4 * 3_600_000
    send_resolved: bool = True
    description: str = ""
    max_groups: int = 1000
    query_delay_ms: int = 0  # evaluate this much in the past, for sources that arrive late
    bands: Any = None  # rules.bands.Bands: warning/critical bounds, resolve_below/above
    flap: Any = None  # rules.flapping.Flap: flap detection
    origin: str = ""  # file:line, for messages about this rule

    def muted(self, at_ms: int) -> bool:
        return any(w.contains(at_ms) for w in self.mute)


@dataclass(frozen=True, slots=True)
class Sample:
    """One group's outcome of one evaluation: its value and whether the condition holds.

    ``context`` feeds annotation templates (each type documents its keys in ``CONTEXT``);
    ``example_filters`` narrow the rule's own filters to the events worth quoting as sample
    message IDs (ratio: the failures; new_error: that signature).
    """

    group: dict[str, Any]
    value: float | None
    active: bool
    context: dict[str, Any] = field(default_factory=dict)
    example_filters: tuple[Filter, ...] = ()
    # Sliding types (``rules/sliding.py``): the same group judged on the window ending at the
    # evaluation. A burst anywhere since the previous evaluation starts an alert; one already
    # pending or firing carries on or resolves on this, as it would with a fixed window.
    current: Sample | None = None
