"""Records in flight, noted on disk, so that one that kills the process is found and set
aside instead of killing every restart (a crash loop).

Used for OTLP requests, which their exporter sends again after a death
(``collector.inputs.request_guard``); file parsing has a finer note of its own, by byte
range (``collector.inputs.parse_guard``). The scheme:

- keys (a request's body digest, an event ID) are noted ``crowd`` while in flight;
- after a death, what was in flight is suspect: a suspect is taken again alone, noted
  ``alone``, so records that merely shared the moment are not blamed;
- a key that was in flight alone at a death is the culprit: the next time it comes, it is
  dead-lettered and not taken.

The note is one JSON file kept open and rewritten in place (no fsync: it must survive the
process, not the machine), holding at most ``limit`` suspects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import orjson

log = logging.getLogger("midwatch.suspects")

ALONE, CROWD = "alone", "crowd"


class SuspectNote:
    """Keys in flight and suspects from a dead run, by one note file. Not thread-safe:
    callers hold their own lock (or run in one thread)."""

    def __init__(self, path: str | os.PathLike, limit: int):
        self.path = Path(path)
        self.limit = limit
        self.in_flight: dict[str, str] = {}
        self.suspects = self._load()
        self._fd: int | None = None

    def _load(self) -> dict[str, str]:
        try:
            doc = orjson.loads(self.path.read_bytes() or b"{}")
            found = {**doc.get("suspects", {}), **doc.get("in_flight", {})}
        except FileNotFoundError:
            return {}
        except (orjson.JSONDecodeError, AttributeError, TypeError) as exc:
            log.warning("unreadable note of records in flight; ignored",
                        extra={"path": str(self.path), "error": str(exc)})
            return {}
        if found:
            log.warning("the last run stopped with records in flight; they will be taken "
                        "alone when they come again", extra={"path": str(self.path),
                                                            "records": len(found)})
        return dict(list(found.items())[-self.limit:])

    def _save(self) -> None:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        data = orjson.dumps({"suspects": self.suspects, "in_flight": self.in_flight})
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def state(self, key: str) -> str | None:
        """``crowd`` (in flight at a death: take it alone), ``alone`` (in flight alone at a
        death: the culprit) or None."""
        return self.suspects.get(key)

    def enter(self, keys: Iterable[str], mode: str) -> None:
        for key in keys:
            self.in_flight.setdefault(key, mode)
        self._save()

    def leave(self, keys: Iterable[str]) -> None:
        """Taken (stored, answered or refused): no longer in flight, nor suspect."""
        for key in keys:
            self.in_flight.pop(key, None)
            self.suspects.pop(key, None)
        self._save()

    def forget(self, key: str) -> None:
        """A culprit, dead-lettered: it is not suspect any more."""
        self.suspects.pop(key, None)
        self._save()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
