"""Bytes a file input reads that are not valid in the file's encoding.

The line readers decode such bytes as U+FFFD and parse on (one bad byte must not cost the
event, ``collector.parse``), so a Latin-1 or cp1252 file read as UTF-8 would be stored altered
without a word. The tailing checks each file's bytes as it reads them, in the collector's
process (a parse worker's replies carry no such note), and the input says so once per file,
naming the line: the fix is the input's ``encoding``. ASCII reads, most of any log, cost an
``isascii`` scan (about 40 ns a 300-byte line); only encodings whose newline is one byte are
checked (UTF-16 and UTF-32 are not).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from collector.encoding import SNIFF_BYTES, sniff


@dataclass(slots=True)
class DecodeCheck:
    codec: str
    _decoder: codecs.IncrementalDecoder = field(init=False)

    def __post_init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder(self.codec)("strict")

    @staticmethod
    def of(head: bytes, configured: str) -> DecodeCheck | None:
        """The check for a file starting with ``head`` (``SNIFF_BYTES`` of it); None where a
        newline is not one byte (lines are found by counting newline bytes)."""
        enc = sniff(head[:SNIFF_BYTES], configured)
        return DecodeCheck(enc.codec) if enc.unit == 1 else None

    def feed(self, data: bytes) -> int | None:
        """Index in ``data`` of the first byte that is not valid, else None. A character cut
        between two reads is held for the next one, as the readers hold it."""
        pending = len(self._decoder.getstate()[0])
        if not pending and data.isascii():
            return None
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            return max(exc.start - pending, 0)
        return None
