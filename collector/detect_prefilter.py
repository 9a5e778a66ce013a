"""Auto-detection's prefilter: which of the parsers that may claim a line need asking at all.

Auto-detection asks the parsers in ``DETECT_ORDER`` until one claims a line, and in auto mode
every line of a start-less format is asked again (a mixed source may switch format on any
line). A JSON log line is claimed by the 20th parser: nine ``detect`` calls before it may
claim a line starting with ``{``, ~2.5 us a line in Python, a third of what parsing it costs
with the native fast path. Those nine only ever claim a line holding one of a few substrings
(their ``DETECT_NEEDS``), so one native pass over a batch (``collector.native.needles``) tells
which lines may concern them; the others are asked only of the parsers that declare no needles
for their first character. The first claim is the same either way: tests/unit/
test_auto_detect.py compares it with full detection line by line over every fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType


@dataclass(frozen=True, slots=True)
class Plan:
    """How to ask the parsers that may claim lines with one first character."""

    # The parsers that declare no needles for that character, in detection order: all a
    # line holding none of ``needles`` is asked of.
    bare: tuple[ModuleType, ...]
    # Every needle of the others (a line holding one is asked of all, in order).
    needles: tuple[str, ...]


@lru_cache(maxsize=512)
def plan(first: str, askable: tuple[ModuleType, ...]) -> Plan:
    """``first``: a line's first character as ``collector.parse.first_class`` names it;
    ``askable``: the parsers that may claim such a line, in detection order."""
    bare: list[ModuleType] = []
    needles: list[str] = []
    for module in askable:
        needs = getattr(module, "DETECT_NEEDS", {}).get(first)
        if needs is None:
            bare.append(module)
        else:
            needles.extend(needs)
    return Plan(tuple(bare), tuple(dict.fromkeys(needles)))
