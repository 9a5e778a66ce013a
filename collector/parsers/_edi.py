"""What X12 and EDIFACT share: who the trading partner is, and how control numbers are keyed.

Control numbers (ISA13, GS06, ST02, UNB 0020, UNH 0062) are assigned by the *sender* of an
interchange and are only unique per sender/receiver pair: both sides of a partnership usually
count from 1, and one sender counts separately per partner. So every typed ID built from a
control number is qualified by the pair in the original direction, ``<sender>><receiver>``
(interchange-level IDs: ISA06/ISA08, UNB sender/recipient). An acknowledgement travels the
other way, so it keys the IDs it echoes with its own receiver first; that is what makes an
850 sent from US to P and the 997 that P returns share ``x12.st:US>P:<GS06>:<ST02>`` without
any configuration, and keeps P's own GS06=17 (``x12.gs:P>US:17``) apart from ours.

``midwatch.partner`` is the side that is not us. ``ParseContext.edi_own_ids`` names our IDs;
without it midwatch assumes the usual receiving deployment: documents arrive (partner =
sender) and acknowledgements leave (partner = receiver).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collector.event import ACK_EXCEPT_LABEL, ACK_SCOPE_LABEL, Event
from collector.parsers._base import ParseContext
from collector.parsers._fields import set_label
from collector.timeparse import civil_to_ms

DIRECTION_ACTION = {"inbound": "received", "outbound": "sent"}
# A delimiter (X12) or separator (EDIFACT) is any character but a letter, a digit or a blank.
# The information separators IS1-IS4 (0x1C-0x1F) count: senders and translators choose them
# because no data holds them, and EDIFACT syntax level B (UNOB) has them as its defaults;
# Python's ``\s`` takes them for blanks, hence named apart.
INFORMATION_SEPARATORS = "\x1c\x1d\x1e\x1f"
SEPARATOR = rf"(?:[^\w\s]|[{INFORMATION_SEPARATORS}])"
# What surrounds segments without being data: blanks, line breaks, and the NUL bytes that
# transfers writing fixed-size blocks pad the last block of a file with (read as a segment,
# they made every such file a validation failure). Not ``str.strip()``: it takes the
# information separators 0x1C-0x1F for blanks.
PADDING = " \t\r\n\x00"


def _trailer(trailer: str) -> str:
    """``trailer`` (IEA, UNZ), its count and control reference, the segment terminator and
    perhaps padding. The control reference is any run of non-blank characters but the
    element separator: UNZ 0020 is an..14 and may hold ``-``, ``/`` or ``.`` (UNOA, UNOC);
    a run that could hold separators reached back to the trailer of an earlier interchange
    on the line, taking a line that stops inside the next one for whole. The literal leads
    the pattern, so a search skips to it as fast as a substring search."""
    return (rf"{trailer}(?<!\w{trailer})({SEPARATOR})\s*\d+\1\s*"
            rf"(?:(?!\1)[^\s{INFORMATION_SEPARATORS}])+?\s*{SEPARATOR}[{re.escape(PADDING)}]*")


def whole(trailer: str) -> re.Pattern:
    """How a line holding whole interchanges ends (``_trailer``). Translators write one
    interchange a file, often without a newline at its end, and the file input reads such a
    line once the file is quiet (``collector.parse.SourceParser.is_whole``), where a log's
    last line waits for its newline."""
    return re.compile(_trailer(trailer) + "$")


def ends(trailer: str) -> re.Pattern:
    """Where an interchange ends inside a line: ``trailer`` (with any padding) followed by the
    next interchange's header (X12 or EDIFACT: a mailbox may hold both). Translators write
    interchanges back to back on one line and flush after each, so a quiet read may end a
    line after any of them; the reader cuts the line there whatever the reads
    (``collector.linesplit.LineSplitter``), so each interchange is a record at its own offset
    and its events' IDs do not depend on where reads fell."""
    return re.compile(_trailer(trailer) + "(?=ISA|UNA|UNB)")


