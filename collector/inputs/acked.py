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


def hand_over(out: ChunkQueue | None, name: str, items: Output, records: int, nbytes: int,
              offer_timeout_s: float) -> threading.Event | None:
    """Queue one delivery's items: the event set once the store acknowledged them, or None
    when the writer's queue stayed full (``FULL``). The HTTP input answers once it is set
    (``STORED``, else ``TIMEOUT`` after ``ack_timeout``); a syslog connection reads and parses
    its next delivery meanwhile and waits for it before handing that one over."""
    stored = threading.Event()
    chunk = Chunk(name, items, records, nbytes, ack=stored.set)
    if out is None or not out.offer(chunk, offer_timeout_s):
        return None
    return stored
