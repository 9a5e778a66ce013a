"""Standard input, for pipes (``tail -F x.log | midwatch run -c cfg.yaml``).

A pipe cannot be re-read, so there is nothing to checkpoint; the run ends when the pipe does.
Positions carry the start time of the run: two runs fed different data must not overwrite
each other's events (a file input, whose content is stable, is the way to replay safely).
"""

from __future__ import annotations

import sys
import threading
from typing import BinaryIO

from collector.config import StdinInput as StdinInputConfig
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.parse import Output, SourceParser, read_lines
from collector.parsers._base import ParseContext

LINES_PER_CHUNK = 2000


class StdinInput:
    def __init__(self, cfg: StdinInputConfig, ctx: ParseContext, stream: BinaryIO | None = None):
        self.name = cfg.name
        self.ctx = ctx
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.encoding = cfg.encoding
        self.parser = SourceParser(cfg.format, ctx, "stdin", position_prefix=f"{now_ms()}:")
        self._stop = threading.Event()

    def run(self, out: ChunkQueue) -> None:
        items: Output = []
        lines = nbytes = 0
        for text, offset, lineno, truncated, terminated in read_lines(self.stream, encoding=self.encoding):
            items.extend(self.parser.feed(text, offset, lineno, truncated, terminated))
            lines += 1
            nbytes += len(text) + 1
            if lines >= LINES_PER_CHUNK:
                if not out.put(Chunk(self.name, items, lines, nbytes), self._stop):
                    return
                items, lines, nbytes = [], 0, 0
                self.ctx.now_ms = now_ms()
        items.extend(self.parser.flush())
        out.put(Chunk(self.name, items, lines, nbytes), self._stop)

    def stop(self) -> None:
        """A blocked pipe read cannot be interrupted; the process exit ends it."""
        self._stop.set()

    def commit(self) -> None:
        """Nothing to persist: a pipe has no position to come back to."""

    def close(self) -> None:
        """The stream belongs to the process."""
