"""Bytes an input reads that are not valid in its encoding (files: ``DecodeCheck``; Kafka,
syslog and http: ``InvalidBytesNote``).

The line readers decode such bytes as U+FFFD and parse on (one bad byte must not cost the
event, ``collector.parse``), so a Latin-1 or cp1252 file read as UTF-8 would be stored altered
without a word. The tailing checks each file's bytes as it reads them, in the collector's
process (a parse worker's replies carry no such note), and the input says so once per file,
naming the line: the fix is the input's ``encoding``. ASCII reads, most of any log, cost an
``isascii`` scan (about 40 ns a 300-byte line); only encodings whose newline is one byte are
checked (UTF-16 and UTF-32 are not).

The encoding is sniffed from the first bytes the check is fed, as the line readers sniff it
(``collector.linesplit``), not from the file when the input opens it: a file empty then
(logrotate ``create``, a fresh appender, a copytruncate seen at 0 bytes) was taken as UTF-8,
and a UTF-16 file written afterwards got a false warning whose hint broke the input.
"""

from __future__ import annotations

import codecs
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from collector.encoding import SNIFF_BYTES, sniff
from collector.metrics import Registry

log = logging.getLogger("midwatch.inputs")


@dataclass(slots=True)
class DecodeCheck:
    configured: str
    # Until ``SNIFF_BYTES`` have been fed from the file's start: the bytes so far.
    _head: bytes = b""
    codec: str = ""
    # None while the encoding is not known yet, or where a newline is not one byte (lines
    # are found by counting newline bytes): nothing is checked.
    _decoder: codecs.IncrementalDecoder | None = None
    _sniffed: bool = False

    @staticmethod
    def of(head: bytes, configured: str) -> DecodeCheck:
        """The check resuming mid-file in a file starting with ``head`` (its first
        ``SNIFF_BYTES``)."""
        check = DecodeCheck(configured)
        check._sniff(head)
        return check

    def _sniff(self, head: bytes) -> None:
        enc = sniff(head[:SNIFF_BYTES], self.configured)
        self._sniffed, self._head = True, b""
        if enc.unit == 1:
            self.codec = enc.codec
            self._decoder = codecs.getincrementaldecoder(enc.codec)("strict")

    def feed(self, data: bytes) -> int | None:
        """Index in ``data`` of the first byte that is not valid, else None. A character cut
        between two reads is held for the next one, as the readers hold it; so are a file's
        first bytes until they tell its encoding (0 where the bad byte was among them)."""
        decoder = self._decoder
        if decoder is None:
            if self._sniffed:
                return None
            held = self._head + data
            if len(held) < SNIFF_BYTES:
                self._head = held
                return None
            before = len(self._head)
            self._sniff(held)
            bad = self.feed(held)
            return None if bad is None else max(bad - before, 0)
        pending = len(decoder.getstate()[0])
        if not pending and data.isascii():
            return None
        try:
            decoder.decode(data)
        except UnicodeDecodeError as exc:
            return max(exc.start - pending, 0)
        return None


# Sources a network input remembers having warned of (topic/partition, peer): the oldest is
# forgotten past this, so a flood of peers cannot grow the memory (it may be warned of again).
MAX_SOURCES = 1024
# At most one such warning a second an input: a peer sending every record from a new port
# must not flood the log; a source not warned of for that is warned of at its next record.
WARN_GAP_S = 1.0


class InvalidBytesNote:
    """Kafka, syslog and http inputs decode their records as UTF-8 with invalid bytes read as
    U+FFFD, as the file input does, and say so once per source (what identifies the record
    in ``where``), rate-bounded, with a counter of the records affected. Called only when a
    strict decode failed, so a valid record costs nothing here."""

    def __init__(self, input_name: str, kind: str, metrics: Registry | None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.input = input_name
        self.kind = kind
        self.clock = clock
        self._said: OrderedDict[str, None] = OrderedDict()
        self._last = -WARN_GAP_S
        self._count = (metrics or Registry()).counter(
            "midwatch_input_invalid_bytes_records_total",
            "Records (Kafka records, syslog frames, http requests) with bytes not valid UTF-8, "
            "stored with U+FFFD in their place.", ("input", "type"))

    def saw(self, source: str, where: dict, exc: UnicodeDecodeError) -> None:
        self._count.inc(self.input, self.kind)
        now = self.clock()
        if source in self._said or now - self._last < WARN_GAP_S:
            return
        self._last = now
        self._said[source] = None
        if len(self._said) > MAX_SOURCES:
            self._said.popitem(last=False)
        log.warning("bytes not valid UTF-8: read as U+FFFD (said once per source)",
                    extra={"input": self.input, **where, "byte": exc.start,
                           "hint": "the sender writes another encoding: have it send UTF-8 "
                                   "(midwatch_input_invalid_bytes_records_total counts them)"})

    def check(self, raw: bytes, source: str, where: Callable[[], dict]) -> None:
        """Say so if ``raw``, decoded later elsewhere (a parse worker), is not valid UTF-8:
        an ``isascii`` scan for the usual ASCII record, a strict decode for the others."""
        if raw.isascii():
            return
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.saw(source, where(), exc)

    def decode(self, raw: bytes, source: str, where: Callable[[], dict]) -> str:
        """``raw`` as text, invalid bytes as U+FFFD; said of (``where()`` built only then)."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.saw(source, where(), exc)
            return raw.decode("utf-8", "replace")