# The lines a record of an interchange may have (``collector.parse.Framer``): the usual cap of
# 2000 is for stack traces, whose first 2000 lines say it all, but written one segment a line
# every line of an interchange is data (600 purchase orders are 3,000 lines, 50 KB), and the
# lines past the cap were dead-lettered in one lump, their documents never events. Only the
# record's character cap (1 MiB) bounds an interchange, as it does one written on one line.
RECORD_LINES = 1024 * 1024
# A cut list would answer the cut documents wrongly, so this one label is exempt from the
# usual 1 KiB cap (it stays in the document; labels are indexed only up to 1 KiB). Above this
# bound (some 400 listed documents) the scope is not set at all.
MAX_ACK_EXCEPT_CHARS = 16_000


def scope_ack(ev: Event, scope: str, answered: list[str]) -> bool:
    """Label ``ev`` as answering its whole ``scope`` except the ``answered`` documents;
    False when there are too many of those to list."""
    listed = "\n".join(answered)
    if len(listed) > MAX_ACK_EXCEPT_CHARS:
        return False
    set_label(ev, ACK_SCOPE_LABEL, scope)
    if listed:
        ev.labels[ACK_EXCEPT_LABEL] = listed
    return True


def occurrence_id(base: str, occurrence: int) -> str:
    """The control-number ID of the ``occurrence``-th document (1-based) of an envelope that
    has this control number: the first keeps the plain ID, a repeat gets ``#<n>``. Senders that
    hard-code ST02/UNH 0062 name two documents alike; one ID would merge their traces, and an
    acknowledgement naming the number could only ever answer the first."""
    return base if occurrence == 1 else f"{base}#{occurrence}"


def answered_occurrence(seen: dict[str, int], control: str, duplicate: bool) -> int:
    """Which occurrence of ``control`` in the answered envelope an acknowledgement's next loop
    naming it answers (counted in ``seen``): the k-th loop naming a number answers its k-th
    occurrence, as a translator answers the sets in the order it read them. A loop rejecting
    the number as not unique (``duplicate``: 997 AK502 23, CONTRL 26) answers a repeat, never
    the first: partners that list only the documents in error name just the repeat."""
    occurrence = seen.get(control, 0) + 1
    if duplicate and occurrence == 1:
        occurrence = 2
    seen[control] = occurrence
    return occurrence


@dataclass(slots=True, frozen=True)
class Parties:
    """Sender and receiver of one interchange, as written in its header."""

    sender: str
    receiver: str

    @property
    def pair(self) -> str:
        return f"{self.sender}>{self.receiver}"

    @property
    def reversed_pair(self) -> str:
        """The pair of the interchange an acknowledgement answers."""
        return f"{self.receiver}>{self.sender}"


def direction(parties: Parties, ctx: ParseContext, *, is_ack: bool) -> str:
    """``inbound`` or ``outbound`` as seen from us."""
    own = ctx.edi_own_ids
    if parties.receiver in own:
        return "inbound"
    if parties.sender in own:
        return "outbound"
    return "outbound" if is_ack else "inbound"


def partner(parties: Parties, way: str) -> str:
    return parties.sender if way == "inbound" else parties.receiver


def mark_invalid(ev: Event, reason: str, error_type: str) -> Event:
    """Turn an event into the validation failure an envelope defect is."""
    ev.outcome = "failure"
    ev.level = "error"
    ev.action = "failed"
    ev.error_class = "validation"
    ev.error_type = error_type
    ev.error_message = reason
    ev.message = reason if not ev.message else f"{ev.message}: {reason}"
    return ev


def edi_time(date: str, time: str, ctx: ParseContext) -> int | None:
    """CCYYMMDD or YYMMDD plus HHMM[SS[d..]] in the context zone (X12 and EDIFACT envelopes
    carry no zone). Two-digit years pivot as POSIX ``%y`` does: 69-99 are 1969-1999, 00-68 are
    2000-2068 (the specifications' own examples are dated 1994-1999)."""
    if not (date.isdigit() and time[:4].isdigit()):
        return None
    if len(date) == 6:
        yy = int(date[:2])
        date = f"{1900 + yy if yy >= 69 else 2000 + yy}{date[2:]}"
    if len(date) != 8 or len(time) < 4:
        return None
    seconds = int(time[4:6]) if time[4:6].isdigit() else 0
    fraction = time[6:8] if time[6:8].isdigit() else ""
    return civil_to_ms(int(date[:4]), int(date[4:6]), int(date[6:8]), int(time[:2]),
                       int(time[2:4]), seconds, int((fraction + "000")[:3]), None, ctx.tz)
