"""What a parser module is, and the context and error types they share.

A parser is a module under ``collector/parsers/`` exposing:

- ``NAME``: the ``--format`` name (``mule``, ``x12`` ...).
- ``START``: a compiled regex matching the first line of a record, or ``None`` when every
  line is a record. Lines that do not match ``START`` are continuation lines (stack traces,
  XML bodies, EDI segments across lines) and are appended to the record before them.
- ``continues(first: str, line: str) -> bool`` (optional): whether a line matching ``START``
  still belongs to the open record whose first line is ``first``, for formats that repeat
  their line prefix on every line of a multi-line message (RabbitMQ 3.9+).
- ``detect(line: str) -> bool``: cheap test on one line, used by ``--format auto`` per file
  (first lines) and per line for mixed sources. Must never raise.
- ``parse(record: Record, ctx: ParseContext) -> list[Event]``: pure function from one framed
  record to zero or more events. Raise ``ParseError`` (with the field) for a record it cannot
  read; the parse core dead-letters it with the reason. Parsers set source fields only;
  redaction, error classification, signatures and event IDs are applied afterwards by
  ``collector.normalize`` so every format gets them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, tzinfo


class ParseError(ValueError):
    """A record this parser cannot read. ``field`` names what was wrong or missing."""

    def __init__(self, reason: str, field: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.field = field


@dataclass(slots=True)
class ParseContext:
    # Zone for source timestamps that carry none (config: collector.default_timezone).
    tz: tzinfo = UTC
    # Generic JSON field mapping (``--mapping FILE``): schema field -> source field path.
    mapping: dict[str, str] = field(default_factory=dict)
    # Extra dotted field paths / label keys to redact (config: redaction.fields).
    redact_fields: tuple[str, ...] = ()
    redact_cards: bool = True
    redact_emails: bool = True
    # Milliseconds since epoch used when the source timestamp is unreadable.
    now_ms: int = 0
    # Our own EDI interchange IDs (ISA06/ISA08, UNB sender/recipient; config: edi.own_ids),
    # which tell inbound from outbound and so which side is the trading partner.
    edi_own_ids: frozenset[str] = frozenset()
