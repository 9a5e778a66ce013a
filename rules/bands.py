"""Severity bands and hysteresis: one alert whose severity follows its value, and a resolve
bound apart from the firing bound, so a value hovering at the bound does not page and resolve
on every tick.

    warning: {above: 10}      # fires as warning above 10 ...
    critical: {above: 50}     # ... and the same alert (one incident) is critical above 50
    resolve_below: 8          # once firing, it resolves only when the value falls below 8

With bands the rule names no ``above``/``below`` of its own: the lowest band is the type's
bound (``firing_bound``). ``resolve_below`` goes with an ``above`` bound, ``resolve_above``
with a ``below`` one; either also works with the type's plain ``above``/``below``. Bands and
resolve bounds compare the alert's value (the count, the ratio, the percentile), so a
``threshold`` with ``measure`` (whose value is not what its bound counts) takes neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collector.config_values import Section

KEYS = ("warning", "critical", "resolve_below", "resolve_above")
BAND_KEYS = ("above", "below")
LEVELS = ("critical", "warning")  # highest first


@dataclass(frozen=True, slots=True)
class Bands:
    levels: tuple[tuple[str, float | None, float | None], ...] = ()  # (severity, above, below)
    resolve_below: float | None = None
    resolve_above: float | None = None


def parse(s: Section, type_keys: Sequence[str]) -> Bands | None:
    levels = []
    for severity in LEVELS:
        if s.has(severity):
            b = s.sub(severity, BAND_KEYS)
            above, below = _number(b, "above"), _number(b, "below")
            if (above is None) == (below is None):
                raise s.error(severity, "expected one bound: above or below",
                              f"e.g. {severity}: {{above: 10}}")
            levels.append((severity, above, below))
    resolve_below, resolve_above = _number(s, "resolve_below"), _number(s, "resolve_above")
    if not levels and resolve_below is None and resolve_above is None:
        return None
    if s.has("measure"):
        raise s.error(levels[0][0] if levels else "resolve_below" if resolve_below is not None
                      else "resolve_above", "bands compare the alert value, which measure "
                      "replaces", "drop measure, or use above/below without bands")
    if levels:
        if s.has("above") or s.has("below"):
            raise s.error(levels[-1][0], "with warning/critical bounds the rule has no "
                          "above/below of its own", "the lowest band is where it fires")
        upward = {above is not None for _, above, _ in levels}
        if len(upward) > 1:
            raise s.error("critical", "warning and critical must both be above or both below")
        key = "above" if upward == {True} else "below"
        if key not in type_keys:
            raise s.error(levels[0][0], f"this rule type has no {key} bound")
        if len(levels) == 2:
            (_, ca, cb), (_, wa, wb) = levels
            if (ca is not None and ca <= wa) or (cb is not None and cb >= wb):  # type: ignore[operator]
                raise s.error("critical", "critical must lie beyond warning",
                              "e.g. warning: {above: 10}, critical: {above: 50}")
    above, below = firing_bound(Bands(tuple(levels))) if levels else (
        _number(s, "above"), _number(s, "below"))
    _check_resolve(s, "resolve_below", resolve_below, above, lambda r, b: r < b)
    _check_resolve(s, "resolve_above", resolve_above, below, lambda r, b: r > b)
    return Bands(tuple(levels), resolve_below, resolve_above)


def _check_resolve(s: Section, key: str, value: float | None, bound: float | None, ok) -> None:
    if value is None:
        return
    side = "above" if key == "resolve_below" else "below"
    if bound is None:
        raise s.error(key, f"goes with an {side} bound", f"e.g. {side}: 10, {key}: 8")
    if not ok(value, bound):
        raise s.error(key, f"must lie inside the firing bound ({side} {bound}), got {value}",
                      "the gap between the two is what keeps a hovering value from flapping")


def _number(s: Section, key: str) -> float | None:
    value = s.raw(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise s.error(key, f"expected a number, got {value!r}")
    return value


def firing_bound(bands: Bands) -> tuple[float | None, float | None]:
    """(above, below) of the lowest band: where the alert starts firing."""
    aboves = [a for _, a, _ in bands.levels if a is not None]
    belows = [b for _, _, b in bands.levels if b is not None]
    return (min(aboves) if aboves else None), (max(belows) if belows else None)


def severity(bands: Bands | None, value: float | None, default: str) -> str:
    """The highest band the value is past; the lowest band's while firing below it (held by
    the resolve bound); ``default`` without bands."""
    if bands is None or not bands.levels:
        return default
    for level, above, below in bands.levels:
        if value is not None and ((above is not None and value > above)
                                  or (below is not None and value < below)):
            return level
    return bands.levels[-1][0]


def holds(bands: Bands | None, value: float | None) -> bool:
    """Whether a firing alert stays firing at ``value`` though its bound no longer holds."""
    if bands is None or value is None:
        return False
    return ((bands.resolve_below is not None and value >= bands.resolve_below)
            or (bands.resolve_above is not None and value <= bands.resolve_above))
