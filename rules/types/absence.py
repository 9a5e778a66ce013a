"""A flow, partner or system that should be active sent fewer than ``min_events`` in the window.

Which groups should be active: ``expected`` (listed) and/or those seen in the ``seen_within``
span before the window (so a new partner is covered without editing the rule). ``active`` is
the business calendar: outside it silence is normal and nothing fires; a window is judged
when it starts and ends inside it, or when it holds a whole active range (``judged``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from collector.config_values import Section
from collector.store.base import MetricQuery, MetricRow
from rules.schema import Rule, Sample
from rules.timewindows import KEYS as WINDOW_KEYS
from rules.timewindows import TimeWindow, parse_window
from rules.types import group_key, number, window_query

KEYS = ("min_events", "expected", "seen_within", "active", "unless_all_silent")
CONTEXT = ("count", "min_events")
UNIT = "events"  # of the alert value (annotation ``unit``)


@dataclass(frozen=True, slots=True)
class Spec:
    min_events: int
    expected: tuple[dict[str, str], ...]
    seen_within_ms: int | None
    active: TimeWindow | None
    # Nothing of the rule's at all in either half of the window: the collector stopped
    # (for part of it at least), not each source; midwatch-collector-stalled pages that
    # once. Nothing starts then; an open alert is held.
    unless_all_silent: bool = False


def parse(s: Section) -> Spec:
    expected_raw = s.raw("expected", [])
    if not isinstance(expected_raw, list) or not all(isinstance(e, dict) for e in expected_raw):
        raise s.error("expected", "expected a list of groups like {midwatch.flow: o2c}")
    expected = tuple({str(k): str(v) for k, v in e.items()} for e in expected_raw)
    seen = s.duration_ms("seen_within", "0s") or None
    active = parse_window(s.sub("active", WINDOW_KEYS)) if s.has("active") else None
    return Spec(int(number(s, "min_events", 1, minimum=1)), expected, seen, active,
                s.flag("unless_all_silent", False))


def check(rule: Rule, s: Section) -> None:
    """Expected groups must name exactly the rule's group_by fields."""
    for i, group in enumerate(rule.spec.expected):
        if set(group) != set(rule.group_by):
            raise s.doc.error((*s.path, "expected", i),
                              f"group {group} does not match group_by {list(rule.group_by)}",
                              "give one value per group_by field")
    if not rule.group_by and (rule.spec.expected or rule.spec.seen_within_ms):
        raise s.error("group_by", "expected/seen_within need group_by",
                      "without group_by the rule watches all matching events as one")
    if rule.spec.unless_all_silent and not rule.group_by:
        raise s.error("unless_all_silent", "needs group_by",
                      "without group_by its one group silent is all of them silent")
    if rule.group_by and not (rule.spec.expected or rule.spec.seen_within_ms):
        raise s.error("expected", "which groups should be active?",
                      "list them in expected, or set seen_within: 7d")


def index(spec: Spec) -> str:
    return "events"


def queries(rule: Rule, at_ms: int) -> list[MetricQuery]:
    qs = [window_query(rule, at_ms)]
    if rule.spec.seen_within_ms:
        start = at_ms - rule.window_ms
        qs.append(window_query(rule, at_ms, start_ms=start - rule.spec.seen_within_ms,
                               end_ms=start))
    if rule.spec.unless_all_silent:  # every group together, per half of the window
        middle = at_ms - rule.window_ms // 2
        qs += [window_query(replace(rule, group_by=()), at_ms, start_ms=a, end_ms=b)
               for a, b in ((at_ms - rule.window_ms, middle), (middle, at_ms))]
    return qs


MIN = 60_000


def judged(active: TimeWindow, at_ms: int, window_ms: int) -> bool:
    """Whether the window ending at ``at_ms`` is judged: it lies in the calendar, its start
    too (the first window of the working day reaches back into the night, whose silence is
    normal: a flow that starts on time would be paged every morning), or it holds a whole
    active range, start to close (a range shorter than the window: 09:00-09:30 with 1h, or
    business hours with 12h, is judged from its close for one window length; by the first
    rule alone it would never be judged at all)."""
    if active.contains(at_ms) and active.contains(at_ms - window_ms):
        return True
    # Calendar edges fall on whole minutes: an inactive minute, then an active one, then an
    # inactive one again (the close), all within the window, is a whole range inside it.
    first = -(-(at_ms - window_ms) // MIN) * MIN - MIN  # the minute before the window's first
    state = 0  # 0: no inactive minute yet, 1: seen one, 2: then an active one
    for t in range(first, at_ms + 1, MIN):
        if active.contains(t) != (state == 1):
            continue
        if state == 2:
            return True
        state += 1
    return False


def evaluate(rule: Rule, at_ms: int, results: list[list[MetricRow]]) -> list[Sample]:
    spec: Spec = rule.spec
    if spec.active is not None and not judged(spec.active, at_ms, rule.window_ms):
        return []
    counts = {group_key(r, rule.group_by): r.count for r in results[0]}
    expected = {tuple(g[f] for f in rule.group_by) for g in spec.expected}
    if spec.seen_within_ms:
        expected |= {group_key(row, rule.group_by) for row in results[1]}
    if not rule.group_by:
        expected = {()}
    # A full answer (``max_groups``) cut its smallest groups: a group missing from it may
    # still be sending, so it is not counted 0 (its open alert is judged alone).
    full = bool(rule.group_by) and len(counts) >= rule.max_groups
    stalled = spec.unless_all_silent and not all(any(r.count for r in half)
                                                  for half in results[-2:])
    out = []
    for key in sorted(expected):
        if full and key not in counts:
            continue
        count = counts.get(key, 0)
        sample = Sample(dict(zip(rule.group_by, key, strict=True)), float(count),
                        count < spec.min_events, {"count": count, "min_events": spec.min_events})
        out.append(replace(sample, active=False, current=sample) if stalled else sample)
    return out
