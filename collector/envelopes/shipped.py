"""Shipper envelopes: a platform's line as a log shipper delivers it.

In most estates midwatch does not tail the middleware's files itself: Filebeat, Fluent Bit,
Vector, Logstash, rsyslog, syslog-ng, the OpenTelemetry Collector or a Splunk forwarder does,
and sends each line wrapped in its own document. Each module of this package knows one
shipper's shape and turns a document into a ``Shipped``: the platform's line plus where it
was read (host, file path, offset) and when the shipper read it. The line then goes through
the same auto-detection and framing as the file it came from (``collector.shipping``).

``collector.envelopes.shippers.unwrap`` tries them in turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from collector.timeparse import parse_ms


@dataclass(slots=True)
class Shipped:
    """One platform line (or several, when the shipper joined a multi-line record) and where
    the shipper read it."""

    line: str
    shipper: str
    host: str | None = None
    path: str | None = None
    # Byte offset of the line in its file, when the shipper says (Filebeat's ``log.offset``):
    # then the line's identity survives any retry or replay of the shipper.
    offset: int | None = None
    # When the shipper read or sent the line (epoch ms); 0 when it does not say.
    created_ms: int = 0
    # The program (syslog APP-NAME or TAG) when there is no file path.
    app: str | None = None

    def source(self, fallback: str) -> str:
        """The original source the line's framing and event IDs are keyed by: host and file
        path (or program), or ``fallback`` (the input's own source) when the shipper names
        neither."""
        where = self.path or self.app
        if where is None and self.host is None:
            return fallback
        return f"{self.host or '-'}:{where or '-'}"

    def identity(self) -> str:
        """The line and the shipper's time: what the position of a line whose shipper gives
        no offset is a hash of (the OTel Collector's file path + record hash;
        ``collector.envelopes.numbering``)."""
        return f"{self.created_ms}\x1f{self.line}"


# Consecutive messages of one source that make a ``Run`` (fewer go one by one: a run costs
# more to set up than it saves on one or two lines).
MIN_RUN = 3
MAX_MS = 253_402_300_800_000  # 10000-01-01T00:00:00Z: the first time ISO 8601 years cannot write


@dataclass(slots=True)
class Run:
    """Consecutive one-line messages of one source and shipper, in columns: a shipper sends
    a file's lines in order, so a delivery is mostly a few long runs, and their lines pass to
    the source's parser without a ``Shipped`` each (only a message that opens a record is
    made one, by ``at``: it stamps the record's events)."""

    shipper: str
    host: str | None
    path: str | None
    # ``collector.linesplit.Line`` tuples: (line, offset or None, 0, False, True).
    lines: list[tuple]
    # Each message's ``created_ms``.
    created: list[int]
    # Whether every message has its offset (else its position is made by the input).
    offsets: bool = True
    app: str | None = None

    def at(self, k: int) -> Shipped:
        """The ``Shipped`` of message ``k``."""
        line = self.lines[k]
        return Shipped(line[0], self.shipper, self.host, self.path, line[1], self.created[k],
                       self.app)


def runs(unwrapped: Sequence[Shipped | None]) -> list[Shipped | Run | None]:
    """The messages of a delivery with their runs (``MIN_RUN`` or more one-line messages of
    one shipper and source named by host, file path or program) as one ``Run`` each, the
    others as they are: what ``collector.native``'s Filebeat reader returns, here for any
    shipper (and for the reference path)."""
    out: list[Shipped | Run | None] = []
    i, n = 0, len(unwrapped)
    while i < n:
        found = unwrapped[i]
        end = i + 1
        if found is not None and _one_line(found) and not (
                found.path is None and found.app is None and found.host is None):
            shipper, host, path, app = found.shipper, found.host, found.path, found.app
            while end < n and (other := unwrapped[end]) is not None and other.path == path \
                    and other.host == host and other.app == app \
                    and other.shipper == shipper and _one_line(other):
                end += 1
        if end - i < MIN_RUN:
            out.extend(unwrapped[i:end])
        else:
            group = unwrapped[i:end]
            out.append(Run(found.shipper, found.host, found.path,  # type: ignore[union-attr]
                           [(f.line, f.offset, 0, False, True) for f in group],  # type: ignore[union-attr]
                           [f.created_ms for f in group],
                           all(f.offset is not None for f in group),  # type: ignore[union-attr]
                           found.app))  # type: ignore[union-attr]
        i = end
    return out


def grouped(groups: Sequence[tuple]) -> list[Shipped | Run]:
    """A native reader's runs (``Run``'s fields each), a run too short to be one (fewer
    than ``MIN_RUN`` lines) a message each, as ``runs`` leaves them."""
    out: list[Shipped | Run] = []
    for group in groups:
        found = Run(*group)
        if len(found.lines) >= MIN_RUN:
            out.append(found)
        else:
            out.extend(map(found.at, range(len(found.lines))))
    return out


def _one_line(found: Shipped) -> bool:
    """A message of one line (a record the shipper joined is split by ``Delivery.line``)."""
    line = found.line
    return "\n" not in line and line[-1:] != "\r"


def digest(text: str) -> str:
    """``h:`` and a hash of ``text``: a position for what has no other identity."""
    return "h:" + hashlib.blake2b(text.encode("utf-8", "surrogatepass"),
                                  digest_size=12).hexdigest()


def text(value: object) -> str | None:
    """A string field, or None for anything else (a shipper's field may be an object)."""
    return value if isinstance(value, str) and value else None


def body(value: object) -> str | None:
    """The line field: any string, the empty line included (a blank line inside a stack
    trace or an XML body is part of the record)."""
    return value if isinstance(value, str) else None


def dig(doc: dict, dotted: str) -> object:
    """``log.file.path`` nested (``{"log":{"file":{"path":..}}}``) or flattened as one key,
    as processors and outputs write either."""
    value = doc.get(dotted)
    if value is not None:
        return value
    node: object = doc
    for part in _parts(dotted):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


@lru_cache(maxsize=64)
def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(dotted.split("."))


def when(value: object) -> int:
    """A shipper's time (ISO 8601, epoch seconds with fraction, or epoch ms) as epoch ms."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        seconds = float(value)
        ms = seconds if seconds > 1e11 else seconds * 1000
        # A number no clock gives (negative, past year 9999, inf, NaN) is no shipper time:
        # int() of an infinite product raised and failed the whole delivery.
        return int(ms) if 0 <= ms < MAX_MS else 0
    if isinstance(value, str):
        return text_ms(value)
    return 0


@lru_cache(maxsize=4096)
def text_ms(value: str) -> int:
    """Cached: a shipper's batch shares few distinct times (they are its read times)."""
    return parse_ms(value) or 0


def offset(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():  # '²' is a digit to isdigit
        return int(value)
    return None
