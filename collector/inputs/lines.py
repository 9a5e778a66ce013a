"""A file's bytes into parsed events: lines, the cut of over-long lines, the framing state.

Kept apart from the tailing (``collector.inputs.file``: which file, where, rotation,
checkpoints) so that it can run in the collector's process or in a parse worker
(``collector.inputs.parse_worker``): parsing is most of the CPU an event costs, and in a
process of its own it no longer takes turns with the writer for the interpreter lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.parse import Output, SourceParser
from collector.parsers.base import ParseContext


@dataclass(slots=True)
class LineReader:
    """Bytes of one file, in order, into events and dead letters."""

    parser: SourceParser
    max_line_bytes: int
    read_offset: int = 0  # bytes through the last whole line
    line: int = 0
    buf: bytes = b""  # a line still waiting for its newline
    # Inside a line longer than the cap: bytes are skipped up to its newline.
    skip_from: tuple[int, int] | None = None

    @staticmethod
    def open(ctx: ParseContext, fmt: str, source: str, prefix: str, offset: int, line: int,
             max_line_bytes: int) -> LineReader:
        return LineReader(SourceParser(fmt, ctx, source, position_prefix=prefix),
                          max_line_bytes, read_offset=offset, line=line)

    def feed(self, data: bytes, now_ms: int) -> tuple[Output, int]:
        """What ``data`` (the next bytes of the file) completes; (items, lines read)."""
        self._now(now_ms)
        out: Output = []
        records = 0
        cap = self.max_line_bytes
        if self.skip_from is not None:
            nl = data.find(b"\n")
            if nl < 0:
                self.read_offset += len(data)
                return out, 0
            self.read_offset += nl + 1  # the line itself was counted when it was cut
            self.skip_from = None
            data = data[nl + 1:]
        buf = self.buf + data if self.buf else data
        start = 0
        feed = self.parser.feed
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            raw = buf[start:nl]
            self.line += 1
            too_long = len(raw) > cap
            text = (raw[:cap] if too_long else raw).decode("utf-8", errors="replace")
            out.extend(feed(text.removesuffix("\r"), self.read_offset, self.line, too_long))
            records += 1
            self.read_offset += nl + 1 - start
            start = nl + 1
        self.buf = buf[start:]
        if len(self.buf) > cap:
            line_start = (self.read_offset, self.line)
            self.line += 1
            text = self.buf[:cap].decode("utf-8", errors="replace")
            out.extend(feed(text, self.read_offset, self.line, True))
            records += 1
            self.read_offset += len(self.buf)
            self.buf = b""
            self.skip_from = line_start
        return out, records

    def flush(self, now_ms: int) -> Output:
        """The writer went quiet: a last line without its newline is a line, and an open
        record is complete."""
        self._now(now_ms)
        out: Output = []
        if self.buf:
            self.line += 1
            text = self.buf.decode("utf-8", errors="replace").removesuffix("\r")
            out.extend(self.parser.feed(text, self.read_offset, self.line))
            self.read_offset += len(self.buf)
            self.buf = b""
        if self.parser.held_position() is not None:
            out.extend(self.parser.flush())
        return out

    def resume_at(self) -> tuple[int, int]:
        """(offset, line) a restart must resume from so that nothing not yet emitted is lost:
        the start of an open record, or of a line being skipped."""
        held = self.parser.held_position()
        if self.skip_from is not None:
            return self.skip_from
        if held is not None:
            return held[0], held[1] - 1  # held: the record's own (1-based) line
        return self.read_offset, self.line

    def close(self) -> None:
        """Nothing to release here; a reader in a parse worker frees its state there."""

    def _now(self, now_ms: int) -> None:
        self.parser.ctx.now_ms = now_ms
        if self.parser.framer is not None:
            self.parser.framer.ingested_ms = now_ms
