"""Bytes of one file or stream into its lines, in its encoding, in bounded memory.

One splitter serves the file tail (``collector.inputs.lines``) and the whole-stream reader of
``midwatch parse`` and stdin (``collector.parse.read_lines``), so both frame alike: a line's
position is the byte offset in the file where it starts (a byte-order mark is skipped, never
part of a line); a line longer than ``max_line_bytes`` yields its head with ``truncated`` set
and the rest of it is skipped without being held. A last line without its newline (the stream
ended, or the writer went quiet, mid-line) says so with ``terminated`` False, so that the parse
core does not glue a cut-off line to the record before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.encoding import SNIFF_BYTES, Encoding, sniff

# (text, byte offset, line number, truncated, terminated)
Line = tuple[str, int, int, bool, bool]


@dataclass(slots=True)
class LineSplitter:
    # ``auto``/a codec name while the start of the file is still to be read; the Encoding
    # once known (a reader resuming mid-file is given the one found at its start).
    encoding: Encoding | str
    max_line_bytes: int
    offset: int = 0  # file offset of ``buf[0]``: the end of the last whole line
    line: int = 0
    buf: bytes = b""  # a line still waiting for its newline
    # Inside a line longer than the cap: (offset, lines before it) of that line, whose
    # bytes are skipped up to its newline.
    skip_from: tuple[int, int] | None = None

    @staticmethod
    def at(configured: str, offset: int, line: int, max_line_bytes: int,
           head: bytes = b"") -> LineSplitter:
        """A splitter resuming at ``offset``; from the start the encoding is read from the
        first bytes fed, elsewhere from ``head`` (the file's first bytes)."""
        enc: Encoding | str = configured if offset == 0 else sniff(head, configured)
        return LineSplitter(enc, max_line_bytes, offset, line)

    def unterminated_tail(self, chars: int = 4096) -> str:
        """The end of the line still waiting for its newline (its last ``chars`` bytes at
        most, whole code units), as text; "" when there is none."""
        if not self.buf or not isinstance(self.encoding, Encoding) or self.skip_from is not None:
            return ""
        unit = self.encoding.unit
        cut = max(0, len(self.buf) - chars)
        return self.encoding.decode(self.buf[cut - cut % unit:])

    def split(self, data: bytes) -> list[Line]:
        """The lines ``data`` (the next bytes) completes."""
        buf = self.buf + data if self.buf else data
        out: list[Line] = []
        if isinstance(self.encoding, str):
            if len(buf) < SNIFF_BYTES:
                self.buf = buf
                return out
            buf = self._sniff(buf)
        enc = self.encoding
        unit, cap = enc.unit, self.max_line_bytes
        start = 0
        if self.skip_from is not None:
            nl = enc.find_newline(buf, 0)
            if nl < 0:
                keep = len(buf) % unit  # a code unit cut by the read, completed next time
                self.offset += len(buf) - keep
                self.buf = buf[len(buf) - keep:]
                return out
            self.skip_from = None
            start = nl + unit
            self.offset += start  # the line itself was counted when it was cut
        cut = cap - cap % unit
        decode = enc.decode
        while (nl := enc.find_newline(buf, start)) >= 0:
            raw = buf[start:nl]
            self.line += 1
            too_long = len(raw) > cap
            out.append((decode(raw[:cut] if too_long else raw), self.offset, self.line, too_long,
                        True))
            self.offset += nl + unit - start
            start = nl + unit
        rest = buf[start:]
        if len(rest) > cap:
            self.skip_from = (self.offset, self.line)
            self.line += 1
            out.append((decode(rest[:cut]), self.offset, self.line, True, True))
            keep = len(rest) % unit
            self.offset += len(rest) - keep
            rest = rest[len(rest) - keep:]
        self.buf = rest
        return out

    def rest(self) -> list[Line]:
        """The stream ended or went quiet: a last line without its newline is a line."""
        out: list[Line] = []
        if isinstance(self.encoding, str):  # fewer bytes than a mark can have, so far
            if not self.buf:
                return out
            buf, self.buf = self._sniff(self.buf), b""
            out = self.split(buf)
        if self.buf and self.skip_from is None:
            assert isinstance(self.encoding, Encoding)
            self.line += 1
            out.append((self.encoding.decode(self.buf), self.offset, self.line, False, False))
            self.offset += len(self.buf)
            self.buf = b""
        return out

    def _sniff(self, buf: bytes) -> bytes:
        """Settle the encoding from the file's first bytes; ``buf`` without its mark."""
        assert isinstance(self.encoding, str)
        enc = sniff(buf[:SNIFF_BYTES], self.encoding)
        self.encoding = enc
        self.offset += enc.bom
        return buf[enc.bom:]
