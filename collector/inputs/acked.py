"""Handing a delivery to the writer and waiting until the store has it: at-least-once for
inputs whose sender waits for an answer (HTTP) or can be slowed down (syslog over TCP).

The sender learns the outcome before it forgets the data: ``STORED`` (answer 200, read
on), ``FULL`` (the writer's queue stayed full: the spool or store is behind; answer 429/503
so the sender retries later, nothing is dropped) or ``TIMEOUT`` (queued, but the store did
not acknowledge in time; the sender's retry overwrites, event IDs being deterministic).
"""

from __future__ import annotations

import enum
import threading

from collector.inputs.base import Chunk, ChunkQueue
from collector.parse import Output


class AckResult(enum.Enum):
    STORED = "stored"
    FULL = "full"
    TIMEOUT = "timeout"


def store(out: ChunkQueue | None, name: str, items: Output, records: int, nbytes: int, *,
          offer_timeout_s: float, ack_timeout_s: float) -> AckResult:
    """Queue one delivery's items and wait for the store's acknowledgement."""
    if not items:
        return AckResult.STORED
    stored = hand_over(out, name, items, records, nbytes, offer_timeout_s)
    if stored is None:
        return AckResult.FULL
    return AckResult.STORED if stored.wait(ack_timeout_s) else AckResult.TIMEOUT


def hand_over(out: ChunkQueue | None, name: str, items: Output, records: int, nbytes: int,
              offer_timeout_s: float) -> threading.Event | None:
    """Queue one delivery's items without waiting for the store: the event set once it
    acknowledged them, or None when the writer's queue stayed full. A stream input reads and
    parses its next delivery meanwhile, and waits for this event before handing that over."""
    stored = threading.Event()
    chunk = Chunk(name, items, records, nbytes, ack=stored.set)
    if out is None or not out.offer(chunk, offer_timeout_s):
        return None
    return stored
