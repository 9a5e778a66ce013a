"""``since``: how far back a question about traces looks, one grammar for the API, the
explorer and the CLI, so a value that works in one works in all and a wrong one gets the
same explanation everywhere.

A duration (``90s``, ``6h``, ``1.5d``: at most 9 digits, so that no value overflows the
stores' 64-bit milliseconds) means that long before now. An RFC 3339 date (``2026-12-06``,
midnight UTC) or time (``2026-12-06T18:30:00Z``, ``2026-12-06T18:30:00.5+01:00``) means from
then: exactly what the API's OpenAPI document allows (``collector.apidoc``), so no time is
guessed at (a time without an offset is refused rather than read in some zone). Each shape
is checked by pattern before anything converts it; anything before 1970 means from the start.
"""

from __future__ import annotations

import re

from collector.event import iso_to_ms
from collector.yamlconf import parse_duration_ms

# Also the pattern the OpenAPI document gives for the duration form (collector.apidoc).
SINCE_DURATION = r"[0-9]{1,9}(\.[0-9]{1,3})?(ms|s|m|h|d|w)"
_DURATION = re.compile(SINCE_DURATION)
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                      r"(T[0-9]{2}:[0-9]{2}:([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?")


def parse_since(text: str, now_ms: int) -> int:
    """``since`` text -> epoch ms, never before 1970; ValueError says what was expected
    (callers put the parameter's or flag's name in front)."""
    try:
        if _DURATION.fullmatch(text):
            return max(0, now_ms - parse_duration_ms(text))
        match = _RFC3339.fullmatch(text)
        if match:
            if match.group(2) == "60":  # a leap second: counted as the second before it
                text = text[:17] + "59" + text[19:]
            return max(0, iso_to_ms(text))
    except (ValueError, OverflowError):
        pass
    raise ValueError(f"expected a duration like 1h (at most 9 digits) or a time like "
                     f"2026-01-31T12:00:00Z (RFC 3339), got {text[:60]!r}")
