"""Standard input, for pipes (``tail -F x.log | midwatch run -c cfg.yaml``).

A pipe cannot be re-read, so there is nothing to checkpoint; the run ends when the pipe does.
Positions carry the start time of the run: two runs fed different data must not overwrite
each other's events (a file input, whose content is stable, is the way to replay safely).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import BinaryIO

from collector.config import Config as MidwatchConfig
from collector.config_values import Section
from collector.inputs import format_keys
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.metrics import Registry
from collector.parse import SourceParser, read_batches
from collector.parsers._base import ParseContext


class StdinInput:
    def __init__(self, cfg: Config, ctx: ParseContext, stream: BinaryIO | None = None):
        self.name = cfg.name
        self.ctx = ctx
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.encoding = cfg.encoding
        self.parser = SourceParser(cfg.format, ctx, "stdin", position_prefix=f"{now_ms()}:")
        self._stop = threading.Event()

    def run(self, out: ChunkQueue) -> None:
        """A chunk per read: a read returns what the pipe holds, so a live pipe's lines go
        on as they come (held until 2,000 had come, ``tail -F`` of a quiet log was stored
        hours late, or never when the run was stopped)."""
        for batch in read_batches(self.stream, encoding=self.encoding,
                                  segments=self.parser.segments):
            if batch:
                chunk = Chunk(self.name, self.parser.feed_lines(batch), len(batch),
                              sum(len(line[0]) + 1 for line in batch))
                if not out.put(chunk, self._stop):
                    return
                self.ctx.now_ms = now_ms()
        out.put(Chunk(self.name, self.parser.flush(), 0, 0), self._stop)

    def stop(self) -> None:
        """A blocked pipe read cannot be interrupted; the process exit ends it."""
        self._stop.set()

    def commit(self) -> None:
        """Nothing to persist: a pipe has no position to come back to."""

    def close(self) -> None:
        """The stream belongs to the process."""


# --- configuration and construction: the ``stdin`` entry of ``collector.inputs.INPUTS`` ---

# Config keys beyond the common ``type`` and ``name``.
KEYS = ("format", "mapping", "encoding")


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    format: str = "auto"
    mapping: str | None = None
    encoding: str = "auto"  # as for file inputs
    type: str = "stdin"


def parse(s: Section, name: str) -> Config:
    fmt, mapping = format_keys.format_and_mapping(s, "auto")
    return Config(name=name, format=fmt, mapping=mapping, encoding=format_keys.encoding(s))


def build(cfg: Config, ctx: ParseContext, config: MidwatchConfig,
          metrics: Registry) -> StdinInput:
    """The running input; ``config`` supplies the sections it shares with others."""
    return StdinInput(cfg, ctx)
