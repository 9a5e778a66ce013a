"""Bytes of one file or stream into its lines, in its encoding, in bounded memory.

One splitter serves the file tail (``collector.inputs.lines``) and the whole-stream reader of
``midwatch parse`` and stdin (``collector.parse.read_lines``), so both frame alike: a line's
position is the byte offset in the file where it starts (a byte-order mark is skipped, never
part of a line); a line longer than ``max_line_bytes`` yields its head with ``truncated`` set
and the rest of it is skipped without being held, unless it is an EDI interchange
(``segments``): then it is handed over in pieces of whole segments, each at most
``max_line_bytes`` and cut after a segment terminator, with the line's number and the byte
offset where the piece starts (VANs and AS2 gateways send interchanges of several MB with no
line break at all; cut at the cap they were one dead letter). A last line without its newline (the stream
ended, or the writer went quiet, mid-line) says so with ``terminated`` False, so that the parse
core does not glue a cut-off line to the record before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collector.encoding import SNIFF_BYTES, Encoding, sniff

# (text, byte offset, line number, truncated, terminated)
Line = tuple[str, int, int, bool, bool]
# Given the head of an over-long line, its segment terminator and release character ("" for
# none) when it is an EDI interchange, else None (``collector.parse.SourceParser.segments``).
Segments = Callable[[str], tuple[str, str] | None]
# Given a line (or piece), where records end inside it: the character positions after each
# EDI interchange that another follows on the same line (``collector.parse.SourceParser.ends``).
Ends = Callable[[str], list[int]]
# What pads a line's end in a one-byte encoding (``unterminated_tail``): blanks and NULs.
PADDING_BYTES = b" \t\r\n\x0b\x0c\x00"
# How much of an over-long line's head ``Segments`` is shown.
SEGMENTS_HEAD_BYTES = 4096


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
    segments: Segments | None = None
    # The over-long line being read in pieces: its (terminator, release) as bytes, or False
    # when it is no EDI interchange; None until a line is over-long.
    soft: tuple[bytes, bytes] | bool | None = None
    ends: Ends | None = None

    @staticmethod
    def at(configured: str, offset: int, line: int, max_line_bytes: int,
           head: bytes = b"", segments: Segments | None = None,
           ends: Ends | None = None) -> LineSplitter:
        """A splitter resuming at ``offset``; from the start the encoding is read from the
        first bytes fed, elsewhere from ``head`` (the file's first bytes)."""
        enc: Encoding | str = configured if offset == 0 else sniff(head, configured)
        return LineSplitter(enc, max_line_bytes, offset, line, segments=segments, ends=ends)

    @property
    def in_pieces(self) -> bool:
        """Inside an over-long EDI line handed over in pieces, its newline not yet read: the
        record its pieces opened goes on with the bytes still to come."""
        return bool(self.soft) and bool(self.buf) and self.skip_from is None

    def unterminated_tail(self, chars: int = 4096) -> str:
        """The end of the line still waiting for its newline (its last ``chars`` bytes at
        most, whole code units) before any padding, as text; "" when there is none. Block
        transfers pad a file's last block with NULs, up to a block (8 KiB, 64 KiB) less one:
        the last ``chars`` bytes were padding alone, the trailer out of sight, and the file
        waited for a newline forever. Padding is blanks and NULs (in UTF-16/32 whole NUL
        code units)."""
        if not self.buf or not isinstance(self.encoding, Encoding) or self.skip_from is not None:
            return ""
        buf, unit = self.buf, self.encoding.unit
        end = len(buf) - len(buf) % unit  # a code unit the read cut is completed next time
        if unit == 1:
            end = len(buf.rstrip(PADDING_BYTES))
        else:
            nuls = end - len(buf[:end].rstrip(b"\0"))  # the last character's own may be some
            end -= nuls - nuls % unit
        cut = max(0, end - chars)
        return self.encoding.decode(buf[cut - cut % unit:end])

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
            self.skip_from, self.soft = None, None
            start = nl + unit
            self.offset += start  # the line itself was counted when it was cut
        cut = cap - cap % unit
        decode = enc.decode
        while (nl := enc.find_newline(buf, start)) >= 0:
            if nl - start > cap:
                start = self._pieces(buf, start, nl, out)
            raw = buf[start:nl]
            self.soft = None
            self.line += 1
            too_long = len(raw) > cap
            self._add(decode(raw[:cut] if too_long else raw), self.line, too_long, True, out)
            self.offset += nl + unit - start
            start = nl + unit
        if len(buf) - start > cap:
            start = self._pieces(buf, start, len(buf), out)
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

    def _add(self, text: str, lineno: int, truncated: bool, terminated: bool,
             out: list[Line]) -> None:
        """A line (or piece of one) starting at ``self.offset`` into ``out``, cut where an
        interchange ends inside it (``ends``): each piece at its own byte offset, so that an
        interchange's record is where it starts however the line was read (whole, or up to
        one interchange at a time when the file went quiet between them). Text holding
        U+FFFD (bytes the encoding refused) is not cut: its byte offsets are not known."""
        offset = self.offset
        cuts = self.ends(text) if self.ends is not None and not truncated else ()
        if cuts and "\ufffd" not in text:
            codec = self.encoding.codec  # type: ignore[union-attr]
            at = 0
            for cut in cuts:
                piece = text[at:cut]
                out.append((piece, offset, lineno, False, True))
                offset += len(piece.encode(codec))
                at = cut
            text = text[at:]
        out.append((text, offset, lineno, truncated, terminated))

    def _pieces(self, buf: bytes, start: int, end: int, out: list[Line]) -> int:
        """Hand over the over-long line in ``buf[start:end]`` (no newline in it) in pieces
        of whole segments while more than the cap is left, if it is an EDI interchange;
        where the rest begins."""
        assert isinstance(self.encoding, Encoding)
        enc, cap = self.encoding, self.max_line_bytes
        if self.segments is None:
            return start
        if self.soft is None:
            self._interchange_at(buf, start)
        while self.soft and end - start > cap:
            terminator, release = self.soft  # type: ignore[misc]
            stop = self._segment_end(buf, start, start + cap, terminator, release)
            if stop < 0:  # one segment longer than the cap: cut as any line is
                break
            self._add(buf[start:stop].decode(enc.codec, errors="replace"), self.line + 1, False,
                      True, out)
            self.offset += stop - start
            start = stop
            # Interchanges written back to back may each choose their delimiters.
            self._interchange_at(buf, start, keep=True)
        return start

    def _interchange_at(self, buf: bytes, start: int, keep: bool = False) -> None:
        """Take the delimiters of the interchange starting at ``buf[start]``, if one does;
        ``keep``: else those had so far."""
        enc = self.encoding
        assert isinstance(enc, Encoding) and self.segments is not None
        found = self.segments(enc.decode(buf[start:start + SEGMENTS_HEAD_BYTES]).lstrip())
        if found:
            self.soft = tuple(c.encode(enc.codec) for c in found)  # type: ignore[assignment]
        elif not keep:
            self.soft = False

    def _segment_end(self, buf: bytes, start: int, limit: int, terminator: bytes,
                     release: bytes) -> int:
        """The end of the last segment terminator in ``buf[start:limit]`` that is one (at a
        code unit boundary, not escaped by an odd run of release characters), or -1."""
        unit = self.encoding.unit  # type: ignore[union-attr]
        at = buf.rfind(terminator, start, limit)
        while at >= 0:
            before = at
            if release:
                while before - unit >= start and buf[before - unit:before] == release:
                    before -= unit
            if (at - start) % unit == 0 and (at - before) // unit % 2 == 0:
                return at + len(terminator)
            at = buf.rfind(terminator, start, at)
        return -1

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
            self._add(self.encoding.decode(self.buf), self.line, False, False, out)
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
