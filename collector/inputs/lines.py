"""A file's bytes into parsed events: lines, the cut of over-long lines, the framing state.

Kept apart from the tailing (``collector.inputs.file``: which file, where, rotation,
checkpoints) so that it can run in the collector's process or in a parse worker
(``collector.inputs.parse_worker``): parsing is most of the CPU an event costs, and in a
process of its own it no longer takes turns with the writer for the interpreter lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.linesplit import LineSplitter
from collector.parse import Output, SourceParser
from collector.parsers._base import ParseContext


@dataclass(slots=True)
class LineReader:
    """Bytes of one file, in order, into events and dead letters."""

    parser: SourceParser
    lines: LineSplitter

    @staticmethod
    def open(ctx: ParseContext, fmt: str, source: str, prefix: str, offset: int, line: int,
             max_line_bytes: int, encoding: str = "auto", head: bytes = b"") -> LineReader:
        """``encoding`` as configured; ``head``: the file's first bytes, which say it when
        reading resumes past them."""
        parser = SourceParser(fmt, ctx, source, position_prefix=prefix,
                              max_line_bytes=max_line_bytes)
        return LineReader(parser, LineSplitter.at(encoding, offset, line, max_line_bytes, head,
                                                  segments=parser.segments, ends=parser.ends))

    @property
    def read_offset(self) -> int:
        """Bytes through the last whole line (or through the skipped part of a cut one)."""
        return self.lines.offset

    def feed(self, data: bytes, now_ms: int) -> tuple[Output, int]:
        """What ``data`` (the next bytes of the file) completes; (items, lines read)."""
        self._now(now_ms)
        lines = self.lines.split(data)
        return self.parser.feed_lines(lines), len(lines)

    def flush(self, now_ms: int, partial: bool = True) -> Output:
        """The writer went quiet: an open record is complete, and with ``partial`` a last
        line without its newline is a line. A live file keeps that line (``partial``
        False) until its newline comes: a writer that pauses mid-line (a buffered appender
        flushes at a block boundary) would otherwise have its line cut in two, both halves
        dead-lettered or stored as two wrong events."""
        self._now(now_ms)
        out: Output = []
        # A line that ends a whole record (an EDI interchange's trailer: translators write
        # one interchange a file, often without any newline) waits for nothing.
        partial = partial or self.parser.is_whole(self.lines.unterminated_tail())
        for text, offset, lineno, truncated, terminated in self.lines.rest() if partial else ():
            out.extend(self.parser.feed(text, offset, lineno, truncated, terminated))
        # Pieces of a line still being written (an interchange over the line cap, handed
        # over in whole segments) leave their record open on a live file: closing it at a
        # writer's pause cut the interchange in two, false envelope failures and the rest
        # dead-lettered.
        if self.parser.held_position() is not None and (partial or not self.lines.in_pieces):
            out.extend(self.parser.flush())
        return out

    def resume_at(self) -> tuple[int, int]:
        """(offset, line) a restart must resume from so that nothing not yet emitted is lost:
        the start of an open record, or of a line being skipped."""
        held = self.parser.held_position()
        if self.lines.skip_from is not None:
            return self.lines.skip_from
        if held is not None:
            return held[0], held[1] - 1  # held: the record's own (1-based) line
        return self.lines.offset, self.lines.line

    def close(self) -> None:
        """Nothing to release here; a reader in a parse worker frees its state there."""

    def _now(self, now_ms: int) -> None:
        self.parser.ctx.now_ms = now_ms
        if self.parser.framer is not None:
            self.parser.framer.ingested_ms = now_ms
