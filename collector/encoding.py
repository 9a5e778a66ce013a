"""Which text encoding a file or stream is in, from its byte-order mark or its input option.

Windows-hosted BizTalk, ACE and Boomi write a UTF-8 byte-order mark, and Event Viewer exports
are UTF-16LE with one. Left in, the mark glues itself to the first record (``no_parser`` for a
Mule line, "BOM is not supported" for JSON) and UTF-16 text splits into halves at every 0x0A
byte. So the mark is detected per file, skipped (positions stay byte offsets in the file:
the first line starts after it) and the rest is framed in that encoding's own newline.

``auto`` (the default) reads the mark: UTF-32 before UTF-16 (``FF FE 00 00`` starts both),
then UTF-8; without one, text whose first two characters are ASCII with a NUL byte beside
each is UTF-16 of that byte order (an export whose mark was stripped), anything else UTF-8.
An explicit encoding (``utf-16le``, ``latin-1``, ``cp1252``, any Python codec name) is used as
given; a mark of that same encoding at the start is still skipped.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

AUTO = "auto"
# Longest first: the UTF-32LE mark begins with the UTF-16LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Bytes needed to tell every mark apart.
SNIFF_BYTES = 4
# Codecs whose name leaves the byte order to the mark; without one, little-endian (Windows).
_ORDERED = {"utf-16": "utf-16-le", "utf-32": "utf-32-le", "utf-8-sig": "utf-8"}


def codec_name(name: str) -> str:
    """The canonical codec for a configured ``encoding``; ValueError naming the fix if
    Python has no such codec or it cannot frame lines (no single-unit newline)."""
    if name == AUTO:
        return AUTO
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}; use auto, or a codec name such as "
                         "utf-8, utf-16le, utf-16be, latin-1 or cp1252") from None
    canonical = _ORDERED.get(canonical, canonical)
    try:
        newline = "\n".encode(canonical)
        ok = "a\nb".encode(canonical).split(newline) == ["a".encode(canonical),
                                                          "b".encode(canonical)]
    except (UnicodeError, LookupError, TypeError):
        ok = False
    if not ok:
        raise ValueError(f"encoding {name!r} cannot be read line by line; use auto, or a codec "
                         "such as utf-8, utf-16le or cp1252")
    return canonical


@dataclass(frozen=True, slots=True)
class Encoding:
    codec: str
    bom: int = 0  # bytes of byte-order mark at the start of the file
    newline: bytes = field(init=False)
    # Bytes per code unit where it matters for framing: a newline is found only at a multiple
    # of it from a line's start (a 0x0A byte inside a UTF-16 character is not one).
    unit: int = field(init=False)

    def __post_init__(self) -> None:
        newline = "\n".encode(self.codec)
        object.__setattr__(self, "newline", newline)
        object.__setattr__(self, "unit", len(newline))

    def find_newline(self, buf: bytes, start: int) -> int:
        """Index of the first newline at or after ``start`` (a line start), or -1."""
        newline, unit = self.newline, self.unit
        nl = buf.find(newline, start)
        while nl >= 0 and (nl - start) % unit:
            nl = buf.find(newline, nl + 1)
        return nl

    def decode(self, raw: bytes) -> str:
        """A line's bytes without the newline as text, a trailing CR dropped; bytes that are
        not valid in the encoding become U+FFFD (counted by the parse core)."""
        return raw.decode(self.codec, errors="replace").removesuffix("\r")


UTF8 = Encoding("utf-8")


def sniff(head: bytes, configured: str = AUTO) -> Encoding:
    """The encoding of a file that starts with ``head`` (its first ``SNIFF_BYTES`` bytes,
    fewer only for a shorter file), for a configured name already checked by
    ``codec_name``."""
    for mark, codec in _BOMS:
        if head.startswith(mark) and configured in (AUTO, codec):
            return Encoding(codec, len(mark))
    if configured != AUTO:
        return Encoding(configured)
    if len(head) >= 4 and head[0] and head[2] and not head[1] and not head[3]:
        return Encoding("utf-16-le")
    if len(head) >= 4 and head[1] and head[3] and not head[0] and not head[2]:
        return Encoding("utf-16-be")
    return UTF8
