"""Text from data made safe to print on a terminal.

Log lines, IDs, service names and error messages come from systems we do not control. Printed
raw, an ESC or OSC sequence sets the terminal title, clears the screen or hides text; a CR or
BS overwrites a row so a failed hop reads as a success; Unicode bidi controls reorder what is
shown. Every CLI table and text line therefore passes data through ``safe``, which shows
those characters escaped the way Python writes them (``\\x1b``, ``\\r``, ``\\u202e``). JSON
output does not: it is already escaped, and must stay exact.
"""

from __future__ import annotations

import re

_BIDI_AND_SEPARATORS = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F),
                        *range(0x2066, 0x206A))
_ESCAPES: dict[int, str] = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    **{c: f"\\u{c:04x}" for c in _BIDI_AND_SEPARATORS},
    0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r",
}
# DEL, the C1 controls and the bidi/separator characters above as UTF-8: JSON serializers
# leave them raw.
_RAW_IN_JSON = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]"
                          rb"|\xe2\x81[\xa6-\xa9]")


def safe(value: object) -> str:
    """``value`` as text with every control character shown escaped."""
    return str(value).translate(_ESCAPES)


def safe_json(line: bytes) -> bytes:
    """A serialized JSON document with DEL, C1 and bidi controls written as ``\\u`` escapes:
    the same JSON value, but nothing a terminal would act on (C0 controls are escaped by
    every JSON serializer already)."""
    if not any(lead in line for lead in (b"\x7f", b"\xc2", b"\xd8", b"\xe2")):
        return line
    return _RAW_IN_JSON.sub(lambda m: b"\\u%04x" % ord(m.group().decode()), line)
