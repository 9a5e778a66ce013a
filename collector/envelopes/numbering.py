"""Positions of shipped lines named by their content: a hash of the line (with the shipper's
time), numbered when it repeats within a delivery (``collector.shipping``: a bare line over
HTTP or syslog, a syslog frame, an OTel Collector record; no offset, no Kafka position).

Only a record's first line's position makes its event ID, but every line must be counted:
a first line's number counts the lines equal to it before it, continuation lines included.
So a line is counted by its text (the hash's input: the interpreter's cached string hash and
a dict), and hashed only when its position is read as text (``Hashed.__str__``), which the
parsers do for a record's first line when they emit the record. Hashing every line cost
1.0-1.1 µs a line, 6 µs an event of a syslog stream of the Mule, NGINX and X12 samples. The
positions, and so the event IDs, are those of hashing every line: an upgrade in the middle of
a stream must overwrite what the version before stored, not duplicate it
(tests/unit/test_hashed_positions.py holds them to IDs the previous code made).

Bounds, as when the hashes were counted: ``MAX_SEEN`` distinct lines, then the count starts
afresh. The texts counted are kept up to ``MAX_KEPT_CHARS`` characters; past that (a
stream of long lines), the counts go over to the hashes of the texts (a hash a line, as
before) until the count starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.envelopes.shipped import digest

MAX_SEEN = 65536
MAX_KEPT_CHARS = 8 << 20


class Hashed(tuple):
    """The position of a line named by its content, made into text only when read: its
    hash (``digest``) of ``text``, ``#count`` after it when it repeats. Parsers format a
    position with ``f"{prefix}{position}"`` (``collector.parse.Framer``), which calls
    ``__format__``; the native fast path calls ``__str__``.

    A ``(text, count)`` tuple: one is made for every line counted, only a record's first
    line's is ever read, and a tuple's own constructor is cheaper than a class's
    ``__init__`` (``Numbering.lines`` 0.397 -> 0.357 µs a line at load 9, 0.413 -> 0.375
    at load 14: measured in one process, interleaved). Being a tuple, it compares equal to
    a plain ``(text, count)`` and ``json.dumps(default=str)`` writes it as
    ``["<raw line>", 2]``, the raw line, not the position: format it before comparing or
    serializing."""

    __slots__ = ()

    def __str__(self) -> str:
        text, count = self
        position = digest(text)
        return f"{position}#{count}" if count else position

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return f"Hashed({str(self)!r})"


class Numbering:
    """How often each content-named line occurred in a delivery (``Delivery.end`` starts it
    afresh), so that a line repeated (the same line twice in one second) is two events and a
    retry of the delivery numbers its lines alike, and still overwrites."""

    __slots__ = ("_seen", "_chars", "_hashed")

    def __init__(self):
        # Per text (or its hash, once ``_hashed``): how often it occurred.
        self._seen: dict[str, int] = {}
        # The characters of the texts kept as keys.
        self._chars = 0
        self._hashed = False

    def clear(self) -> None:
        self._seen.clear()
        self._chars, self._hashed = 0, False

    def count(self, text: str) -> int:
        """How often ``text`` occurred before; it counts once more."""
        seen = self._seen
        key = digest(text) if self._hashed else text
        count = seen.get(key, 0)
        if len(seen) >= MAX_SEEN:  # the count read before, stored after, as always
            self.clear()
            seen, key = self._seen, text
        if not self._hashed and key not in seen:
            self._chars += len(text)
            if self._chars > MAX_KEPT_CHARS:
                self._hashed = True
                self._seen = seen = {digest(k): v for k, v in seen.items()}
                key = digest(text)
        seen[key] = count + 1
        return count

    def position(self, text: str) -> str:
        """The position, as text, of a line whose hash input is ``text``."""
        return str(Hashed((text, self.count(text))))

    def lines(self, lines: Sequence[tuple], created: Sequence[int]) -> list[tuple]:
        """A ``Run``'s lines (``collector.envelopes.shipped.Run``), each without an offset
        given a ``Hashed`` position (its text, the line after its message's time as
        ``Shipped.identity`` makes it): ``count`` of each, inlined while the texts fit.
        (Counted natively, through pyo3, it cost more: 0.43 against 0.375 µs a line, the
        key, the dict and the ``Hashed`` being the same C calls either way; measured.)"""
        out: list[tuple] = []
        append = out.append
        seen = self._seen
        before, prefix = None, ""
        for line, ms in zip(lines, created, strict=True):
            if line[1] is not None:
                append(line)
                continue
            if ms != before:
                before, prefix = ms, f"{ms}\x1f"
            key = prefix + line[0]
            count = seen.get(key, 0)
            if self._hashed or len(seen) >= MAX_SEEN or not count and (
                    self._chars + len(key) > MAX_KEPT_CHARS):
                count = self.count(key)
                seen = self._seen
            else:
                if not count:
                    self._chars += len(key)
                seen[key] = count + 1
            append((line[0], Hashed((key, count)), 0, False, True))
        return out
