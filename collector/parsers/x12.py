"""ANSI X12 interchanges: one event per transaction set, acknowledgements linked to originals.

Delimiters come from the ISA segment itself, which is fixed width (106 characters): the
element separator is character 4, the component separator ISA16 (character 105), the segment
terminator character 106, and from version 00403 on ISA11 is the repetition separator. Line
breaks after the terminator (or in the middle of segments, as 80-column wrapped files have)
are not data and are dropped, unless the terminator is itself a line break. An ISA whose
elements are not padded (some senders write one; X12 libraries such as stupidedi read it) is
read by its separators instead, and its events say so (``x12_isa_not_fixed_width``). A record
holding several interchanges one after the other (on one line, as a mailbox download or files
joined by ``cat`` have them) reads each with the delimiters of its own ISA.

Typed IDs (see ``collector.parsers._edi`` for why every control number carries the
sender>receiver pair of the interchange that assigned it; control numbers in the form
``_control`` gives them, so a 997 that writes them with other leading zeros still matches):

- ``x12.isa:<ISA06>><ISA08>:<ISA13>``
- ``x12.gs:<ISA06>><ISA08>:<GS06>``
- ``x12.st:<ISA06>><ISA08>:<GS06>:<ST02>`` (the document; ST02 is unique within a group;
  a repeat of GS06 and ST02 in the interchange, a validation failure, ends ``#<n>``, the
  n-th occurrence, which the 997 answering it names: ``_edi.answered_occurrence``)
- business keys where the document holds them cheaply: 850 BEG03, 855 BAK03, 860 BCH03 and
  865 BCA03 ``order:``, 810 BIG02 ``invoice:`` (BIG04 ``order:``), 856 BSN02 ``shipment:``,
  the warehouse 940/945 orders, the transport 204/990/214/210 shipment IDs, and, qualified
  by the trading partner (``claim:<partner>:<CLM01>``), the health care claim (837 CLM01,
  835 CLP01), payment (820/835 TRN02) and inquiry trace numbers (270/271/276/277 TRN02).

A 997/999 yields one event per AK2 loop (the set it answers: AK5/IK5) and one per AK9 (the
group), carrying the *original's* ``x12.gs``/``x12.st`` IDs keyed by the reversed pair; its
own control numbers are labels, because as IDs they would merge the traces of every set one
acknowledgement answers. Many partners send group-level acknowledgements only (AK1 and AK9,
no AK2 loops): that AK9 answers every set of the group, so its event is labelled
``ack_scope: group`` and the correlator applies it to every trace holding its ``x12.gs`` ID
(the AK901 code decides as for a set: A/E acknowledged, P/R/M/W/X rejected). Partners that
list only the sets in error (AK2 loops for some sets, AK902 counting more) answer the others
with the AK9 too: one more event, ``ack_scope: group`` with ``ack_except`` naming the listed
sets, settles them (A/E/P: acknowledged, since P means the listed sets were rejected; R/M/W/X:
rejected). A TA1 links to the original ``x12.isa`` the same way.

Envelope defects (missing trailers, control numbers or counts that disagree, truncated or
inconsistent ISA) become failure events with ``error_class=validation`` and a reason naming
the segment, what was expected and what was found; they never raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from collector.event import Event, Record
from collector.parsers._base import ParseContext, ParseError
from collector.parsers._edi import (
    DIRECTION_ACTION,
    INFORMATION_SEPARATORS,
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

NAME = "x12"
MAX_RECORD_LINES = RECORD_LINES
WHOLE = whole("IEA")
ENDS = ends("IEA")
DATASET = "edi.x12"
START = re.compile(rf"ISA{SEPARATOR}")
ISA_LENGTH = 106
# How far an ISA can reach: unpadded, its sixteenth separator must come within four lengths.
_ISA_WINDOW = 4 * ISA_LENGTH + 3
# Where the element separator must sit in the fixed-width ISA (0-based).
_ISA_SEPARATOR_AT = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
ENVELOPE_ERROR = "x12.envelope"
# The widths ``_control`` pads numeric control numbers to: ISA13 (with IEA02, TA101) is fixed
# at nine digits, ST02 (SE02, AK202) has at least four, GS06 (GE02, AK102) is a plain number.
_ISA13, _ST02, _GS06 = 9, 4, 1

_SET_NAMES = {
    "810": "invoice", "850": "purchase order", "855": "PO acknowledgment",
    "856": "ship notice", "860": "PO change", "865": "PO change acknowledgment",
    "820": "payment order", "832": "price catalog", "846": "inventory inquiry",
    "940": "warehouse shipping order", "945": "warehouse shipping advice",
    "204": "load tender", "990": "load tender response", "214": "shipment status",
    "210": "freight invoice", "824": "application advice",
    "837": "health care claim", "835": "health care claim payment",
    "270": "eligibility inquiry", "271": "eligibility response",
    "276": "claim status inquiry", "277": "claim status response",
    "997": "functional acknowledgment", "999": "implementation acknowledgment",
}
# Keys only unique per trading partner (a provider's claim numbers, a submitter's trace
# numbers run from 1 like everyone else's): qualified by the partner, the same on the claim
# sent and the payment received, so traces of different partners never merge on them.
_PARTNER_SCOPED = frozenset({"claim", "transaction", "payment"})
# (segment, element index, ID kind) holding the business key of a transaction set.
_BUSINESS_KEYS = {
    "850": (("BEG", 3, "order"),),
    "855": (("BAK", 3, "order"),),
    "860": (("BCH", 3, "order"),),
    "810": (("BIG", 2, "invoice"), ("BIG", 4, "order")),
    "856": (("BSN", 2, "shipment"), ("PRF", 1, "order")),
    "865": (("BCA", 3, "order"),),
    # Warehouse: the depositor's order and the customer's PO (the 850's BEG03).
    "940": (("W05", 2, "order"), ("W05", 3, "order")),
    "945": (("W06", 2, "order"), ("W06", 4, "shipment"), ("W06", 6, "order")),
    "820": (("TRN", 2, "payment"), ("RMR", 2, "invoice")),
    # Transport: the shipment ID a tender gives and its response, status and invoice repeat.
    "204": (("B2", 4, "shipment"),),
    "990": (("B1", 2, "shipment"),),
    "214": (("B10", 2, "shipment"),),
    "210": (("B3", 2, "invoice"), ("B3", 3, "shipment")),
    # Health care (HIPAA 5010): the claim, and the trace number a response echoes.
    "837": (("CLM", 1, "claim"),),
    "835": (("TRN", 2, "payment"), ("CLP", 1, "claim")),
    "270": (("TRN", 2, "transaction"),),
    "271": (("TRN", 2, "transaction"),),
    "276": (("TRN", 2, "transaction"),),
    "277": (("TRN", 2, "transaction"),),
}
_ACK_SETS = frozenset({"997", "999"})
# AK501/IK501 and AK901 codes -> (action, outcome, level)
_ACK_STATUS = {
    "A": ("acknowledged", "success", "info"),
    "E": ("acknowledged", "success", "warn"),
    "P": ("acknowledged", "failure", "warn"),
    "R": ("rejected", "failure", "error"),
    "M": ("rejected", "failure", "error"),
    "W": ("rejected", "failure", "error"),
    "X": ("rejected", "failure", "error"),
}
_STATUS_WORDS = {
    "A": "accepted", "E": "accepted with errors", "P": "partially accepted", "R": "rejected",
    "M": "rejected (message authentication code failed)", "W": "rejected (assurance failed)",
    "X": "rejected (content could not be decrypted)",
}
_SET_ERRORS = {  # AK502-AK506 / IK502
    "1": "transaction set not supported", "2": "transaction set trailer missing",
    "3": "ST02/SE02 control numbers do not match", "4": "segment count does not match SE01",
    "5": "one or more segments in error", "6": "missing or invalid transaction set identifier",
    "7": "missing or invalid transaction set control number",
    "23": "transaction set control number not unique within the group",
    "I5": "implementation: one or more segments in error",
    "I6": "implementation convention not supported",
}
# AK502-AK506: the set's control number repeats in its group; the set is a repeat.
_NOT_UNIQUE = "23"
_GROUP_ERRORS = {  # AK905-AK909
    "1": "functional group not supported", "2": "functional group version not supported",
    "3": "functional group trailer missing", "4": "GS06/GE02 control numbers do not agree",
    "5": "transaction set count does not match GE01", "6": "group control number syntax error",
}
_SEGMENT_ERRORS = {  # AK304 / IK304
    "1": "unrecognized segment ID", "2": "unexpected segment", "3": "required segment missing",
    "4": "loop occurs over maximum times", "5": "segment exceeds maximum use",
    "6": "segment not in defined transaction set", "7": "segment not in proper sequence",
    "8": "segment has data element errors", "I4": "'not used' segment present",
    "I6": "implementation dependent segment missing", "I7": "loop occurs under minimum times",
    "I8": "segment has data element errors", "I9": "implementation dependent 'not used' "
                                                 "segment present",
}
_ELEMENT_ERRORS = {  # AK403 / IK403
    "1": "mandatory data element missing", "2": "conditional required data element missing",
    "3": "too many data elements", "4": "data element too short", "5": "data element too long",
    "6": "invalid character in data element", "7": "invalid code value", "8": "invalid date",
    "9": "invalid time", "10": "exclusion condition violated", "12": "too many repetitions",
    "13": "too many components", "I10": "implementation 'not used' data element present",
    "I12": "implementation pattern match failure", "I13": "implementation dependent data "
                                                           "element missing",
}
_TA1_NOTES = {
    "000": "no error", "001": "ISA13/IEA02 control numbers do not match",
    "002": "standard not supported", "003": "version not supported",
    "004": "segment terminator is invalid", "005": "invalid sender ID qualifier",
    "006": "invalid sender ID", "007": "invalid receiver ID qualifier",
    "008": "invalid receiver ID", "009": "unknown receiver ID",
    "014": "invalid interchange date", "015": "invalid interchange time",
    "018": "invalid interchange control number", "021": "invalid number of included groups",
    "022": "invalid control structure", "023": "improper (premature) end of file",
    "024": "invalid interchange content", "025": "duplicate interchange control number",
    "026": "invalid data element separator", "027": "invalid component element separator",
}


class _Broken(Exception):
    """An interchange whose delimiters cannot be read: nothing inside it is trustworthy."""


# The first characters of a line ``detect`` may claim (START: ``ISA``; "0" stands for any
# digit, " " for any blank): auto-detection asks only parsers that may claim a line.
DETECT_FIRST = 'I'


# An ISA segment's head: at the start of the text or of a segment (after a terminator,
# a line break or padding: anything but a letter, a digit or the element separator that
# follows), then the fixed-width ISA01/ISA03 qualifiers (two digits each).
_ISA_HEAD = re.compile(r"(?<![A-Za-z0-9])ISA([^A-Za-z0-9 \r\n])")


def HIDE(text: str) -> str:  # noqa: N802 - a parser hook, as START
    """The text with each ISA02 (authorization information) and ISA04 (security information:
    a password when ISA03 is 01) masked, for what is stored of the raw interchange
    (``event.original``, dead letters): a credential must not reach the store or the
    screen. Only a real ISA head counts (an element ending in ISA, such as a card type VISA,
    is data); blank or all-zero values (no credential, the common case) are left; widths
    are kept, so the interchange still reads as one."""
    if "ISA" not in text:
        return text
    cuts: list[tuple[int, int]] = []
    for m in _ISA_HEAD.finditer(text):
        sep, at = m.group(1), m.end()
        if m.start() and text[m.start() - 1] == sep:  # "*ISA*": an element's value
            continue
        elements = text[at:at + 4 * ISA_LENGTH].split(sep, 4)
        if len(elements) < 5:
            continue
        a01, a02, a03, a04 = elements[:4]
        if not (len(a01) == len(a03) == 2 and (a01 + a03).isdigit()
                and len(a02) <= 10 and len(a04) <= 10):
            continue
        for start, value in ((at + len(a01) + 1, a02),
                             (at + len(a01) + len(a02) + len(a03) + 3, a04)):
            if value.strip(" 0"):
                cuts.append((start, len(value)))
    if not cuts:
        return text
    out, last = [], 0
    for start, width in cuts:
        out += [text[last:start], "*" * width]
        last = start + width
    return "".join(out) + text[last:]


def detect(line: str) -> bool:
    return START.match(line) is not None


@dataclass(slots=True)
class _Interchange:
    parties: Parties
    control: str
    timestamp_ms: int
    estimated: bool
    labels: dict[str, str]
    separator: str
    way: str = "inbound"
    groups: int = 0
    # (GS06, ST02) -> how many sets of the interchange have had it, and where the first was
    # (groups before its group, set number within it). Keyed on the interchange, not the
    # group: the x12.st ID is (GS06, ST02), and a sender hard-coding GS06 1 writes two
    # groups with the same one.
    st02s: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Group:
    functional_id: str
    control: str
    version: str
    timestamp_ms: int | None
    sets: int = 0


# --- framing ------------------------------------------------------------------------------

def _segments(text: str) -> tuple[list[list[str]], str, bool, str]:
    """The segments of the interchange ``text`` starts with, split into elements, its element
    separator, whether its ISA was the fixed width the standard prescribes, and the text from
    the next ISA on (each ISA declares its own delimiters)."""
    sep, terminator, fixed = _delimiters(text)
    cut = _next_isa(text, terminator)
    body = _unwrapped(text[:cut] if cut >= 0 else text, terminator == "\n")
    segments = []
    for raw in body.split(terminator):
        raw = raw.strip(PADDING)
        if raw:
            segments.append(raw.split(sep))
    return segments, sep, fixed, text[cut:] if cut >= 0 else ""


def SEGMENTS(head: str) -> tuple[str, str] | None:  # noqa: N802 - a parser hook, as START
    """(segment terminator, "": X12 has no release character) of the interchange ``head``
    starts, for a reader cutting an over-long line into pieces of whole segments
    (``collector.linesplit``); None when it starts none. A terminator read as a line break
    that cannot be one (the line is over-long) is a CR."""
    if START.match(head) is None:
        return None
    try:
        _sep, terminator, _fixed = _delimiters(head)
    except _Broken:
        return None
    return ("\r" if terminator == "\n" else terminator), ""


def cut_part(text: str) -> tuple[str, str] | None:
    """A record too long to read at once (``collector.parse.Framer``) in two: the text up to
    the end of its last whole transaction set, and the rest behind the ISA and the open GS it
    belongs to, which the parser reads as the next ``Part``. None without a set to end at.
    Every interchange of the record is searched: the pieces of a line are cut by size, so the
    last one may have only begun (its ISA, GS or part of its first set)."""
    start = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    found = None  # (where the interchange holding the last set starts, _last_set of it)
    try:
        while True:
            sep, terminator, _fixed = _delimiters(text[start:])
            nxt = _next_isa(text[start:], terminator)
            end = start + nxt if nxt > 0 else len(text)
            last = _last_set(text[start:end], sep, terminator)
            if last is not None:
                found = start, last
            if nxt <= 0:
                break
            start = end
    except _Broken:  # unusable delimiters: no set is looked for from there (parse says why)
        pass
    if found is None:
        return None
    start, (cut, header) = found
    return text[:start + cut], header + text[start + cut:]


def _last_set(body: str, sep: str, terminator: str) -> tuple[int, str] | None:
    """Where the last transaction set of the interchange ``body`` ends (after its SE), and
    the header the text after it needs: the ISA, and the GS when its group is still open
    there. None without an SE."""
    # A line break as terminator is CR, LF or CRLF (``_unwrapped``). The leading terminator
    # is looked behind, not matched: a GE right after an SE must be found too.
    t = "\r\n" if terminator == "\n" else re.escape(terminator)
    se = gs = group = None
    for m in re.finditer(rf"(?<=[{t}])[\r\n\t ]*(SE|GS|GE){re.escape(sep)}[^{t}]*[{t}]", body):
        tag = m.group(1)
        if tag == "SE":
            se, gs = m, group
        else:
            group = m if tag == "GS" else None
    if se is None:
        return None
    header = body[:re.search(rf"[{t}]", body).end()]  # type: ignore[union-attr]
    if gs is not None:
        header += body[gs.start(1):gs.end()]
    return se.end(), header


def _delimiters(text: str) -> tuple[str, str, bool]:
    """(element separator, segment terminator, whether the ISA is fixed width) of the
    interchange ``text`` starts with, checked usable; a terminator that is a line break is
    given as LF."""
    head = text[:_ISA_WINDOW]  # the delimiters are in the ISA: no need to look further
    newline = len(head) > 105 and head[105] in "\r\n"
    window = _unwrapped(head, newline)
    terminator = "\n" if newline else (window[105] if len(window) > 105 else "")
    isa = window[:ISA_LENGTH]
    sep = text[3] if len(text) > 3 else ""
    if sep and (sep.isalnum() or sep.isspace() and sep not in INFORMATION_SEPARATORS):
        raise _Broken(f"ISA element separator (character 4) is {sep!r}; it must be a "
                      f"punctuation character such as '*'")
    fixed = len(isa) == ISA_LENGTH and bool(terminator)
    misplaced = next((pos for pos in _ISA_SEPARATOR_AT if fixed and isa[pos] != sep), None)
    if fixed and misplaced is None:
        component = isa[104]
    else:
        loose = _unpadded_isa(head, sep)
        if loose is None:
            if not fixed:
                raise _Broken(f"ISA segment truncated: the interchange has {len(window)} "
                              f"characters, an ISA alone is exactly {ISA_LENGTH} including its "
                              f"terminator")
            raise _Broken(f"ISA character {misplaced + 1} is {isa[misplaced]!r}, expected the "
                          f"element separator {sep!r}: the ISA is not fixed width "
                          f"(106 characters) or its delimiters are wrong")
        component, terminator = loose
        fixed = False
    delimiters = {"element separator": sep, "component separator (ISA16)": component,
                  "segment terminator": terminator}
    if len(set(delimiters.values())) < 3 or component.isalnum() or terminator.isalnum():
        shown = ", ".join(f"{k} {v!r}" for k, v in delimiters.items())
        raise _Broken(f"ISA delimiters are unusable ({shown}): they must be distinct "
                      f"non-alphanumeric characters")
    return sep, terminator, fixed


def _next_isa(text: str, terminator: str) -> int:
    """Where the next ISA that follows a segment terminator begins in ``text``, or -1.
    Interchanges written one after the other on one line (a mailbox download, files joined
    by cat) may each choose other delimiters, so each is read with those of its own ISA."""
    blank = " \t" if terminator == "\n" else " \t\r\n"
    for m in START.finditer(text, 1):
        end = m.start()
        while end and text[end - 1] in blank:
            end -= 1
        if end and (text[end - 1] == terminator or terminator == "\n" and text[end - 1] == "\r"):
            return m.start()
    return -1


def _unwrapped(text: str, newline_terminated: bool) -> str:
    """The text with the line breaks that are not data dropped; when the terminator is a line
    break, every CR, LF or CRLF becomes one LF."""
    if newline_terminated:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\r", "").replace("\n", "")


def _unpadded_isa(text: str, sep: str) -> tuple[str, str] | None:
    """(component separator, segment terminator) of an ISA whose elements are not padded
    to their fixed widths, as some senders write it and X12 libraries accept it: ISA16 is the
    character after the sixteenth element separator and the terminator the one after that.
    None unless the ISA then reads as sixteen elements with a numeric ISA13."""
    if not sep:
        return None
    pos = -1
    for _ in range(16):
        pos = text.find(sep, pos + 1)
        if pos < 0 or pos > 4 * ISA_LENGTH:
            return None
    if len(text) < pos + 3:
        return None
    component, terminator = text[pos + 1], text[pos + 2]
    if component.isalnum() or terminator.isalnum():
        return None
    newline = terminator in "\r\n"
    body = _unwrapped(text, newline)
    terminator = "\n" if newline else terminator
    elements = body[:body.find(terminator)].split(sep)
    if len(elements) != 17 or not elements[13].strip().isdigit():
        return None
    return component, terminator


def _el(seg: list[str], index: int) -> str:
    return seg[index].strip() if len(seg) > index else ""


# --- the walk -----------------------------------------------------------------------------

def parse(record: Record, ctx: ParseContext) -> list[Event]:
    text = record.text.lstrip("\ufeff \t\r\n")
    events: list[Event] = []
    part = record.part
    # A part after the first resumes the interchange the one before it ended in (``cut_part``
    # gave it the ISA and GS), a part before the last leaves it open: both by ``part.state``.
    resume = part.state if part is not None and part.number > 1 else None
    while True:
        try:
            segments, sep, fixed, text = _segments(text)
        except _Broken as exc:
            if not text.startswith("ISA"):
                raise ParseError("not an X12 interchange (expected it to start with ISA)",
                                 field="ISA") from None
            ev = Event(timestamp_ms=ctx.now_ms, timestamp_estimated=True, dataset=DATASET,
                       platform="edi", message="X12 interchange unreadable")
            return [*events, mark_invalid(ev, str(exc), ENVELOPE_ERROR)]
        found: list[Event] = []
        pos = 0
        while pos < len(segments):
            pos = _interchange(segments, pos, sep, ctx, found, followed=bool(text),
                               resume=resume,
                               more=part.state if part is not None and not part.last else None)
            resume = None
        if not fixed:  # read anyway, and said: the partner's translator should be told
            for ev in found:
                set_label(ev, "x12_isa_not_fixed_width", "true")
        events += found
        if not text:
            return events


def _new_event(ic: _Interchange, ts: int | None = None) -> Event:
    ev = Event(timestamp_ms=ts if ts is not None else ic.timestamp_ms,
               timestamp_estimated=ic.estimated and ts is None, dataset=DATASET,
               platform="edi", partner=partner(ic.parties, ic.way))
    ev.labels.update(ic.labels)
    return ev


def _envelope_failure(ic: _Interchange, reason: str, group: _Group | None = None) -> Event:
    ev = _new_event(ic, group.timestamp_ms if group else None)
    ev.add_id("x12.isa", f"{ic.parties.pair}:{ic.control}")
    if group is not None:
        ev.add_id("x12.gs", f"{ic.parties.pair}:{group.control}")
        set_label(ev, "x12_gs06", group.control)
    return mark_invalid(ev, reason, ENVELOPE_ERROR)


def _interchange(segs: list[list[str]], pos: int, sep: str, ctx: ParseContext,
                 out: list[Event], *, followed: bool = False, resume: dict | None = None,
                 more: dict | None = None) -> int:
    """Reads the interchange at ``pos``; ``followed``: another ISA comes after ``segs``.
    ``resume``: what the part before this one left of it (``_leave``); ``more``: where to
    leave it when the record, a part (``collector.event.Part``), ends inside it."""
    isa = segs[pos]
    if isa[0] != "ISA":
        # Text after an IEA that does not open a new interchange: skip to the next ISA.
        end = next((i for i in range(pos + 1, len(segs)) if segs[i][0] == "ISA"), len(segs))
        ev = Event(timestamp_ms=ctx.now_ms, timestamp_estimated=True, dataset=DATASET,
                   platform="edi")
        out.append(mark_invalid(ev, f"segment {pos + 1} is {isa[0]!r} outside any interchange "
                                    f"(expected ISA); {end - pos} segments skipped",
                                ENVELOPE_ERROR))
        return end
    if len(isa) != 17:
        ev = Event(timestamp_ms=ctx.now_ms, timestamp_estimated=True, dataset=DATASET,
                   platform="edi")
        out.append(mark_invalid(ev, f"ISA has {len(isa) - 1} elements, expected 16",
                                ENVELOPE_ERROR))
        return len(segs)
    ic = _read_isa(isa, sep, ctx)
    sets = None  # the sets of its open group the parts before this one read
    if resume is not None:
        ic.groups, ic.st02s, ic.way, sets = (resume["groups"], resume["st02s"], resume["way"],
                                             resume["sets"])
    pos += 1
    while pos < len(segs):
        tag = segs[pos][0]
        if tag == "GS":
            pos = _group(segs, pos, ic, ctx, out, sets=sets,
                         more=more if not followed else None)
            sets = None
            if pos >= len(segs) and more is not None and not followed:
                return _leave(ic, more, pos)
            ic.groups += 1
        elif tag == "TA1":
            if ic.groups == 0:  # an acknowledgement, whichever groups follow
                ic.way = direction(ic.parties, ctx, is_ack=True)
            out.append(_ta1(segs[pos], ic))
            pos += 1
        elif tag == "IEA":
            _check_iea(segs[pos], ic, out)
            return pos + 1
        elif tag == "ISA":
            break
        else:
            reason, pos = _stray(segs, pos, ic, ("GS", "TA1", "IEA", "ISA"))
            out.append(_envelope_failure(ic, reason))
    if more is not None and not followed:
        return _leave(ic, more, pos)
    out.append(_envelope_failure(ic, f"interchange ISA13 {ic.control} has no IEA trailer "
                                     f"(the record ends after segment {pos})"
                                 if pos >= len(segs) and not followed else
                                 f"interchange ISA13 {ic.control} has no IEA trailer (a new "
                                 f"ISA starts at segment {pos + 1})"))
    return pos


def _leave(ic: _Interchange, more: dict, pos: int) -> int:
    """A part ends inside ``ic``: what the next part needs of it (its open group's set
    count ``_group`` left in ``more``, or None between groups)."""
    more.setdefault("sets", None)
    more.update(groups=ic.groups, st02s=ic.st02s, way=ic.way)
    return pos


def _read_isa(isa: list[str], isa_separator: str, ctx: ParseContext) -> _Interchange:
    parties = Parties(sender=isa[6].strip(), receiver=isa[8].strip())
    ts = edi_time(isa[9], isa[10], ctx)
    labels = {"x12_isa13": isa[13].strip(), "x12_sender_qualifier": isa[5].strip(),
              "x12_sender_id": parties.sender, "x12_receiver_qualifier": isa[7].strip(),
              "x12_receiver_id": parties.receiver, "x12_version": isa[12].strip(),
              "x12_usage": isa[15].strip()}
    return _Interchange(parties=parties, control=_control(isa[13], _ISA13),
                        timestamp_ms=ts if ts is not None else ctx.now_ms,
                        estimated=ts is None, labels=labels, separator=isa_separator)


def _control(value: str, width: int) -> str:
    """A control number in the one form IDs, labels and trailer checks use. X12 control
    numbers are numbers, and writers disagree on leading zeros: an 850's GS06 1001 and ST02
    0001 come back in a 997 as AK102 000001001 and AK202 1, an IEA02 or TA101 drops the zeros
    of its ISA13, and the acknowledgement must still find the document. So a numeric value
    loses its leading zeros and is padded to ``width``, the width it is usually written at,
    which keeps the IDs of conventionally written numbers as they were. Anything else (ST02
    may hold letters) is kept as written."""
    value = value.strip()
    return value.lstrip("0").zfill(width) if value.isdigit() else value


def _check_iea(iea: list[str], ic: _Interchange, out: list[Event]) -> None:
    control, count = _control(_el(iea, 2), _ISA13), _el(iea, 1)
    if control != ic.control:
        out.append(_envelope_failure(ic, f"IEA02 {control!r} does not match ISA13 "
                                         f"{ic.control!r}"))
    elif count != str(ic.groups) and count.lstrip("0") != str(ic.groups):
        out.append(_envelope_failure(ic, f"IEA01 says {count or 'nothing'} functional groups, "
                                         f"interchange ISA13 {ic.control} has {ic.groups}"))


def _group(segs: list[list[str]], pos: int, ic: _Interchange, ctx: ParseContext,
           out: list[Event], *, sets: int | None = None, more: dict | None = None) -> int:
    """Reads the group at ``pos``; ``sets``: how many of its sets the parts before this one
    read (its GS repeated as this part's header); ``more``: as for ``_interchange``."""
    gs = segs[pos]
    group = _Group(functional_id=_el(gs, 1), control=_control(_el(gs, 6), _GS06),
                   version=_el(gs, 8),
                   timestamp_ms=edi_time(_el(gs, 4), _el(gs, 5), ctx), sets=sets or 0)
    if more is not None:
        more["sets"] = None
    if sets is None and ic.groups == 0:
        ic.way = direction(ic.parties, ctx, is_ack=group.functional_id == "FA")
    pos += 1
    while pos < len(segs):
        tag = segs[pos][0]
        if tag == "ST":
            pos = _transaction_set(segs, pos, ic, group, out)
            group.sets += 1
        elif tag == "GE":
            _check_ge(segs[pos], ic, group, out)
            return pos + 1
        elif tag in ("GS", "IEA", "ISA"):
            break
        else:
            reason, pos = _stray(segs, pos, ic, ("ST", "GE", "GS", "IEA", "ISA"))
            out.append(_envelope_failure(ic, reason, group))
    if more is not None and pos >= len(segs):  # the part ends inside the group
        more["sets"] = group.sets
        return pos
    out.append(_envelope_failure(ic, f"functional group GS06 {group.control} has no GE "
                                     f"trailer (found {_found(segs, pos)})", group))
    return pos


def _stray(segs: list[list[str]], pos: int, ic: _Interchange,
           expected: tuple[str, ...]) -> tuple[str, int]:
    """One reason for a run of segments that belong nowhere, and where the run ends."""
    end = pos + 1
    while end < len(segs) and segs[end][0] not in expected:
        end += 1
    tag = segs[pos][0]
    if len(tag) > 3 or not tag.isalnum():
        reason = (f"segment {pos + 1} starts {tag[:24]!r}, not a segment ID: its elements are "
                  f"not separated by the ISA element separator {ic.separator!r} "
                  f"(wrong delimiters?)")
    else:
        reason = f"unexpected {tag} at segment {pos + 1} (expected {' or '.join(expected[:-1])})"
    if end - pos > 1:
        reason += f"; segments {pos + 2}-{end} skipped with it"
    return reason, end


def _found(segs: list[list[str]], pos: int) -> str:
    return f"{segs[pos][0]} at segment {pos + 1}" if pos < len(segs) else "the end of the record"


def _check_ge(ge: list[str], ic: _Interchange, group: _Group, out: list[Event]) -> None:
    control, count = _control(_el(ge, 2), _GS06), _el(ge, 1)
    if control != group.control:
        out.append(_envelope_failure(ic, f"GE02 {control!r} does not match GS06 "
                                         f"{group.control!r}", group))
    elif count.lstrip("0") != str(group.sets).lstrip("0"):
        out.append(_envelope_failure(ic, f"GE01 says {count or 'nothing'} transaction sets, "
                                         f"group GS06 {group.control} has {group.sets}", group))


def _transaction_set(segs: list[list[str]], pos: int, ic: _Interchange, group: _Group,
                     out: list[Event]) -> int:
    st = segs[pos]
    set_id, control = _el(st, 1), _control(_el(st, 2), _ST02)
    start = pos
    pos += 1
    while pos < len(segs) and segs[pos][0] not in ("SE", "ST", "GE", "GS", "IEA", "ISA"):
        pos += 1
    body = segs[start + 1:pos]
    problem = None
    if pos < len(segs) and segs[pos][0] == "SE":
        se = segs[pos]
        count = pos - start + 1
        if _control(_el(se, 2), _ST02) != control:
            problem = f"SE02 {_el(se, 2)!r} does not match ST02 {control!r}"
        elif _el(se, 1) != str(count) and _el(se, 1).lstrip("0") != str(count):
            problem = (f"SE01 says {_el(se, 1) or 'nothing'} segments, transaction set has "
                       f"{count} (counting ST and SE)")
        pos += 1
    else:
        problem = f"transaction set has no SE trailer (found {_found(segs, pos)})"
    if set_id in _ACK_SETS and problem is None:
        out.extend(_acknowledgement(set_id, control, body, ic, group))
        return pos
    seen, first_group, first = ic.st02s.get((group.control, control),
                                            (0, ic.groups, group.sets + 1))
    occurrence = seen + 1
    ic.st02s[(group.control, control)] = (occurrence, first_group, first)
    if occurrence > 1:
        # A sender that hard-codes ST02 (every 850 0001) names two documents alike: the
        # repeat gets an x12.st ID of its own (``#<n>``), which the 997 rejecting it with
        # AK502 23 names (``answered_occurrence``). A translator rejects it.
        repeat = (f"ST02 {control} repeats in GS06 {group.control} (set {first} of "
                  f"{'the' if first_group == ic.groups else 'an earlier'} group GS06 "
                  f"{group.control} has it): control numbers are unique within a group "
                  f"(AK502 23); occurrence {occurrence}, its x12.st ID ends #{occurrence}")
        problem = f"{problem}; {repeat}" if problem else repeat
    ev = _document(set_id, control, body, ic, group, occurrence=occurrence)
    if problem:
        mark_invalid(ev, f"{problem} ({set_id} ST02 {control} in GS06 {group.control})",
                     ENVELOPE_ERROR)
    out.append(ev)
    return pos


def _document(set_id: str, control: str, body: list[list[str]], ic: _Interchange,
              group: _Group, *, occurrence: int = 1) -> Event:
    """The event of a transaction set; ``occurrence``: how many sets of the interchange up to
    this one have its GS06 and ST02 (``occurrence_id``)."""
    ev = _new_event(ic, group.timestamp_ms)
    pair = ic.parties.pair
    ev.action = DIRECTION_ACTION[ic.way]
    ev.outcome = "success"
    ev.add_id("x12.st", occurrence_id(f"{pair}:{group.control}:{control}", occurrence))
    ev.message_id = ev.ids[0]
    ev.add_id("x12.gs", f"{pair}:{group.control}")
    ev.add_id("x12.isa", f"{pair}:{ic.control}")
    keys = _BUSINESS_KEYS.get(set_id)
    if keys:
        _business_keys(ev, body, keys)
    name = _SET_NAMES.get(set_id, "transaction set")
    ev.message = (f"X12 {set_id} {name} ST02 {control} {ev.action} "
                  f"{'from' if ic.way == 'inbound' else 'to'} {ev.partner} "
                  f"(GS06 {group.control}, ISA13 {ic.control})")
    _group_labels(ev, set_id, control, group)
    return ev


def _business_keys(ev: Event, body: list[list[str]],
                   keys: tuple[tuple[str, int, str], ...]) -> None:
    """The set's business keys, from segments it holds once. A segment that repeats (the
    CLM of each claim in an 837 batch, the PRF of each order in a multi-order 856) names
    several documents, and linking them all would merge their traces into one."""
    wanted = {tag for tag, _i, _k in keys}
    found: dict[str, list[str] | None] = {}
    for seg in body:
        tag = seg[0]
        if tag in wanted:
            found[tag] = None if tag in found else seg
    for tag, index, kind in keys:
        seg = found.get(tag)
        value = _el(seg, index) if seg is not None else ""
        if value and kind in _PARTNER_SCOPED:
            value = f"{ev.partner}:{value}"
        ev.add_id(kind, value)


def _group_labels(ev: Event, set_id: str, control: str, group: _Group) -> None:
    set_label(ev, "x12_transaction_set", set_id)
    set_label(ev, "x12_st02", control)
    set_label(ev, "x12_functional_id", group.functional_id)
    set_label(ev, "x12_gs06", group.control)
    set_label(ev, "x12_gs_version", group.version)


# --- acknowledgements ---------------------------------------------------------------------

def _codes(seg: list[str], first: int, last: int, table: dict[str, str]) -> list[str]:
    return [f"{c} ({table.get(c, 'code not known to midwatch')})"
            for c in (_el(seg, i) for i in range(first, last + 1)) if c]


def _segment_error(seg: list[str]) -> str:
    loop = f" in loop {_el(seg, 3)}" if _el(seg, 3) else ""
    code = _el(seg, 4)
    return (f"segment {_el(seg, 1)} at position {_el(seg, 2)}{loop}: "
            f"{_SEGMENT_ERRORS.get(code, 'code ' + code) if code else 'error'}")


def _element_error(seg: list[str]) -> str:
    code = _el(seg, 3)
    bad = f" (bad value {_el(seg, 4)!r})" if _el(seg, 4) else ""
    return (f"element {_el(seg, 1)}: {_ELEMENT_ERRORS.get(code, 'code ' + code)}{bad}")


def _ack_event(status: str, ic: _Interchange, ack: _Group, ack_type: str, ack_control: str,
               ) -> Event:
    ev = _new_event(ic, ack.timestamp_ms)
    ev.action, ev.outcome, ev.level = _ACK_STATUS.get(status, ("acknowledged", "unknown", "warn"))
    if ev.outcome == "failure":
        ev.error_class = "validation"
    set_label(ev, "x12_ack_type", ack_type)
    set_label(ev, "x12_ack_st02", ack_control)
    set_label(ev, "x12_ack_gs06", ack.control)
    set_label(ev, "x12_ack_status", status)
    return ev


def _acknowledgement(ack_type: str, ack_control: str, body: list[list[str]], ic: _Interchange,
                     ack: _Group) -> list[Event]:
    """997/999: events for each answered set (AK2..AK5) and for the group (AK9)."""
    original = ic.parties.reversed_pair
    events: list[Event] = []
    functional_id = original_gs = ""
    current: tuple[str, str] | None = None
    details: list[str] = []
    answered: list[str] = []  # x12.st IDs of the sets answered one by one (AK2..AK5)
    seen: dict[str, int] = {}  # ST02 -> the occurrence its last AK2 loop answered
    for seg in body:
        tag = seg[0]
        if tag == "AK1":
            functional_id, original_gs = _el(seg, 1), _control(_el(seg, 2), _GS06)
            seen = {}
        elif tag == "AK2":
            current, details = (_el(seg, 1), _control(_el(seg, 2), _ST02)), []
        elif tag in ("AK3", "IK3"):
            details.append(_segment_error(seg))
        elif tag in ("AK4", "IK4"):
            details.append(_element_error(seg))
        elif tag in ("AK5", "IK5") and current is not None:
            set_id, original_st = current
            ev = _ack_event(_el(seg, 1), ic, ack, ack_type, ack_control)
            duplicate = any(_el(seg, i) == _NOT_UNIQUE for i in range(2, 7))
            occurrence = answered_occurrence(seen, original_st, duplicate)
            ev.add_id("x12.st", occurrence_id(f"{original}:{original_gs}:{original_st}",
                                              occurrence))
            answered.append(ev.ids[-1])
            ev.add_id("x12.gs", f"{original}:{original_gs}")
            _ack_errors(ev, _codes(seg, 2, 6, _SET_ERRORS), details)
            ev.message = (f"X12 {ack_type} from {ic.parties.sender}: {set_id} ST02 "
                          f"{original_st} (GS06 {original_gs}) "
                          f"{_STATUS_WORDS.get(_el(seg, 1), 'status ' + _el(seg, 1))}")
            _group_labels(ev, set_id, original_st, _Group(functional_id, original_gs, "", None))
            events.append(ev)
            current, details = None, []
        elif tag == "AK9":
            ev = _ack_event(_el(seg, 1), ic, ack, ack_type, ack_control)
            ev.add_id("x12.gs", f"{original}:{original_gs}")
            _ack_errors(ev, _codes(seg, 5, 9, _GROUP_ERRORS), [])
            ev.message = (f"X12 {ack_type} from {ic.parties.sender}: group {functional_id} "
                          f"GS06 {original_gs} {_STATUS_WORDS.get(_el(seg, 1), 'status ' + _el(seg, 1))}"
                          f" ({_el(seg, 4) or '?'} of {_el(seg, 3) or '?'} received sets accepted,"
                          f" {_el(seg, 2) or '?'} included)")
            set_label(ev, "x12_functional_id", functional_id)
            set_label(ev, "x12_gs06", original_gs)
            events.append(ev)
            if not answered:
                # No AK2 loops: the AK9 answers every set of the group at once, and the
                # correlator applies it to each trace holding this x12.gs ID.
                scope_ack(ev, "group", [])
                ev.message += "; no AK2 loops: applies to every set of the group"
            elif (rest := _rest_of_group(seg, answered, ev, ic.parties.sender)) is not None:
                events.append(rest)
    if not events:
        ev = _document(ack_type, ack_control, body, ic, ack)
        return [mark_invalid(ev, f"{ack_type} ST02 {ack_control} has no AK5/IK5 or AK9 "
                                 f"segment: nothing is acknowledged", ENVELOPE_ERROR)]
    for ev in events:
        ev.message_id = ev.ids[0]
    return events


def _rest_of_group(ak9: list[str], answered: list[str], group: Event, sender: str,
                   ) -> Event | None:
    """The sets of the group this 997/999 does not answer one by one, answered by its AK9:
    accepted unless the group was rejected (P, partially accepted, means the sets it lists
    as rejected were; the others were not). None when the AK2 loops cover the whole group.

    Many partners list only the sets in error; without this their other sets would wait for
    an answer that has already come."""
    included = _el(ak9, 2)
    if included.isdigit() and len(answered) >= int(included):
        return None
    status = _el(ak9, 1)
    effective = "A" if status in ("A", "E", "P") else status
    rest = replace(group, labels=dict(group.labels), ids=list(group.ids))
    rest.action, rest.outcome, rest.level = _ACK_STATUS.get(
        effective, ("acknowledged", "unknown", "warn"))
    if rest.outcome == "success":  # the group's errors are about the sets it lists
        rest.error_type = rest.error_code = rest.error_message = rest.error_class = None
    set_label(rest, "x12_ack_status", effective)
    if not scope_ack(rest, "group", answered):
        group.message += (f"; {len(answered)} sets answered one by one, too many to list: "
                          f"the others of the group are not settled by this AK9")
        return None
    labels = group.labels
    rest.message = (f"X12 {labels['x12_ack_type']} from {sender}: the sets of group "
                    f"{labels.get('x12_functional_id', '?')} GS06 {labels.get('x12_gs06', '?')} "
                    f"not answered one by one {_STATUS_WORDS.get(effective, effective)} "
                    f"(AK9 {status}, {len(answered)} answered one by one)")
    return rest


def _ack_errors(ev: Event, codes: list[str], details: list[str]) -> None:
    if not codes and not details:
        return
    ev.error_type = f"x12.{ev.labels['x12_ack_type']}"
    ev.error_code = ",".join(c.split(" ", 1)[0] for c in codes) or None
    ev.error_message = "; ".join(codes + details)


def _ta1(seg: list[str], ic: _Interchange) -> Event:
    status, note = _el(seg, 4), _el(seg, 5)
    ev = _new_event(ic)
    ev.action, ev.outcome, ev.level = _ACK_STATUS.get(status, ("acknowledged", "unknown", "warn"))
    original = _control(_el(seg, 1), _ISA13)
    ev.add_id("x12.isa", f"{ic.parties.reversed_pair}:{original}")
    ev.message = (f"X12 TA1 from {ic.parties.sender}: interchange ISA13 {original} "
                  f"{_STATUS_WORDS.get(status, 'status ' + status)}")
    set_label(ev, "x12_ack_type", "TA1")
    set_label(ev, "x12_ack_status", status)
    if note and note != "000":
        ev.error_type = "x12.TA1"
        ev.error_code = note
        ev.error_message = f"TA105 {note}: {_TA1_NOTES.get(note, 'code not known to midwatch')}"
        if ev.outcome == "failure":
            ev.error_class = "validation"
    if ev.action == "rejected":
        # The interchange was refused whole: every set in it is rejected, and no 997 will
        # come. Without the scope its x12.isa (a label) reached no trace, which stayed in
        # flight. An accepted TA1 answers the envelope only: the 997 still settles the sets.
        scope_ack(ev, "interchange", [])
    ev.message_id = ev.ids[0]
    return ev
