"""UN/EDIFACT interchanges: one event per message, CONTRL acknowledgements linked to originals.

Service characters come from the UNA service string advice when there is one
(``UNA:+.? '``: component, element, decimal mark, release, repetition, terminator); a UNA on a
line of its own is framed with the UNB line after it (``continues``). Without UNA they are
read from the UNB itself (the character after ``UNB`` separates elements, the one after the
syntax identifier separates components unless the identifier has no version, then it is the
default ``:``; the one before ``UNH`` ends segments) and the release character is the default
``?``, none for syntax level B's separators (IS4, IS3, IS1: 0x1C, 0x1D, 0x1F). The release character escapes a separator (``?+``, ``?'``, ``??``); values are
unescaped. From syntax version 4 on (``UNB+UNOC:4``) a data element may repeat, its
occurrences split by the repetition separator (UNA5, ``*`` by default): a value is its first
occurrence. Before version 4 UNA5 is reserved, often written as ``*`` all the same, and the
character is data.

Typed IDs, qualified by the sender>recipient pair of the interchange that assigned the
reference (see ``collector.parsers._edi``):

- ``edifact.unb:<sender>><recipient>:<0020>``
- ``edifact.unh:<sender>><recipient>:<0020>:<0062>`` (the document; a later message of the
  interchange with the same 0062 ends ``#<n>``, its n-th occurrence: a repeat for one
  message type in one group or interchange is a validation failure, another type or group
  is not)
- ``edifact.unh:<sender>><recipient>:<0020>:<0062>/<type>[/<0048>]`` (the same message by
  its type and group, ``#<n>`` only for a repeat of one type in one group: the ID a CONTRL's
  UCM builds, which names the type and, after a UCF, the group, never the order)
- business keys: the BGM document number as ``order:`` (ORDERS, ORDCHG), ``invoice:``
  (INVOIC) or ``shipment:`` (DESADV), and references to other documents (``RFF+ON`` order,
  ``IV`` invoice, ``DQ``/``AAK`` despatch advice) by the same keys.

An APERAK (application error and acknowledgement) carries the business keys of the documents
it answers (its RFF segments) and is ``acknowledged``, or ``rejected`` with its ERC codes and
FTX texts as the error when it reports application errors.

A CONTRL yields an event per UCM (the message it answers) and one for the UCI (the
interchange). UCI echoes the subject interchange's own sender and recipient, so the pair is
taken from it as written. Action codes (0083): 7 acknowledged, 4 rejected, 8 received (a
delivery receipt, reported as ``delivered``), and the codes withdrawn in 2001 that older
CONTRL versions still send (1 acknowledged, 2 acknowledged with errors, 3 one or more lower
levels rejected, 5 UNB/UNZ accepted, 6 UNB/UNZ rejected). UCS/UCD errors become the error
fields. The UCI also answers every message of the interchange that no UCM answers (7: this
level acknowledged and the lower levels too unless explicitly rejected; 4: this level and all
lower levels rejected; 1: this level and all lower levels acknowledged): with 7, 4 or 1 its
event is labelled ``ack_scope: interchange`` (and ``ack_except``:
the messages its UCMs answer) and the correlator applies it to every other trace holding its
``edifact.unb`` ID. A UCF that does not acknowledge its functional group (4: rejected) takes
that scope away: which messages the group held, the CONTRL does not say, and the UCI would
otherwise acknowledge them.
Envelope defects give failure events with ``error_class=validation``, never exceptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from collector.event import Event, Record
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._edi import (
    DIRECTION_ACTION,
    PADDING,
    RECORD_LINES,
    SEPARATOR,
    Parties,
    answered_occurrence,
    direction,
    edi_time,
    ends,
    mark_invalid,
    occurrence_id,
    partner,
    scope_ack,
    whole,
)
from collector.parsers._fields import set_label

NAME = "edifact"
MAX_RECORD_LINES = RECORD_LINES
WHOLE = whole("UNZ")
ENDS = ends("UNZ")
DATASET = "edi.edifact"
START = re.compile(rf"UN[AB]{SEPARATOR}")
ENVELOPE_ERROR = "edifact.envelope"


# The first characters of a line ``detect`` may claim (START: ``UNA``/``UNB``; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = 'U'


def detect(line: str) -> bool:
    return START.match(line) is not None


def continues(lines: list[str], line: str) -> bool:
    """A UNB right after a UNA that stands alone on its line belongs with it: the UNA's
    service characters (a release character of its own, the repetition separator) are those
    of this interchange, and nothing in the UNB says them again."""
    return (len(lines) == 1 and line.startswith("UNB") and lines[0].startswith("UNA")
            and not lines[0][9:].strip())


@dataclass(slots=True, frozen=True)
class _Chars:
    component: str = ":"
    element: str = "+"
    release: str = "?"
    terminator: str = "'"
    # Used from syntax version 4 on only (``_Segments.syntax``); "" when UNA5 is a space.
    repetition: str = "*"


_BUSINESS_KIND = {"ORDERS": "order", "ORDCHG": "order", "INVOIC": "invoice",
                  "DESADV": "shipment"}
# RFF 1153 qualifiers naming another document by its BGM number: an invoice's order, an
# APERAK's subject ("the same number as in the BGM segment of the message which is being
# acknowledged", EANCOM).
_REFERENCED_KIND = {"ON": "order", "IV": "invoice", "DQ": "shipment", "AAK": "shipment"}
_ACTIONS = {  # 0083 -> (action, outcome, level, words)
    "7": ("acknowledged", "success", "info", "acknowledged"),
    "4": ("rejected", "failure", "error", "rejected"),
    "8": ("delivered", "success", "info", "received"),
    # Codes of the syntax 1-3 service code lists, removed in 2001 and still sent by CONTRL
    # versions of that time (the Nordic Ediel CONTRL:2:2 answers with UCI action 1).
    "1": ("acknowledged", "success", "info", "acknowledged"),
    "2": ("acknowledged", "success", "warn", "acknowledged with errors"),
    "3": ("acknowledged", "failure", "warn", "acknowledged, one or more rejected"),
    "5": ("delivered", "success", "info", "received (UNB/UNZ accepted)"),
    "6": ("rejected", "failure", "error", "rejected (UNB/UNZ rejected)"),
}
# UCI action codes that speak for every message of the interchange (8 and 5 only say it
# arrived; 2, 3 and 6 leave open what became of the messages not listed).
_WHOLE_INTERCHANGE = frozenset({"7", "4", "1"})
_ACKNOWLEDGING = frozenset({"7", "1"})
_SYNTAX_ERRORS = {  # 0085
    "2": "syntax version or level not supported", "7": "recipient is not the actual recipient",
    "12": "invalid value", "13": "missing", "14": "value not supported in this position",
    "15": "not supported in this position", "16": "too many constituents", "17": "no agreement",
    "18": "unspecified error", "19": "invalid decimal notation",
    "20": "character invalid as service character", "21": "invalid character(s)",
    "22": "invalid service character(s)", "23": "unknown interchange sender", "24": "too old",
    "25": "test indicator not supported", "26": "duplicate detected",
    "27": "security function not supported",
    "28": "references do not match", "29": "control count does not match instances received",
    "30": "functional groups and messages mixed", "31": "more than one message type in group",
    "32": "lower level empty",
    "33": "invalid occurrence outside message or group", "34": "nesting indicator not allowed",
    "35": "too many repetitions",
    "36": "too many segment group repetitions", "37": "invalid type of character(s)",
    "38": "missing digit in front of decimal sign",
    "39": "data element too long", "40": "data element too short",
    "41": "permanent communication network error",
    "42": "temporary communication network error", "43": "unknown interchange recipient",
    "45": "trailing separator", "46": "character set not supported",
    "47": "envelope functionality not supported",
}
# UCM 0085: the message's reference repeats; the message is a repeat.
_DUPLICATE = "26"


class _Broken(Exception):
    """An interchange whose service characters cannot be read."""


# --- framing ------------------------------------------------------------------------------

def _service_chars(text: str) -> tuple[_Chars, str]:
    """The service characters and the text after UNA (if any)."""
    if text.startswith("UNA"):
        if len(text) < 9:
            raise _Broken(f"UNA service string advice truncated: {len(text)} characters, "
                          f"expected 9 (UNA plus 6 service characters)")
        component, element, _decimal, release, repetition, terminator = text[3:9]
        chars = _Chars(component, element, release if release.strip() else "", terminator,
                       repetition if repetition.strip() else "")
        rest = text[9:]
    else:
        chars, rest = _inferred(text), text
    used = [chars.component, chars.element, chars.terminator]
    if len(set(used)) < 3 or any(c.isalnum() for c in used) or (
            chars.release and chars.release in used):
        raise _Broken(f"service characters are unusable (component {chars.component!r}, element "
                      f"{chars.element!r}, release {chars.release!r}, terminator "
                      f"{chars.terminator!r}): they must be distinct and not alphanumeric")
    return chars, rest


_UNB_HEAD = re.compile(rf"UNB({SEPARATOR})[A-Z]{{4}}({SEPARATOR})")
# Syntax level B's separators (ISO 9735 annex A; UN/EDIFACT syntax implementation guidelines
# 8.2.2): IS4 ends segments, IS3 separates elements, IS1 components. Level B has no release
# character: a ``?`` in its data is data.
_LEVEL_B_ELEMENT = "\x1d"


def _inferred(text: str) -> _Chars:
    """Service characters of an interchange without UNA, read from its UNB. The syntax
    identifier (UNOA, UNOC, IATB...) is followed by the component separator when its version
    is written, by the element separator when not (``UNB+UNOB+SENDER:1``, as EdiFabric's
    CONTRL sample has it); then the component separator is the ISO 9735 default ``:``."""
    m = _UNB_HEAD.match(text)
    if m is None:
        return _Chars()
    element, after = m.group(1), m.group(2)
    component = after if after != element else _Chars().component
    unh = text.find(f"UNH{element}")
    before = text[:unh].rstrip("\r\n") if unh > 0 else ""
    terminator = before[-1] if before and before[-1] not in (element, component) else "'"
    release = "" if element == _LEVEL_B_ELEMENT else _Chars().release
    return _Chars(component=component, element=element, release=release, terminator=terminator)


def _split(text: str, sep: str, release: str) -> list[str]:
    """Split on ``sep`` except where the release character escapes it."""
    if not release or release not in text:
        return text.split(sep)
    parts, start, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == release:
            i += 2
            continue
        if c == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


class _Segments:
    """Segments as lists of raw elements, with component access that unescapes values."""

    def __init__(self, text: str, chars: _Chars):
        self.chars = chars
        if chars.terminator not in "\r\n":
            text = text.replace("\r", "").replace("\n", "")
        self.items: list[list[str]] = []
        for raw in _split(text, chars.terminator, chars.release):
            raw = raw.strip(PADDING)
            if raw:
                self.items.append(_split(raw, chars.element, chars.release))
        rel = chars.release
        self._unescape = re.compile(re.escape(rel) + "(.)") if rel else None
        self.repetition = ""

    def syntax(self, version: str) -> None:
        """Take the syntax version of the interchange about to be read (UNB S001 0002): from
        4 on, the repetition separator splits repeated data elements, unless it collides with
        another service character."""
        chars = self.chars
        used = (chars.component, chars.element, chars.terminator, chars.release)
        honoured = version.isdigit() and int(version) >= 4 and chars.repetition not in used
        self.repetition = chars.repetition if honoured else ""

    def value(self, seg: list[str], element: int, component: int = 0) -> str:
        if len(seg) <= element:
            return ""
        raw = seg[element]
        if self.repetition and self.repetition in raw:
            raw = _split(raw, self.repetition, self.chars.release)[0]
        parts = _split(raw, self.chars.component, self.chars.release)
        if len(parts) <= component:
            return ""
        text = parts[component].strip()
        if self._unescape is not None and self.chars.release in text:
            text = self._unescape.sub(r"\1", text)
        return text


# --- the walk -----------------------------------------------------------------------------

@dataclass(slots=True)
class _Interchange:
    parties: Parties
    control: str
    timestamp_ms: int
    estimated: bool
    labels: dict[str, str]
    way: str
    messages: int = 0
    groups: int = 0
    # UNH 0062 -> how many messages of the interchange have had it, in or out of groups:
    # the ``edifact.unh`` ID is (0020, 0062), so a later one gets an ID of its own.
    references: dict[str, int] = field(default_factory=dict)
    # (UNG 0048 or "", 0062, message type) -> (the number (1-based) of the first message that
    # has it, how many have); ``read`` counts the messages. EANCOM: 0062 with the message
    # type (S009) is unique within the group, or the interchange when there are no groups,
    # so numbering restarting per group, or ORDERS 1 next to INVOIC 1, is no repeat.
    unique: dict[tuple[str, str, str], tuple[int, int]] = field(default_factory=dict)
    read: int = 0


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.lstrip("\ufeff \t\r\n")
    if not text.startswith(("UNA", "UNB")):
        raise ParseError("not an EDIFACT interchange (expected it to start with UNA or UNB)",
                         field="UNB")
    events: list[Event] = []
    part = record.part
    # As in x12: a part after the first resumes the interchange the one before it ended in
    # (``cut_part`` gave it the UNA, UNB and open UNG), a part before the last leaves it open.
    resume = part.state if part is not None and part.number > 1 else None
    while text:
        try:
            chars, rest = _service_chars(text)
        except _Broken as exc:
            return [*events, _unreadable(str(exc), ctx)]
        # Another UNA later in the record starts an interchange with service characters of its
        # own (interchanges written back to back on one line, each with its UNA).
        cut = _next_una(rest, chars)
        if cut >= 0:
            rest, text = rest[:cut], rest[cut:]
        else:
            text = ""
        segs = _Segments(rest, chars)
        pos = 0  # none: a UNA alone at the end of the input
        more = part.state if part is not None and not part.last and not text else None
        while pos < len(segs.items):
            pos = _interchange(segs, pos, ctx, events, resume=resume, more=more)
            resume = None
    return events


def SEGMENTS(head: str) -> tuple[str, str] | None:  # noqa: N802 - a parser hook, as START
    """(segment terminator, release character or "") of the interchange ``head`` starts, for
    a reader cutting an over-long line into pieces of whole segments (``collector.linesplit``);
    None when it starts none."""
    if START.match(head) is None:
        return None
    try:
        chars, _rest = _service_chars(head)
    except _Broken:
        return None
    return chars.terminator, chars.release


def cut_part(text: str) -> tuple[str, str] | None:
    """A record too long to read at once (``collector.parse.Framer``) in two: the text up to
    the end of its last whole message (UNT), and the rest behind the UNA, UNB and open UNG it
    belongs to, which the parser reads as the next ``Part``. None without a message to end
    at. Every interchange of the record is searched, with or without a UNA of its own: the
    pieces of a line are cut by size, so the last one may have only begun."""
    start = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    found = None  # (where the text after the UNA holding the last message starts, the UNA,
    #               _last_message of that text)
    try:
        while True:  # from UNA to UNA: each declares its own service characters
            chars, _rest = _service_chars(text[start:])
            nxt = _next_una(text[start + 3:], chars)
            end = start + 3 + nxt if nxt >= 0 else len(text)
            una = text[start:start + 9] if text.startswith("UNA", start) else ""
            last = _last_message(text[start + len(una):end], chars)
            if last is not None:
                found = start + len(una), una, last
            if nxt < 0:
                break
            start = end
    except _Broken:  # unusable service characters: no message is looked for from there
        pass
    if found is None:
        return None
    start, una, (cut, header) = found
    return text[:start + cut], una + header + text[start + cut:]


def _last_message(body: str, chars: _Chars) -> tuple[int, str] | None:
    """Where the last message (UNT) of ``body`` ends, and the header the text after it
    needs: the UNB of its interchange, and the UNG when its group is still open there. None
    without a UNT inside an interchange."""
    term, release = chars.terminator, chars.release
    last = unb = ung = None
    begin, at = 0, body.find(term)
    while at >= 0:
        escaped = 0
        while release and at - escaped > 0 and body[at - escaped - 1] == release:
            escaped += 1
        if escaped % 2 == 0:
            seg = body[begin:at + 1].lstrip(PADDING)
            tag = seg[:3]
            if seg[3:4] == chars.element and tag in ("UNB", "UNG", "UNE", "UNZ", "UNT"):
                if tag == "UNT":
                    last = (at + 1, unb, ung) if unb is not None else last
                elif tag == "UNG":
                    ung = seg
                elif tag == "UNB":  # an interchange begins, with a UNA or not
                    unb, ung = seg, None
                elif tag == "UNZ":
                    unb, ung = None, None
                else:  # UNE
                    ung = None
            begin = at + 1
        at = body.find(term, at + 1)
    if last is None:
        return None
    cut, unb, ung = last
    return cut, unb + (ung or "")


def _next_una(text: str, chars: _Chars) -> int:
    """Where the next UNA that follows a segment terminator begins in ``text``, or -1."""
    pos = text.find("UNA")
    while pos >= 0:
        end = pos
        while end and text[end - 1] in " \t\r\n":
            end -= 1
        if end and text[end - 1] == chars.terminator and not (
                chars.release and end > 1 and text[end - 2] == chars.release):
            return pos
        pos = text.find("UNA", pos + 3)
    return -1


def _unreadable(reason: str, ctx: ParseContext) -> Event:
    ev = Event(timestamp_ms=ctx.now_ms, timestamp_estimated=True, dataset=DATASET,
               platform="edi", message="EDIFACT interchange unreadable")
    return mark_invalid(ev, reason, ENVELOPE_ERROR)


def _new_event(ic: _Interchange) -> Event:
    ev = Event(timestamp_ms=ic.timestamp_ms, timestamp_estimated=ic.estimated,
               dataset=DATASET, platform="edi", partner=partner(ic.parties, ic.way))
    ev.labels.update(ic.labels)
    return ev


def _failure(ic: _Interchange, reason: str) -> Event:
    ev = _new_event(ic)
    ev.add_id("edifact.unb", f"{ic.parties.pair}:{ic.control}")
    return mark_invalid(ev, reason, ENVELOPE_ERROR)


def _found(segs: _Segments, pos: int) -> str:
    items = segs.items
    return f"{items[pos][0]} at segment {pos + 1}" if pos < len(items) else "the end of the record"


def _interchange(segs: _Segments, pos: int, ctx: ParseContext, out: list[Event], *,
                 resume: dict | None = None, more: dict | None = None) -> int:
    """Reads the interchange at ``pos``; ``resume``: what the part before this one left of
    it (``_leave``); ``more``: where to leave it when the record, a part
    (``collector.event.Part``), ends inside it."""
    items = segs.items
    unb = items[pos]
    if unb[0] != "UNB":
        end = next((i for i in range(pos + 1, len(items)) if items[i][0] == "UNB"), len(items))
        reason = (f"segment {pos + 1} is {unb[0][:24]!r} outside any interchange (expected UNB; "
                  f"element separator {segs.chars.element!r}, segment terminator "
                  f"{segs.chars.terminator!r})")
        out.append(_unreadable(reason, ctx))
        return end
    segs.syntax(segs.value(unb, 1, 1))
    ic = _read_unb(segs, unb, items, pos, ctx)
    messages = None  # the messages of its open group the parts before this one read
    if resume is not None:
        (ic.messages, ic.groups, ic.references, ic.unique, ic.read, ic.way,
         messages) = (resume[k] for k in _LEFT)
    pos += 1
    while pos < len(items):
        tag = items[pos][0]
        if tag == "UNH":
            pos = _message(segs, pos, ic, out)
            ic.messages += 1
        elif tag == "UNG":
            pos = _group(segs, pos, ic, out, messages=messages, more=more)
            messages = None
            if pos >= len(items) and more is not None:
                return _leave(ic, more, pos)
            ic.groups += 1
        elif tag == "UNZ":
            _check_unz(segs, items[pos], ic, out)
            return pos + 1
        elif tag == "UNB":
            break
        else:
            end = pos + 1
            while end < len(items) and items[end][0] not in ("UNH", "UNG", "UNZ", "UNB"):
                end += 1
            out.append(_failure(ic, f"unexpected {tag[:24]!r} at segment {pos + 1} outside a "
                                    f"message (expected UNH, UNG or UNZ)"
                                + (f"; segments {pos + 2}-{end} skipped with it"
                                   if end - pos > 1 else "")))
            pos = end
    if more is not None and pos >= len(items):
        return _leave(ic, more, pos)
    out.append(_failure(ic, f"interchange {ic.control} has no UNZ trailer (found "
                            f"{_found(segs, pos)})"))
    return pos


# What a part leaves of the interchange it ends in for the next (``_leave``).
_LEFT = ("messages", "groups", "references", "unique", "read", "way", "group_messages")


def _leave(ic: _Interchange, more: dict, pos: int) -> int:
    """A part ends inside ``ic``: what the next part needs of it (its open group's message
    count ``_group`` left in ``more``, or None outside groups)."""
    more.setdefault("group_messages", None)
    more.update(messages=ic.messages, groups=ic.groups, references=ic.references,
                unique=ic.unique, read=ic.read, way=ic.way)
    return pos


def _read_unb(segs: _Segments, unb: list[str], items: list[list[str]], pos: int,
              ctx: ParseContext) -> _Interchange:
    v = segs.value
    parties = Parties(sender=v(unb, 2), receiver=v(unb, 3))
    ts = edi_time(v(unb, 4, 0), v(unb, 4, 1), ctx)
    labels = {"edifact_syntax": f"{v(unb, 1, 0)}:{v(unb, 1, 1)}".strip(":"),
              "edifact_sender_id": parties.sender,
              "edifact_sender_qualifier": v(unb, 2, 1),
              "edifact_recipient_id": parties.receiver,
              "edifact_recipient_qualifier": v(unb, 3, 1),
              "edifact_unb_0020": v(unb, 5)}
    if v(unb, 11) == "1":
        labels["edifact_test"] = "1"
    first = next((s for s in items[pos + 1:pos + 3] if s[0] == "UNH"), None)
    is_ack = first is not None and v(first, 2, 0) == "CONTRL"
    return _Interchange(parties=parties, control=v(unb, 5),
                        timestamp_ms=ts if ts is not None else ctx.now_ms, estimated=ts is None,
                        labels={k: val for k, val in labels.items() if val},
                        way=direction(parties, ctx, is_ack=is_ack))


def _count_matches(said: str, actual: int) -> bool:
    return said.isdigit() and int(said) == actual


def _check_unz(segs: _Segments, unz: list[str], ic: _Interchange, out: list[Event]) -> None:
    control, count = segs.value(unz, 2), segs.value(unz, 1)
    if control != ic.control:
        out.append(_failure(ic, f"UNZ 0020 {control!r} does not match UNB 0020 {ic.control!r}"))
        return
    actual, what = (ic.groups, "groups") if ic.groups else (ic.messages, "messages")
    if not _count_matches(count, actual):
        out.append(_failure(ic, f"UNZ 0036 says {count or 'nothing'} {what}, interchange "
                                f"{ic.control} has {actual}"))


def _group(segs: _Segments, pos: int, ic: _Interchange, out: list[Event], *,
           messages: int | None = None, more: dict | None = None) -> int:
    """Reads the group at ``pos``; ``messages``: how many of its messages the parts before
    this one read (its UNG repeated as this part's header); ``more``: as for
    ``_interchange``."""
    items = segs.items
    reference = segs.value(items[pos], 5)
    messages = messages or 0
    if more is not None:
        more["group_messages"] = None
    pos += 1
    while pos < len(items):
        tag = items[pos][0]
        if tag == "UNH":
            pos = _message(segs, pos, ic, out, group=reference)
            messages += 1
        elif tag == "UNE":
            une = items[pos]
            if segs.value(une, 2) != reference:
                out.append(_failure(ic, f"UNE 0048 {segs.value(une, 2)!r} does not match UNG "
                                        f"0048 {reference!r}"))
            elif not _count_matches(segs.value(une, 1), messages):
                out.append(_failure(ic, f"UNE 0060 says {segs.value(une, 1) or 'nothing'} "
                                        f"messages, group {reference} has {messages}"))
            return pos + 1
        else:
            break
    if more is not None and pos >= len(items):  # the part ends inside the group
        more["group_messages"] = messages
        return pos
    out.append(_failure(ic, f"functional group {reference} has no UNE trailer (found "
                            f"{_found(segs, pos)})"))
    return pos


def _message(segs: _Segments, pos: int, ic: _Interchange, out: list[Event],
             group: str = "") -> int:
    items = segs.items
    unh = items[pos]
    reference, msg_type = segs.value(unh, 1), segs.value(unh, 2, 0)
    start = pos
    pos += 1
    while pos < len(items) and items[pos][0] not in ("UNT", "UNH", "UNE", "UNZ", "UNB", "UNG"):
        pos += 1
    body = items[start + 1:pos]
    problem = None
    if pos < len(items) and items[pos][0] == "UNT":
        unt = items[pos]
        count = pos - start + 1
        if segs.value(unt, 2) != reference:
            problem = f"UNT 0062 {segs.value(unt, 2)!r} does not match UNH 0062 {reference!r}"
        elif not _count_matches(segs.value(unt, 1), count):
            problem = (f"UNT 0074 says {segs.value(unt, 1) or 'nothing'} segments, message has "
                       f"{count} (counting UNH and UNT)")
        pos += 1
    else:
        problem = f"message has no UNT trailer (found {_found(segs, pos)})"
    ic.read += 1
    if msg_type == "CONTRL" and problem is None:
        out.extend(_contrl(segs, body, ic))
        return pos
    occurrence = ic.references[reference] = ic.references.get(reference, 0) + 1
    first, same = ic.unique.get((group, reference, msg_type), (ic.read, 0))
    ic.unique[group, reference, msg_type] = (first, same + 1)
    if first != ic.read:
        # A sender that writes 1 for every message names two documents alike: the repeat
        # gets an edifact.unh ID of its own (``#<n>``), which a UCM rejecting it as a
        # duplicate (26) names (``answered_occurrence``).
        where = f"group {group}" if group else f"interchange {ic.control}"
        repeat = (f"UNH 0062 {reference} repeats for {msg_type} in {where} (message {first} "
                  f"has it): message references are unique per message type within a group "
                  f"or interchange; occurrence {occurrence}, its edifact.unh ID ends "
                  f"#{occurrence}")
        problem = f"{problem}; {repeat}" if problem else repeat
    ev = _document(segs, unh, body, ic, occurrence=occurrence)
    ev.add_id("edifact.unh", _typed_id(f"{ic.parties.pair}:{ic.control}", reference, msg_type,
                                       group, same + 1))
    if problem:
        mark_invalid(ev, f"{problem} ({msg_type} {reference} in interchange {ic.control})",
                     ENVELOPE_ERROR)
    out.append(ev)
    return pos


def _typed_id(interchange: str, reference: str, msg_type: str, group: str,
              occurrence: int) -> str:
    """The ``edifact.unh`` ID of a message by its group, type and 0062, as a CONTRL's UCM
    names it (``<0020>:<0062>/<type>[/<0048>]``, ``#<n>`` for the n-th of one type): EANCOM
    numbers per message type, so DESADV 1 and INVOIC 1 share a 0062 and the plain ID tells
    them apart only by the order of the interchange, which a CONTRL listing just the INVOIC
    cannot know; its rejection landed on the DESADV."""
    base = f"{interchange}:{reference}/{msg_type}" + (f"/{group}" if group else "")
    return occurrence_id(base, occurrence)


def _document(segs: _Segments, unh: list[str], body: list[list[str]],
              ic: _Interchange, *, occurrence: int = 1) -> Event:
    """The event of a message; ``occurrence``: how many messages of the interchange up to
    this one have its reference (``occurrence_id``)."""
    v = segs.value
    reference, msg_type = v(unh, 1), v(unh, 2, 0)
    ev = _new_event(ic)
    pair = ic.parties.pair
    ev.action = DIRECTION_ACTION[ic.way]
    ev.outcome = "success"
    ev.add_id("edifact.unh", occurrence_id(f"{pair}:{ic.control}:{reference}", occurrence))
    ev.message_id = ev.ids[0]
    ev.add_id("edifact.unb", f"{pair}:{ic.control}")
    kind = _BUSINESS_KIND.get(msg_type)
    errors: list[str] = []
    texts: list[str] = []
    referenced: dict[str, set[str]] = {}
    for seg in body:
        tag = seg[0]
        if tag == "BGM" and kind:
            ev.add_id(kind, v(seg, 2, 0))
            set_label(ev, "edifact_document_code", v(seg, 1, 0))
        elif tag == "RFF" and v(seg, 1, 0) in _REFERENCED_KIND:
            referenced.setdefault(_REFERENCED_KIND[v(seg, 1, 0)], set()).add(v(seg, 1, 1))
        elif tag == "ERC":
            errors.append(v(seg, 1, 0))
        elif tag == "FTX" and errors:
            texts.append(" ".join(filter(None, (v(seg, 4, c) for c in range(5)))))
    # A document it names once: a consolidated invoice whose lines reference several orders
    # names none of them, since linking them all would merge the orders' traces.
    for ref_kind, values in referenced.items():
        if len(values) == 1:
            ev.add_id(ref_kind, values.pop())
    version = ":".join(p for p in (v(unh, 2, 1), v(unh, 2, 2), v(unh, 2, 3)) if p)
    set_label(ev, "edifact_message_type", msg_type)
    set_label(ev, "edifact_message_version", version)
    set_label(ev, "edifact_unh_0062", reference)
    ev.message = (f"EDIFACT {msg_type} {reference} {ev.action} "
                  f"{'from' if ic.way == 'inbound' else 'to'} {ev.partner} "
                  f"(interchange {ic.control})")
    if msg_type == "APERAK":
        _aperak(ev, errors, [t for t in texts if t])
    return ev


def _aperak(ev: Event, errors: list[str], texts: list[str]) -> None:
    """An application acknowledgement: the partner's application took the documents its RFF
    segments name (their business keys, so it joins their traces) or, with ERC application
    errors, refused them."""
    subject = ", ".join(i for i in ev.ids if not i.startswith("edifact.")) or "its subject"
    if errors:
        ev.action, ev.outcome, ev.level = "rejected", "failure", "error"
        ev.error_type, ev.error_code = "edifact.APERAK", ",".join(errors)
        ev.error_message = "; ".join(texts) or f"application error {ev.error_code}"
        ev.error_class = "validation"
        ev.message = f"{ev.message}: {subject} rejected ({ev.error_message})"
    else:
        ev.action = "acknowledged"
        ev.message = f"{ev.message}: {subject} accepted by the application"


# --- CONTRL -------------------------------------------------------------------------------

def _error_text(code: str) -> str:
    return f"{code} ({_SYNTAX_ERRORS.get(code, 'code not known to midwatch')})"


def _ack_event(ic: _Interchange, action_code: str) -> Event:
    ev = _new_event(ic)
    ev.action, ev.outcome, ev.level, _words = _ACTIONS.get(
        action_code, ("acknowledged", "unknown", "warn", f"action {action_code}"))
    if ev.outcome == "failure":
        ev.error_class = "validation"
    set_label(ev, "edifact_ack_action", action_code)
    set_label(ev, "edifact_ack_interchange", ic.control)
    return ev


def _set_errors(ev: Event, codes: list[str], details: list[str]) -> None:
    if codes or details:
        ev.error_type = "edifact.CONTRL"
        ev.error_code = ",".join(codes) or None
        ev.error_message = "; ".join([_error_text(c) for c in codes] + details)


def _action_words(code: str) -> str:
    return _ACTIONS[code][3] if code in _ACTIONS else f"action {code}"


def _contrl(segs: _Segments, body: list[list[str]], ic: _Interchange) -> list[Event]:
    """UCI (interchange), then per answered message UCM followed by its UCS/UCD errors."""
    v = segs.value
    events: list[Event] = []
    original = ic.parties.reversed_pair
    subject = ""
    uci: Event | None = None
    groups: list[tuple[str, str]] = []  # (0048, 0083) of each UCF
    # The UCM being read, its own error code, and the UCS/UCD details after it.
    current: tuple[Event, str, list[str]] | None = None
    # (group, type, 0062) -> the occurrence its last UCM answered
    seen: dict[str, int] = {}
    for seg in body:
        tag = seg[0]
        if tag == "UCI":
            subject = v(seg, 1)
            if v(seg, 2) and v(seg, 3):
                original = f"{v(seg, 2)}>{v(seg, 3)}"
            uci = _ack_event(ic, v(seg, 4))
            uci.add_id("edifact.unb", f"{original}:{subject}")
            where = [f"in segment {v(seg, 6)}"] if v(seg, 6) else []
            _set_errors(uci, [v(seg, 5)] if v(seg, 5) else [], where if v(seg, 5) else [])
            uci.message = (f"EDIFACT CONTRL from {ic.parties.sender}: interchange {subject} "
                           f"{_action_words(v(seg, 4))}")
            events.append(uci)
        elif tag == "UCF":
            groups.append((v(seg, 1), v(seg, 4)))
        elif tag == "UCM":
            if current is not None:
                _set_errors(current[0], [current[1]] if current[1] else [], current[2])
            reference, msg_type = v(seg, 1), v(seg, 2, 0)
            ev = _ack_event(ic, v(seg, 3))
            group = groups[-1][0] if groups else ""  # UCMs after a UCF answer its group
            occurrence = answered_occurrence(seen, f"{group}\x1f{msg_type}\x1f{reference}",
                                             v(seg, 4) == _DUPLICATE)
            ev.add_id("edifact.unh", _typed_id(f"{original}:{subject}", reference, msg_type,
                                               group, occurrence))
            ev.add_id("edifact.unb", f"{original}:{subject}")
            set_label(ev, "edifact_message_type", msg_type)
            set_label(ev, "edifact_unh_0062", reference)
            ev.message = (f"EDIFACT CONTRL from {ic.parties.sender}: {msg_type} {reference} "
                          f"(interchange {subject}) {_action_words(v(seg, 3))}")
            events.append(ev)
            current = (ev, v(seg, 4), [])
        elif tag == "UCS" and current is not None:
            error = v(seg, 2)
            current[2].append(f"segment {v(seg, 1)}: {_error_text(error) if error else 'error'}")
        elif tag == "UCD" and current is not None:
            component = f".{v(seg, 2, 1)}" if v(seg, 2, 1) else ""
            current[2].append(f"element {v(seg, 2, 0)}{component}: {_error_text(v(seg, 1))}")
    if current is not None:
        _set_errors(current[0], [current[1]] if current[1] else [], current[2])
    if uci is None:
        return [mark_invalid(_new_event(ic), "CONTRL without a UCI segment: nothing is "
                                             "acknowledged", ENVELOPE_ERROR)]
    open_groups = [f"{ref} ({_action_words(code)})" for ref, code in groups
                   if code not in _ACKNOWLEDGING]
    if open_groups and uci.labels.get("edifact_ack_action") in _ACKNOWLEDGING:
        # A rejected group's messages are rejected unless a UCM says otherwise, yet which
        # messages it held the CONTRL does not say: a scope would acknowledge them.
        uci.message += (f"; functional groups not acknowledged by UCF: {', '.join(open_groups)}"
                        f" (the messages not answered one by one are left open)")
    elif uci.labels.get("edifact_ack_action") in _WHOLE_INTERCHANGE:
        # 7: this level acknowledged and the lower levels too unless explicitly rejected;
        # 4 (1): this level and all lower levels rejected (acknowledged). So the UCI answers
        # every message of the interchange that no UCM answers, and the correlator applies it
        # to each trace holding this edifact.unb ID except those.
        answered = [ev.ids[0] for ev in events if ev is not uci]
        if not answered:
            scope_ack(uci, "interchange", [])
            uci.message += "; no UCM segments: applies to every message of the interchange"
        elif scope_ack(uci, "interchange", answered):
            uci.message += (f"; applies to the messages of the interchange not answered one by "
                            f"one ({len(answered)} are)")
    for ev in events:
        ev.message_id = ev.ids[0]
    return events
