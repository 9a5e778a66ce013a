"""No crash loops over OTLP: requests in flight are noted on disk, so a request that kills the
process is not taken again forever when its exporter retries it.

An exporter retries a request that got no answer. If that request is what killed the
collector (as a span stamped past the year 9999 did), the retry kills the restarted one, and
so on. So each request is noted by a digest of its body (``<checkpoint_dir>/<input>
.requests.json``) from arrival until its answer, and after a death:

1. the requests that were in flight are suspects. A suspect that arrives again is taken
   alone (the others wait for it, and it for them): requests in flight beside the culprit
   are not blamed for it;
2. a request that was alone in flight when the process died again is the culprit: when it
   arrives the next time it is dead-lettered (``crashed_process``, its body kept, bounded)
   and answered 200, so the exporter stops sending it.

The note (``collector.suspects``) holds at most ``MAX_SUSPECTS`` digests; two small writes
per request.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading

from collector.event import DeadLetter
from collector.inputs.base import now_ms
from collector.inputs.checkpoint import input_file
from collector.parse import dead_letter_raw
from collector.parsers._base import ParseContext
from collector.suspects import ALONE, CROWD, SuspectNote

MAX_SUSPECTS = 256


def digest(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


class RequestGuard:
    """Requests in flight of one OTLP input, and the suspects a dead run left
    (``collector.suspects``), for the listener's threads: a suspect waits until it is the
    only request in flight, and new requests wait while it is."""

    def __init__(self, directory: str | os.PathLike, input_name: str):
        self.note = SuspectNote(input_file(directory, input_name, ".requests.json"),
                                MAX_SUSPECTS)
        self._cond = threading.Condition()
        self._busy = 0  # requests in flight
        self._alone = False  # a suspect is in flight, by itself

    def begin(self, key: str) -> bool:
        """Note a request before it is taken; False when it is the culprit of two deaths
        (dead-letter it, do not take it)."""
        with self._cond:
            state = self.note.state(key)
            if state == ALONE:
                self.note.forget(key)
                return False
            if state == CROWD:
                while self._busy or self._alone:
                    self._cond.wait()
                self._alone = True
            else:
                while self._alone:
                    self._cond.wait()
            self._busy += 1
            self.note.enter([key], ALONE if state == CROWD else CROWD)
            return True

    def end(self, key: str) -> None:
        """The request was answered (or refused): no longer a suspect of anything."""
        with self._cond:
            if self.note.in_flight.get(key) == ALONE:
                self._alone = False
            self.note.leave([key])
            self._busy -= 1
            self._cond.notify_all()


def crashed_request(body: bytes, content_type: str, source: str,
                    ctx: ParseContext) -> DeadLetter:
    """The dead letter of a request that stopped the collector twice: JSON bodies as text
    (cards and emails masked like events'), protobuf and gzip as base64 (both bounded)."""
    if content_type.endswith("json") and not body.startswith(b"\x1f\x8b"):
        raw = dead_letter_raw(body, ctx)
    else:
        raw = base64.b64encode(body[: DeadLetter.MAX_RAW * 3 // 4]).decode()
    return DeadLetter(
        reason=f"crashed_process: this OTLP request ({len(body)} bytes, {content_type}) was "
               f"in flight, alone, when the collector stopped twice; set aside so its "
               f"exporter stops retrying it", source=source, line=0, raw=raw,
        ingested_ms=now_ms())
