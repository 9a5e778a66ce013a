"""What a parser module is, and the context and error types they share.

A parser is a module under ``collector/parsers/`` exposing:

- ``NAME``: the ``--format`` name (``mule``, ``x12`` ...).
- ``START``: a compiled regex matching the first line of a record, or ``None`` when every
  line is a record (a JSON value pretty-printed over several lines, ``{`` or ``[`` alone on
  its first line and ``}`` or ``]`` on its last, counts as one line: see
  ``collector.parse.SourceParser``).
  Lines that do not match ``START`` are continuation lines (stack traces, XML bodies, EDI
  segments across lines) and are appended to the record before them.
- ``continues(lines: list[str], line: str) -> bool`` (optional): whether a line matching
  ``START`` still belongs to the open record, whose lines so far are ``lines``: for formats
  that repeat their line prefix on every line of a multi-line message (RabbitMQ 3.9+), and for
  a header that may stand on a line of its own before the line it belongs with (an EDIFACT
  UNA service string advice before its UNB).
- ``detect(line: str) -> bool``: cheap test on one line, used by ``--format auto`` per file
  (first lines) and per line for mixed sources. Must never raise.
- ``DETECT_FIRST`` (optional): the first characters of every line ``detect`` may claim ("0"
  for any digit, " " for any blank); auto-detection does not ask the parser about other
  lines. Leave it out when any line may be claimed.
- ``DETECT_NEEDS`` (optional): per first character (named as in ``DETECT_FIRST``), substrings
  one of which every line starting so that ``detect`` claims holds; auto-detection does not
  ask the parser about a line that holds none (``collector.detect_prefilter``: one native
  pass over a batch instead of a ``detect`` call per line). Checked against every fixture by
  tests/unit/test_auto_detect.py; leave a character out where no such list is sure.
- ``claims_taken(line: str) -> bool`` (optional, formats with a native reader): True where
  ``detect`` is known to claim a line that reader made an event of; auto-detection then asks
  only the parsers ranked before this one about it. False means "not known".
- ``parse(record: Record, ctx: ParseContext) -> list[Event]``: pure function from one framed
  record to zero or more events. Raise ``ParseError`` (with the field) for a record it cannot
  read; the parse core dead-letters it with the reason (and keeps the events of the record's
  readable entries, when the error carries them). Parsers set source fields only;
  redaction, error classification, signatures and event IDs are applied afterwards by
  ``collector.normalize`` so every format gets them the same way; it also stores label keys
  lower case (``parsers._fields.set_label`` makes them so already), as rules name them.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from collector.event import Event

PROCESS_KEY = secrets.token_bytes(32)

# The first characters of ASCII lines as ``DETECT_FIRST`` and ``DETECT_NEEDS`` name them ("0"
# for any digit, " " for any blank): for needles that hold whatever most lines start with.
FIRST_CLASSES = "0 " + string.ascii_letters + string.punctuation


def first_classes_but(chars: str) -> str:
    """``FIRST_CLASSES`` without these."""
    return "".join(c for c in FIRST_CLASSES if c not in chars)


class ParseError(ValueError):
    """A record this parser cannot read. ``field`` names what was wrong or missing.

    ``events``: what the rest of the record did yield, for records holding many entries (an
    exported JSON array) of which only some are unreadable. The parse core keeps them beside
    the dead letter instead of losing a whole export to one bad entry.
    """

    def __init__(self, reason: str, field: str | None = None, events: Sequence[Event] = ()):
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.events = list(events)


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
    # HMAC key of redaction tokens (collector.redaction_key). The default is random per
    # process: tokens then agree within one run only, never reveal the value, never collide.
    redact_key: bytes = field(default=PROCESS_KEY, repr=False)
    # The access log's own layout (config: inputs[].log_format): an NGINX ``log_format``,
    # Apache ``LogFormat``, HAProxy ``log-format`` or Envoy format string, read by the
    # apigw, haproxy and envoy parsers instead of the layouts they know
    # (``collector.parsers.logformat``).
    log_format: str | None = None
    # Order of a slashed date at the start of a text line (config: inputs[].date_order):
    # ``auto`` reads each layout in its platform's order (Spark's ``yy/MM/dd``, WebSphere's
    # en_US ``M/d/yy``); ``ymd``, ``dmy`` or ``mdy`` say it for the input.
    date_order: str = "auto"
    # Source times outside [time_min_ms, time_max_ms] are not believed (config:
    # collector.time_range): the event keeps them as text and takes the ingest time, flagged
    # (``collector.timeparse.settle_time``). Defaults: 1970-01-01 to the end of 2200.
    time_min_ms: int = 0
    time_max_ms: int = 7_289_654_399_999
