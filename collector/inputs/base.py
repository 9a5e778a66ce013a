"""What every input hands the pipeline, and the bounded queue between them.

An input runs in its own thread, reads, frames and parses (the parse core keeps per-source
state, so parsing belongs next to the reading) and offers ``Chunk``s to one ``ChunkQueue``.
The queue is bounded: a full queue blocks the reader, which is the backpressure the store
exerts on file tailing and stdin; the Kafka input pauses its partitions instead of blocking
so that it keeps polling and stays in its consumer group.

A chunk's ``ack`` runs on the writer thread once the store has acknowledged every item of
that chunk and of all chunks before it; only then may an input move its committed position.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from collector.config import CollectorSettings
from collector.encoded import EncodedEvent
from collector.event import DeadLetter, Event
from collector.parsers._base import ParseContext
from collector.timeparse import year_start_ms


@dataclass(slots=True)
class Chunk:
    input: str
    items: list[Event | EncodedEvent | DeadLetter]  # EncodedEvent: from a parse worker
    records: int  # raw records read (lines, Kafka records, spans), for throughput figures
    nbytes: int  # raw bytes read, for batch sizing
    ack: Callable[[], None] | None = None


class ChunkQueue:
    def __init__(self, max_chunks: int):
        self._queue: queue.Queue[Chunk] = queue.Queue(maxsize=max_chunks)

    def offer(self, chunk: Chunk, timeout_s: float) -> bool:
        """Put within ``timeout_s``; False when the queue stayed full."""
        try:
            self._queue.put(chunk, timeout=timeout_s)
        except queue.Full:
            return False
        return True

    def put(self, chunk: Chunk, stop: threading.Event) -> bool:
        """Block until there is room (backpressure); False when asked to stop meanwhile."""
        while not stop.is_set():
            if self.offer(chunk, 0.2):
                return True
        return False

    def get(self, timeout_s: float) -> Chunk | None:
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def depth(self) -> int:
        return self._queue.qsize()


class Input(Protocol):
    name: str

    def run(self, out: ChunkQueue) -> None:
        """Read until ``stop()`` (or, for finite sources, until the end); runs in a thread."""

    def stop(self) -> None:
        """Stop reading soon; chunks already offered stay valid and will be acked."""

    def commit(self) -> None:
        """Persist positions acked so far (writer thread, after each acknowledged batch)."""

    def close(self) -> None:
        """Release resources after ``run`` returned and the last batch was acked."""


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_context(settings: CollectorSettings, edi_own_ids: frozenset[str],
                  mapping_file: str | None, redact_key: bytes | None = None) -> ParseContext:
    """A fresh context per input: ``now_ms`` is per-source mutable state. ``redact_key``:
    the install's (``collector.redaction_key.load_key``); without it tokens are per process."""
    mapping: dict[str, str] = {}
    if mapping_file:
        from collector.parsers.json_lines import load_mapping

        mapping = load_mapping(mapping_file)
    red = settings.redaction
    return ParseContext(
        tz=ZoneInfo(settings.default_timezone), mapping=mapping, redact_fields=red.fields,
        redact_cards=red.cards, redact_emails=red.emails, now_ms=now_ms(),
        edi_own_ids=edi_own_ids, time_min_ms=year_start_ms(settings.time_range[0]),
        time_max_ms=year_start_ms(settings.time_range[1] + 1) - 1,
        **({"redact_key": redact_key} if redact_key is not None else {}),
    )
