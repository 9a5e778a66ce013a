"""The parse core: lines or records in, normalized events and dead letters out.

Used by ``midwatch parse`` and by the collector pipeline alike, so both see the same events.
Two ways in:

- ``SourceParser`` for line sources (files, stdin): frames lines into records with each
  parser's ``START`` pattern (stack traces and XML bodies span lines), takes a JSON value
  pretty-printed over several lines as one line where lines are records (``START`` None) or
  the format is not known yet, detects the format per source and per line for mixed sources
  (``--format auto``).
- ``parse_record`` for sources that already hand over whole records (Kafka values, OTLP
  bodies).

Nothing escapes and nothing is dropped silently: every failure becomes a ``DeadLetter`` whose
``reason`` starts with one of ``REASONS`` (a fixed set, so the counters stay bounded) followed
by a human explanation. Limits and their outcome:

- a line longer than ``MAX_LINE_CHARS`` (1 MiB) is dead-lettered as ``line_too_long`` (its
  head kept); readers stop buffering at the limit, so a 1 GB line costs 1 MiB; an EDI
  interchange is the exception: the reader hands it over in pieces of whole segments
  (``SourceParser.segments``) and a record of a parser with ``cut_part`` reaching the caps
  goes to it in parts (``Framer``, ``collector.event.Part``);
- a record keeps at most ``MAX_RECORD_LINES`` lines / ``MAX_RECORD_CHARS``; continuation
  lines beyond that are dead-lettered once as ``record_too_large`` (head kept) and the
  record itself is parsed as usual, because the first 2000 lines of a stack trace say it all
  (a parser whose every line is data, EDI one segment a line, sets its own
  ``MAX_RECORD_LINES``);
- invalid UTF-8 is decoded with U+FFFD replacements and parsed anyway (one bad byte must not
  cost the event); such records are counted in ``ParseStats.replaced_utf8``. Binary garbage
  then fails its parser and is dead-lettered like any unreadable record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from itertools import compress
from types import ModuleType
from typing import BinaryIO, Protocol

import orjson

from collector import detect_prefilter, envelopes, native, parsers
from collector.event import DeadLetter, Event, Part, Record, event_id
from collector.linesplit import Ends, Line, LineSplitter, Segments
from collector.normalize import normalize, redact_text
from collector.parsers._base import ParseContext, ParseError

MAX_LINE_CHARS = 1024 * 1024
# One read of a stream (read_lines).
READ_BYTES = 64 * 1024
MAX_RECORD_CHARS = 1024 * 1024
MAX_RECORD_LINES = 2000
# What a line holding nothing else is blank of: whitespace and the NUL bytes of block
# padding (not ``str.strip()``, which takes the information separators 0x1C-0x1F too).
BLANK = " \t\r\n\x0b\x0c\x00"
# How much of a line's end, padding left out, a parser's ``WHOLE`` is asked about (the
# trailer and its control reference), as ``LineSplitter.unterminated_tail`` gives it for a
# quiet line.
WHOLE_TAIL_CHARS = 4096
# Record heads remembered per source to recognize a cut-off last line (``_cut_off``): the
# first this many records, this many characters of each.
START_SHAPES = 32
START_SHAPE_CHARS = 48
# Undetected lines held while auto-detection waits for a line it recognizes.
MAX_PENDING_LINES = 64
# First characters whose candidate parsers a source remembers (SourceParser._detect).
MAX_FIRST_CHARACTERS = 256
# The first and last character of a line that opens a JSON value pretty-printed over several
# lines: "{" or "[" alone, or "[ {" (Jackson's array of objects). A line at the margin that
# starts with a closer ends the value, unless it ends with an opener ("}, {": Jackson's next
# array element). Lines inside are indented or empty.
_OPENERS = ("{", "[")
_CLOSERS = ("}", "]")
_INSIDE = ("", " ", "\t")

REASONS = (
    "no_parser",         # auto-detection: no parser recognizes the record
    "parse_error",       # the parser raised ParseError (the record is not what it expected)
    "parser_crash",      # the parser (or normalization) raised anything else: a midwatch bug
    "line_too_long",     # one line over MAX_LINE_CHARS
    "record_too_large",  # continuation lines beyond the record caps
)

Output = list[Event | DeadLetter]


@dataclass(slots=True)
class ParseStats:
    records: int = 0
    events: int = 0
    # Records a parser read but which carry no event on purpose (CSV headers, XML prologs).
    empty_records: int = 0
    replaced_utf8: int = 0
    deadletters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))


def _raw(text: str) -> str:
    return text[: DeadLetter.MAX_RAW]


def _masked(raw: str, ctx: ParseContext) -> str:
    """Dead letters keep their raw text for diagnosis and are stored: card numbers and emails
    in it are masked as in events, or they would reach the store through the back door."""
    return _raw(redact_text(raw, ctx.redact_cards, ctx.redact_emails, ctx.redact_key))


def dead_letter_raw(value: object, ctx: ParseContext) -> str:
    """What a dead letter keeps of something no parser turned into a record's text (a Kafka
    value, an OTLP request or event): text as it is, bytes decoded (bad UTF-8 replaced),
    anything else as its JSON (its repr where JSON cannot hold it); masked, then bounded.

    Masked before it is cut, or a card number cut at the bound would escape its mask; only
    twice the bound is masked, so a huge value costs no more than a dead letter keeps.
    """
    if isinstance(value, bytes):
        text = value[: 2 * DeadLetter.MAX_RAW].decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value).decode()
        except (orjson.JSONEncodeError, TypeError):
            text = repr(value)
    return _masked(text[: 2 * DeadLetter.MAX_RAW], ctx)


def _dead(kind: str, detail: str, record: Record, ctx: ParseContext, stats: ParseStats,
          field_name: str | None = None, cut: bool = False) -> DeadLetter:
    """``cut``: the record is already only the head of what was read."""
    stats.deadletters[kind] += 1
    return DeadLetter(
        reason=f"{kind}: {detail}", source=record.source, line=record.line,
        raw=_masked(record.text, ctx), field=field_name,
        ingested_ms=record.ingested_ms or ctx.now_ms,
        truncated=cut or len(record.text) > DeadLetter.MAX_RAW,
    )


def _kept(record: Record, module: ModuleType) -> Record:
    """The record as it may be stored (``event.original``, a dead letter's raw): a format's
    credentials masked by its ``HIDE`` hook (an X12 interchange's ISA02/ISA04 password)."""
    hide = getattr(module, "HIDE", None)
    if hide is None:
        return record
    text = hide(record.text)
    return record if text is record.text else replace(record, text=text)


def run_parser(record: Record, module: ModuleType, ctx: ParseContext,
               stats: ParseStats) -> Output:
    """Parse one framed record with one parser, normalize, assign IDs; never raises."""
    stats.records += 1
    if "\ufffd" in record.text:
        stats.replaced_utf8 += 1
    name = module.NAME
    out: Output = []
    try:
        events = module.parse(record, ctx)
    except ParseError as exc:
        out.append(_dead("parse_error", f"{name}: {exc.reason}", _kept(record, module), ctx,
                         stats, exc.field))
        events = exc.events  # the readable entries of a record that is partly unreadable
    except Exception as exc:  # noqa: BLE001 - a parser bug must cost one record, not the run
        return [_dead("parser_crash", f"{name}: {type(exc).__name__}: {exc}"[:500],
                      _kept(record, module), ctx, stats)]
    if not events and not out:
        stats.empty_records += 1
        return []
    whole = len(events) == 1
    for index, ev in enumerate(events):
        try:
            if not ev.id:
                ev.id = event_id(record.source, record.position, index)
            if whole and ev.original is None:
                ev.original = _kept(record, module).text
            if not ev.ingested_ms:
                ev.ingested_ms = record.ingested_ms
            out.append(normalize(ev, ctx))
            stats.events += 1
        except Exception as exc:  # noqa: BLE001 - same contract as the parser call
            out.append(_dead("parser_crash", f"normalize: {type(exc).__name__}: {exc}"[:500],
                             record, ctx, stats))
    return out


def available_parsers() -> list[ModuleType]:
    """Parser modules in detection order; formats whose module is not written yet are left out."""
    found = []
    for name in parsers.DETECT_ORDER:
        try:
            found.append(parsers.PARSERS.get(name))
        except ModuleNotFoundError as exc:
            if exc.name != parsers.PARSERS.paths()[name]:
                raise
    return found


def first_class(line: str) -> str:
    """A line's first character as parsers' ``DETECT_FIRST`` name it: any digit is "0" and
    any blank " " (detection tests them by class: ``\\d``, ``isdigit``, ``\\s``, ``strip``)."""
    first = line[:1]
    if first.isdigit():
        return "0"
    return " " if first.isspace() else first


@lru_cache(maxsize=512)
def _askable(first: str, candidates: tuple[ModuleType, ...]) -> tuple[ModuleType, ...]:
    """The candidates, in order, that may claim a line starting with ``first`` (a parser
    without ``DETECT_FIRST`` may claim any). The others' ``detect`` would say no."""
    return tuple(m for m in candidates
                 if (chars := getattr(m, "DETECT_FIRST", None)) is None or first in chars)


class Needles(Protocol):
    """The native finder of the prefilter's needles (``collector.native.needles``)."""

    def held(self, texts: list[str]) -> list[bool]: ...
    def holds(self, text: str) -> bool: ...


def _prefilter(first: str, askable: tuple[ModuleType, ...]) -> tuple[tuple[ModuleType, ...],
                                                                      Needles | None]:
    """(the parsers of ``askable`` a line starting with ``first`` (``first_class``) that holds
    none of the needles is asked of, the native finder of the needles); ``askable`` and None
    where there are no needles or the fast path is off (``collector.detect_prefilter``)."""
    plan = detect_prefilter.plan(first, askable)
    needles = native.needles(plan.needles) if plan.needles else None
    return (plan.bare, needles) if needles is not None else (askable, None)


def detect(line: str, candidates: Sequence[ModuleType]) -> ModuleType | None:
    """The first candidate that claims the line."""
    return _first_claim(line, _askable(first_class(line), tuple(candidates)))


@cache
def _detect_order() -> tuple[ModuleType, ...]:
    """``available_parsers`` once: each call imports nothing new after the first, but walks
    the registry (~3 us, per record of a source without a parser of its own)."""
    return tuple(available_parsers())


def detect_any(line: str) -> ModuleType | None:
    """``detect`` over every parser, the prefilter's way (``_claim``)."""
    first = first_class(line)
    askable = _askable(first, _detect_order())
    return _claim(line, askable, *_prefilter(first, askable))


def _claim(line: str, askable: tuple[ModuleType, ...], bare: tuple[ModuleType, ...],
           needles: Needles | None) -> ModuleType | None:
    """The first claim of the line over ``askable``; only ``bare`` are asked of a line that
    holds none of the ``needles`` (``_prefilter``)."""
    if needles is not None and not needles.holds(line):
        return _first_claim(line, bare)
    return _first_claim(line, askable)


def _first_claim(line: str, askable: tuple[ModuleType, ...]) -> ModuleType | None:
    """Asked of nearly every line of a start-less format in auto mode, hence one loop without
    a helper call per candidate, over only the parsers that may claim a line with its first
    character (``_askable``: half of them, for a JSON line)."""
    for module in askable:
        try:
            if module.detect(line):
                return module
        except Exception:  # noqa: BLE001 - detect must never raise; a bug means "not mine"
            continue
    return None


def _claims_of(texts: list[str], candidates: tuple[ModuleType, ...],
               found: dict[str, ModuleType]) -> None:
    """The first claim of each of these texts (of one first character) over ``candidates``,
    into ``found`` (a text none claims left out): each parser's ``detect`` mapped over all
    the texts still unclaimed."""
    for candidate in candidates if texts else ():
        try:
            claims = list(map(candidate.detect, texts))
        except Exception:  # noqa: BLE001 - a detect that raises: asked line by line
            found.update((text, claim) for text in texts
                         if (claim := _first_claim(text, candidates)) is not None)
            return
        if any(claims):
            found.update((text, candidate) for text, claimed
                         in zip(texts, claims, strict=True) if claimed)
            texts = [text for text, claimed in zip(texts, claims, strict=True) if not claimed]
            if not texts:
                return


def parse_record(record: Record, fmt: str, ctx: ParseContext,
                 stats: ParseStats | None = None) -> Output:
    """A whole record (Kafka value, OTLP body) with a named format or ``auto``."""
    stats = stats if stats is not None else ParseStats()
    if fmt != "auto":
        return run_parser(record, parsers.PARSERS.get(fmt), ctx, stats)
    first = next((ln for ln in record.text.split("\n", 20)[:20] if ln.strip()), "")
    module = detect_any(first)
    if module is None:
        stats.records += 1
        return [_dead("no_parser", "no parser recognizes this record", record, ctx, stats)]
    return run_parser(record, module, ctx, stats)


class Framer:
    """Joins lines into records: a line matching ``start`` opens one, others continue it,
    and one whose end ``ends`` finds closes it (the parser's ``WHOLE``: an EDI interchange
    ends at its trailer)."""

    def __init__(self, start: re.Pattern | None, source: str, *, position_prefix: str = "",
                 ingested_ms: int = 0,
                 continues: Callable[[list[str], str], bool] | None = None,
                 max_lines: int = MAX_RECORD_LINES, ends: re.Pattern | None = None,
                 cut: Callable[[str], tuple[str, str] | None] | None = None,
                 breaks: Callable[[list[str], str], bool] | None = None):
        self.start = start
        self.continues = continues
        self.breaks = breaks
        self.ends = ends
        # The parser's ``cut_part``: a record reaching the caps is handed over in parts its
        # parser reads one at a time (``Part``), each ending after a document's trailer.
        self.cut = cut
        self._parts: list[Record] = []  # parts cut, not yet handed over
        self._part: Part | None = None  # the last part cut of the open record
        self.max_lines = max_lines
        self.source = source
        self.position_prefix = position_prefix
        self.ingested_ms = ingested_ms
        self._lines: list[str] = []
        self._chars = 0
        self._offset = 0
        self._lineno = 0
        self._overflow: list[str] = []
        self._overflow_chars = 0
        self._overflow_count = 0
        self._overflow_lineno = 0

    def _record(self, text: str | None = None, last: bool = True) -> Record:
        """The open record, or with ``text`` a part of it (``last``: the final one)."""
        part = self._part
        if part is not None or not last:
            number = part.number + 1 if part is not None else 1
            part = self._part = Part(part.state if part is not None else {}, number, last)
        position = f"{self.position_prefix}{self._offset}"
        if part is not None and part.number > 1:  # its events' IDs are its own
            position = f"{position}/{part.number}"
        if last:
            self._part = None
        return Record(text="\n".join(self._lines) if text is None else text,
                      source=self.source, position=position, line=self._lineno,
                      ingested_ms=self.ingested_ms, part=part)

    def _cut(self, line: str) -> bool:
        """Hand over the open record and ``line`` up to its last whole document as a part,
        keeping the rest (behind the envelope header it needs) open; False when it cannot be
        cut within the caps."""
        found = self.cut("\n".join([*self._lines, line])) if self.cut is not None else None
        if found is None or len(found[1]) > MAX_RECORD_CHARS:
            return False
        head, rest = found
        self._parts.append(self._record(head, last=False))
        self._lines, self._chars = [rest], len(rest)
        return True

    def begin(self, line: str, offset: int, lineno: int) -> None:
        """Open a record with ``line``; the caller has flushed the one before."""
        self._lines = [line]
        self._chars = len(line)
        self._offset, self._lineno = offset, lineno

    def add(self, line: str, lineno: int) -> None:
        """Append a continuation line within the record caps; beyond them the line is counted
        for the ``record_too_large`` dead letter ``flush`` hands over with the record."""
        if self._overflow_count or (len(self._lines) >= self.max_lines
                                    or self._chars + len(line) > MAX_RECORD_CHARS):
            if not self._overflow_count and self._cut(line):
                return
            if not self._overflow_count:
                self._overflow_lineno = lineno
            self._overflow_count += 1
            if self._overflow_chars < DeadLetter.MAX_RAW:
                self._overflow.append(line)
                self._overflow_chars += len(line) + 1
            return
        self._lines.append(line)
        self._chars += len(line) + 1

    def is_start(self, line: str) -> bool:
        if self.start is None:
            return True
        if self.start.match(line) is None:
            return False
        return not (self.continues is not None and self._lines
                    and self.continues(self._lines, line))

    def cannot_continue(self, line: str) -> bool:
        """Whether ``line``, though no record head of this format, cannot go on with the open
        record (the parser's ``breaks``: a timestamped line after a RabbitMQ JSON record is
        another program's): it starts a record of its own, or under ``auto`` is detected anew."""
        return self.breaks is not None and bool(self._lines) and self.breaks(self._lines, line)

    def feed(self, line: str, offset: int, lineno: int) -> list[Record | DeadLetter]:
        if self.start is None:
            if not line.strip():
                return []
            return [Record(text=line, source=self.source,
                           position=f"{self.position_prefix}{offset}", line=lineno,
                           ingested_ms=self.ingested_ms)]
        if self.ends is not None and not self._lines and not line.strip(BLANK):
            # A blank line with no record open is no record in a format whose records end
            # (EDI; elsewhere a read's boundary may fall before a blank line that belongs to
            # the record the next line continues): a writer's late newline, or one
            # written before the next interchange, after a line read once quiet
            # (``is_whole``), was an empty record and a false parse_error dead letter; so
            # are the NUL bytes block transfers pad a file's end with, after a trailer.
            return []
        if self.is_start(line) or not self._lines or (
                self.breaks is not None and self.cannot_continue(line)):  # no call: most have none
            return self.open(line, offset, lineno)
        self.add(line, lineno)
        if self._parts:
            parts, self._parts = self._parts, []
            return [*parts, *self._ended(line)]
        return self._ended(line)

    def open(self, line: str, offset: int, lineno: int) -> list[Record | DeadLetter]:
        """``feed`` of a line known to start a record: the open one is handed over."""
        done = self.flush()
        self.begin(line, offset, lineno)
        return done + self._ended(line)

    def _ended(self, line: str) -> list[Record | DeadLetter]:
        """The open record, handed over when ``line`` ends it. An EDI interchange has no
        other end: the log lines a translator writes after one written a segment a line
        were glued into it, up to the 1 MiB record cap, and lost in its validation failure
        without a word; after the trailer they start a record of their own (or, under
        ``auto``, are detected anew)."""
        # Padding first: block transfers pad the last block with NULs, up to a block (8 KiB,
        # 64 KiB) less one, and a tail of padding alone hid the trailer.
        if self.ends is None or self.ends.search(line.rstrip(BLANK)[-WHOLE_TAIL_CHARS:]) is None:
            return []
        return self.flush()

    def flush(self) -> list[Record | DeadLetter]:
        done: list[Record | DeadLetter] = []
        if self._lines:
            done.append(self._record())
            self._lines = []
        if self._overflow_count:
            done.append(DeadLetter(
                reason=f"record_too_large: {self._overflow_count} continuation lines beyond "
                       f"the {self.max_lines}-line / {MAX_RECORD_CHARS}-character record cap",
                source=self.source, line=self._overflow_lineno,
                raw=_raw("\n".join(self._overflow)), ingested_ms=self.ingested_ms))
            self._overflow, self._overflow_chars, self._overflow_count = [], 0, 0
        return done


class SourceParser:
    """Frames and parses the lines of one source (a file, stdin) in order.

    ``fmt`` names a parser, or ``auto``: then the first recognized line picks the parser, and
    afterwards any line that is not a continuation (indented, or not recognized by another
    parser) may switch it, which is what mixed sources (several services in one stream) need.
    """

    def __init__(self, fmt: str, ctx: ParseContext, source: str, *,
                 stats: ParseStats | None = None, position_prefix: str = "",
                 max_line_bytes: int = MAX_LINE_CHARS):
        self.ctx = ctx
        # Where the reader cuts lines (the input's max_line_bytes), named in line_too_long.
        self.max_line_bytes = max_line_bytes
        self.source = source
        self.stats = stats if stats is not None else ParseStats()
        self.position_prefix = position_prefix
        self.auto = fmt == "auto"
        self.candidates = tuple(available_parsers()) if self.auto else ()
        # How to ask the candidates about a line, per first character seen (``_plan_of``; a
        # few dozen in practice; bounded).
        self._plans: dict[str, tuple[tuple[ModuleType, ...], tuple[ModuleType, ...],
                                     Needles | None]] = {}
        self.module: ModuleType | None = None if self.auto else parsers.PARSERS.get(fmt)
        self.framer = self._framer(self.module) if self.module else None
        self._pending: list[tuple[str, int, int]] = []
        # The container envelope of this source (collector.envelopes), decided on its first
        # non-empty line; pieces of a line the runtime split, with where the first one was.
        self._envelope: str | None = None
        self._envelope_known = False
        self._pieces: list[str] = []
        self._pieces_chars = 0
        self._pieces_at = (0, 0)
        # A JSON value pretty-printed over several lines, held whole until its closing line so
        # that detection and the parser see it as one (``_feed_block``); where it began.
        self._block = Framer(None, source, position_prefix=position_prefix,
                             ingested_ms=ctx.now_ms)
        self._block_at: tuple[int, int] | None = None
        # Outlines of record heads seen (``_note_start``), to tell a cut-off last line.
        self._start_shapes: list[list[str]] = []
        self._shapes_left = START_SHAPES
        # A file of shipper documents: its lines parsed per original source
        # (collector.shipping.Delivery), and where the first line they hold open was.
        self._shipped = None
        self._shipped_at: tuple[int, int] | None = None
        # The native fast path of this format (``collector.native``), or None; event IDs of
        # its lines start with this head (``event_id``'s source and position prefix).
        self._fast = {parsers.PARSERS.get(name): fast
                      for name in (native.FORMATS if self.auto else (fmt,))
                      if (fast := native.batch_parser(name, ctx)) is not None}
        self._id_head = f"{source}\x1f{position_prefix}".encode("utf-8", "surrogatepass")

    def _framer(self, module: ModuleType) -> Framer:
        return Framer(module.START, self.source, position_prefix=self.position_prefix,
                      ingested_ms=self.ctx.now_ms, continues=getattr(module, "continues", None),
                      max_lines=getattr(module, "MAX_RECORD_LINES", MAX_RECORD_LINES),
                      ends=getattr(module, "WHOLE", None), cut=getattr(module, "cut_part", None),
                      breaks=getattr(module, "breaks", None))

    def _emit(self, framed: list[Record | DeadLetter], module: ModuleType) -> Output:
        if not framed:  # a line added to the open record
            return []
        if len(framed) == 1 and not self._shapes_left and type(framed[0]) is Record:
            return run_parser(framed[0], module, self.ctx, self.stats)  # one record: its list
        out: Output = []
        for item in framed:
            if isinstance(item, DeadLetter):
                out.append(self._too_large(item))
            else:
                if self._shapes_left:
                    self._note_start(item.text)
                out.extend(run_parser(item, module, self.ctx, self.stats))
        return out

    def _note_start(self, text: str) -> None:
        """Keep the outline of a record's first line (of the first few records only: a
        source's layouts show early) for ``_cut_off``."""
        self._shapes_left -= 1
        shape = _shape(text[:START_SHAPE_CHARS].partition("\n")[0])
        if len(shape) >= 3 and shape not in self._start_shapes:
            self._start_shapes.append(shape)

    def _too_large(self, item: DeadLetter) -> DeadLetter:
        self.stats.deadletters["record_too_large"] += 1
        item.raw = _masked(item.raw, self.ctx)
        return item

    def feed_lines(self, lines: Sequence[Line]) -> Output:
        """``feed`` of each line in turn, the lines of a format with a native fast path
        parsed in one batch first (``fast_events``): a record it made an event of is taken
        as it is where ``feed`` would hand it to the parser as one record (``ready``,
        ``claims``), any other line goes through ``feed`` as usual."""
        fast = self.fast_events(lines)
        out: Output = []
        if fast is None:
            for line in lines:
                out.extend(self.feed(*line))
            return out
        events, refused, module = fast
        ready = self.ready(module)
        taken = False  # the lines a False stands for belong to a record taken
        for k, ev in enumerate(events):
            if ev is False and taken:
                continue
            if ev and ready and self.claims(k, refused):
                out.extend(self.take())
                out.append(ev)
                taken = True
            else:
                out.extend(self.feed(*lines[k]))
                ready = self.ready(module)
                taken = False
        return out

    def fast_events(self, lines: Sequence[Line]) -> tuple[list, set[int] | None,
                                                          ModuleType] | None:
        """The native fast path's answer for these lines (``collector.native.batch_parser``:
        per line an Event, False or None), with, in auto mode, the records auto-detection
        would not keep whole (``_refused``), and the format asked; None where the source's
        format has no fast path (or is not known yet)."""
        module = self.module
        fast = self._fast.get(module) if module is not None else None
        if fast is None or len(lines) < 2:
            return None
        ctx = self.ctx
        events = fast(lines, self._id_head, self.framer.ingested_ms or ctx.now_ms,
                      ctx.time_min_ms, ctx.time_max_ms)
        return events, self._refused(lines, events, module) if self.auto else None, module

    @staticmethod
    def claims(k: int, refused: set[int] | None) -> bool:
        """Whether the format keeps the record the fast path made of line ``k`` whole
        (``fast_events``): always with a named format; in auto mode see ``_refused``."""
        return refused is None or k not in refused

    def take(self) -> Output:
        """A record of the fast path is taken: the open record ends before it, as ``feed``
        ends it (its items, to go before the taken event)."""
        self.stats.records += 1
        self.stats.events += 1
        return self.flush_record() if self.framer._lines else []

    def _refused(self, lines: Sequence[Line], events: list, module: ModuleType) -> set[int]:
        """The lines whose record (made by the fast path) ``_feed_auto`` would not keep whole
        with ``module``. Where every line is a record (START None): ``_detect`` gives
        another parser. Else: another parser claims a continuation line that is not
        indented (a catch-all one may: it does not cut into an open record).

        A line the format's ``claims_taken`` vouches for (its ``detect`` claims what the
        fast path took) is asked only of the parsers ranked before it."""
        if self.framer.start is None:
            asked = [k for k, ev in enumerate(events) if ev]
            texts = [lines[k][0] for k in asked]
            taken = getattr(module, "claims_taken", None)
            sure = list(map(taken, texts)) if taken else [False] * len(texts)
            claims = self._first_claims(list(compress(texts, sure)), before=module)
            if not all(sure):
                claims.update(self._first_claims(
                    [text for text, vouched in zip(texts, sure, strict=True) if not vouched]))
            other = {text for text, claim in claims.items() if claim is not module}
            if not other:
                return set()
            return {k for k, text in zip(asked, texts, strict=True) if text in other}
        heads: dict[int, int] = {}  # a continuation line asked about -> its record's line
        head = 0
        for k, ev in enumerate(events):
            if ev is False:
                if lines[k][0][:1] not in (" ", "\t", ""):
                    heads[k] = head
            elif ev is not None:
                head = k
        claims = self._first_claims([lines[k][0] for k in heads])
        return {head for k, head in heads.items() if (other := claims.get(lines[k][0]))
                is not None and other is not module and not getattr(other, "GENERIC", False)}

    def _first_claims(self, texts: list[str],
                      before: ModuleType | None = None) -> dict[str, ModuleType]:
        """``_detect`` of the texts a parser claims (a text no parser claims is left out),
        asked one parser at a time over all the texts that share a first character, each
        parser's ``detect`` mapped over them (most say no to all at once) instead of every
        parser in turn per line: the same first claim, at a third less of what detection
        cost; a text repeated (a Mule error block's frame) once. Texts holding none of the
        needles of the parsers that declare some are not asked of those
        (``collector.detect_prefilter``). ``before``: only the parsers ranked before this one
        are asked. Lines of one format mostly start alike: then they are not grouped."""
        found: dict[str, ModuleType] = {}
        if not texts:
            return found
        groups: dict[str, list[str]] = {}
        if len({text[:1] for text in texts}) == 1:
            groups[texts[0][:1]] = list(dict.fromkeys(texts))
        else:
            for text in dict.fromkeys(texts):
                groups.setdefault(text[:1], []).append(text)
        for first, pending in groups.items():
            askable, bare, needles = self._plans.get(first) or self._plan_of(pending[0])
            if before in askable:
                askable = askable[:askable.index(before)]
                bare, needles = _prefilter(first_class(first), askable)
            if needles is None:
                _claims_of(pending, askable, found)
                continue
            hits = needles.held(pending)
            if any(hits):
                _claims_of(list(compress(pending, hits)), askable, found)
                pending = [text for text, hit in zip(pending, hits, strict=True) if not hit]
            _claims_of(pending, bare, found)
        return found

    def ready(self, module: ModuleType) -> bool:
        """Whether ``feed`` would pass a whole line straight to ``module``'s framer: no
        envelope, no open JSON block, no record heads left to note, nothing in pieces."""
        return (self.module is module and self._envelope_known and self._envelope is None
                and self._block_at is None and not self._shapes_left and not self._pieces
                and self._shipped is None)

    def feed(self, line: str, offset: int, lineno: int, truncated: bool = False,
             terminated: bool = True) -> Output:
        """One line without its newline; ``truncated`` when the reader cut it at the limit;
        not ``terminated``: the source ended (or paused) inside this line."""
        if not terminated and self._cut_off(line):
            out = self.flush_record()
            record = Record(text=line, source=self.source, line=lineno,
                            ingested_ms=self.ctx.now_ms)
            self.stats.records += 1
            out.append(_dead("parse_error", "the source ends inside this line (no newline) and "
                             "it does not start a record: cut off, so not joined to the record "
                             "before it", record, self.ctx, self.stats))
            return out
        if not self._envelope_known and line.strip():
            self._envelope, self._envelope_known = envelopes.kind_of(line), True
        if self._envelope == "shipped" and not truncated:
            return self._feed_shipped(line, offset, lineno)
        if self._envelope is not None and not truncated:
            inner = envelopes.unwrap(self._envelope, line)
            if inner is not None:
                line, piece = inner
                if piece or self._pieces:
                    if not self._pieces:
                        self._pieces_at = (offset, lineno)
                    self._pieces.append(line)
                    self._pieces_chars += len(line)
                    if piece and self._pieces_chars < envelopes.MAX_JOINED_CHARS:
                        return []
                    return self._feed_pieces()
        return self._feed_line(line, offset, lineno, truncated)

    def _feed_shipped(self, line: str, offset: int, lineno: int) -> Output:
        """A line of a file of shipper documents: unwrapped and parsed with its original
        source (Filebeat's offset, when given, names it; else its place in this file)."""
        from collector.envelopes import shippers
        from collector.shipping import Delivery

        found = shippers.unwrap(line)
        if found is None:
            return self._feed_line(line, offset, lineno, False)
        if self._shipped is None:
            self._shipped = Delivery(self.ctx, self.stats)
        if not self._shipped.holding():
            self._shipped_at = (offset, lineno)
        position = (str(found.offset) if found.offset is not None
                    else f"{self.position_prefix}{offset}")
        out = self._shipped.line(found, self.source, position)
        if not self._shipped.holding():
            self._shipped_at = None
        return out

    def _feed_pieces(self) -> Output:
        """The pieces of one line, joined back together."""
        line, (offset, lineno) = "".join(self._pieces), self._pieces_at
        self._pieces, self._pieces_chars = [], 0
        return self._feed_line(line, offset, lineno, False)

    def _feed_line(self, line: str, offset: int, lineno: int, truncated: bool) -> Output:
        if truncated or len(line) > MAX_LINE_CHARS:
            out = self._close_block()
            out.extend(self.flush_record())
            record = Record(text=line, source=self.source, line=lineno,
                            ingested_ms=self.ctx.now_ms)
            self.stats.records += 1
            limit = self.max_line_bytes if truncated else MAX_LINE_CHARS
            unit = "bytes (max_line_bytes)" if truncated else "characters"
            out.append(_dead("line_too_long", f"a line of more than {limit} {unit}; its head is "
                             "kept in raw and the rest was skipped", record, self.ctx, self.stats,
                             cut=True))
            return out
        if self._block_at is not None:
            return self._feed_block(line, offset, lineno)
        # Where a line is a record (START None), or no format is known yet, a line that only
        # opens a JSON value begins one pretty-printed over several lines (a Mule JSON Logger
        # with prettyPrint, jq, an API response saved as is). Formats with a START keep such
        # lines as continuation: a Mule runtime log line may be followed by the JSON it logged.
        if (line[-1:] in _OPENERS and line[:1] in _OPENERS
                and (self.framer is None or self.framer.start is None)):
            self._block.begin(line, offset, lineno)
            self._block_at = (offset, lineno)
            return []
        return self._route(line, offset, lineno)

    def _route(self, line: str, offset: int, lineno: int) -> Output:
        """A line, or a whole pretty-printed JSON value, to the parser of the source (or of
        the line, in auto mode)."""
        if not self.auto:
            return self._emit(self.framer.feed(line, offset, lineno), self.module)
        return self._feed_auto(line, offset, lineno)

    def _feed_block(self, line: str, offset: int, lineno: int) -> Output:
        """A line while a pretty-printed JSON value is open: indented and empty lines are
        inside it; at the margin a closing ``}`` or ``]`` ends it, and any other line shows it
        was cut off: the value is passed on as it stands, for its parser to say what is
        missing, and the line is read afresh."""
        first = line[:1]
        if first in _INSIDE or (first in _CLOSERS and line[-1] in _OPENERS):
            self._block.add(line, lineno)
            return []
        if first in _CLOSERS:
            self._block.add(line, lineno)
            return self._close_block()
        out = self._close_block()
        out.extend(self._feed_line(line, offset, lineno, False))
        return out

    def _close_block(self) -> Output:
        """The open pretty-printed JSON value, routed as one line; beyond the record caps its
        head, with a ``record_too_large`` dead letter for the rest."""
        if self._block_at is None:
            return []
        (offset, lineno), self._block_at = self._block_at, None
        self._block.ingested_ms = self.ctx.now_ms
        out: Output = []
        for item in self._block.flush():
            if isinstance(item, DeadLetter):
                out.append(self._too_large(item))
            else:
                out.extend(self._route(item.text, offset, lineno))
        return out

    def _feed_auto(self, line: str, offset: int, lineno: int) -> Output:
        first = line[:1]
        if self.module is not None:
            framer = self.framer
            # Indented and empty lines always continue; so does anything no other parser
            # claims. A catch-all format (GENERIC) keeps a line that starts one of its records
            # only if no specific format claims it: a Strimzi broker line is a timestamped
            # text line too.
            if first in (" ", "\t", ""):
                return self._emit(framer.feed(line, offset, lineno), self.module)
            if (framer.start is not None and not getattr(self.module, "GENERIC", False)
                    and framer.is_start(line)):
                # A record head of the current format opens its record. A line only its
                # wider START takes (``FOREIGN_START``: Mule's time-first log4j line) goes to
                # a specific format that claims it (a Boomi tab line, a Kafka broker line:
                # they came out as generic text, their fields lost).
                foreign = getattr(self.module, "FOREIGN_START", None)
                other = self._detect(line) if foreign is not None and foreign.match(line) \
                    else None
                if other is None or other is self.module or getattr(other, "GENERIC", False):
                    return self._emit(framer.open(line, offset, lineno), self.module)
                out = self.flush_record()
                self.module, self.framer = other, self._framer(other)
                return out + self._emit(self.framer.feed(line, offset, lineno), other)
            # The current format keeps a line it claims unless one ranked before it claims it
            # too: asking only the others let the catch-all JSON parser take every second line
            # of a Kong or AWS API Gateway log (each JSON line is a record of its own). A
            # catch-all text format does not cut into an open multi-line record either: a
            # payload line logged under a Mule line may start with a timestamp.
            other = self._detect(line)
            if other is None or other is self.module or (
                    getattr(other, "GENERIC", False) and framer.start is not None
                    and framer._lines and not framer.cannot_continue(line)):
                return self._emit(framer.feed(line, offset, lineno), self.module)
            out = self.flush_record()
            self.module, self.framer = other, self._framer(other)
            return out + self._emit(self.framer.feed(line, offset, lineno), other)
        if not line.strip():
            return []
        module = self._detect(line)
        if module is None:
            self._pending.append((line, offset, lineno))
            if len(self._pending) > MAX_PENDING_LINES:
                return self._no_parser([self._pending.pop(0)])
            return []
        self.module, self.framer = module, self._framer(module)
        out: Output = []
        for item in self._pending + [(line, offset, lineno)]:
            out.extend(self._emit(self.framer.feed(*item), module))
        self._pending = []
        return out

    def _detect(self, line: str) -> ModuleType | None:
        """``detect`` over this source's candidates, as ``_plan_of`` has them asked."""
        return _claim(line, *(self._plans.get(line[:1]) or self._plan_of(line)))

    def _plan_of(self, line: str) -> tuple[tuple[ModuleType, ...], tuple[ModuleType, ...],
                                           Needles | None]:
        """(the candidates that may claim a line with this first character, those a line
        holding no needle is asked of, the needle finder or None: ``_prefilter``),
        remembered."""
        if len(self._plans) >= MAX_FIRST_CHARACTERS:
            self._plans.clear()
        first = first_class(line)
        askable = _askable(first, self.candidates)
        plan = self._plans[line[:1]] = (askable, *_prefilter(first, askable))
        return plan

    def _no_parser(self, lines: list[tuple[str, int, int]]) -> Output:
        out: Output = []
        for text, _offset, lineno in lines:
            record = Record(text=text, source=self.source, line=lineno, ingested_ms=self.ctx.now_ms)
            self.stats.records += 1
            out.append(_dead("no_parser", "no parser recognizes this line", record, self.ctx,
                             self.stats))
        return out

    def is_whole(self, tail: str) -> bool:
        """Whether a line without its newline that ends in ``tail`` is whole: it ends a record
        of this source's format (under ``auto``, of any: the format of the line before, X12,
        left an EDIFACT interchange written after it waiting), as its parser's ``WHOLE`` says."""
        if not tail:
            return False
        modules = (self.module,) if not self.auto else self.candidates
        return any(w.search(tail) is not None
                   for m in modules if (w := getattr(m, "WHOLE", None)) is not None)

    def segments(self, head: str) -> tuple[str, str] | None:
        """(segment terminator, release character) of an over-long line starting ``head``
        when it opens an interchange of this source's format (or, under ``auto``, of any:
        a mailbox may hold X12 and EDIFACT), as its parser's ``SEGMENTS`` reads them: the
        reader hands such a line over in pieces of whole segments (``collector.linesplit``)."""
        for m in ((self.module,) if self.module is not None else ()) + self.candidates:
            read = getattr(m, "SEGMENTS", None)
            found = read(head) if read is not None else None
            if found is not None:
                return found
        return None

    @property
    def ends(self) -> Ends | None:
        """Where interchanges end inside a line (see ``LineSplitter``), as the ``ENDS`` of this
        source's format says (under ``auto``, of every format: a mailbox may hold X12 and
        EDIFACT); None for a format without interchanges."""
        patterns = tuple(e for m in ((self.module,) if not self.auto else self.candidates)
                         if (e := getattr(m, "ENDS", None)) is not None)
        if not patterns:
            return None
        if len(patterns) == 1:
            return lambda text: [m.end() for m in patterns[0].finditer(text)]
        return lambda text: sorted(m.end() for p in patterns for m in p.finditer(text))

    def held_position(self) -> tuple[int, int] | None:
        """(byte offset, line number) of the earliest line fed but not yet emitted: the open
        record, an open pretty-printed JSON value or lines awaiting detection. Tailing inputs
        checkpoint there, so a restart re-reads that record whole instead of losing its head."""
        if self._pending:
            return self._pending[0][1], self._pending[0][2]
        framer = self.framer
        if framer is not None and framer._lines:
            return framer._offset, framer._lineno
        if self._block_at is not None:
            return self._block_at
        if self._shipped_at is not None:
            return self._shipped_at
        return self._pieces_at if self._pieces else None

    def _cut_off(self, line: str) -> bool:
        """Is this last, unterminated line the head of a record cut short rather than the
        end of the open one? It is when it has the outline of a record head of this source
        as far as it goes (``INFO  2024-03-01 09:0`` where records start like
        ``INFO  2024-03-01 09:00:01,010 ...``); a payload or stack line that merely lacks the
        file's last newline has not."""
        framer = self.framer
        if framer is None or framer.start is None or not framer._lines or self._block_at:
            return False
        if self._envelope is not None:  # a container's line cut inside its envelope
            inner = envelopes.unwrap(self._envelope, line)
            if inner is None:
                return line[:1] not in _INSIDE
            line = inner[0]
        if line[:1] in _INSIDE or framer.is_start(line):
            return False
        shape = _shape(line[:START_SHAPE_CHARS])
        if len(shape) < 3:
            return False
        known = [*self._start_shapes, _shape(framer._lines[0][:START_SHAPE_CHARS])]
        return any(s[: len(shape)] == shape[: len(s)] for s in known if len(s) >= 3)

    def flush_record(self) -> Output:
        if self.framer is None:
            return []
        return self._emit(self.framer.flush(), self.module)

    def flush(self) -> Output:
        """End of input (or a pause long enough to close the open record)."""
        out = self._feed_pieces() if self._pieces else []
        if self._shipped is not None:
            out.extend(self._shipped.finish())
            self._shipped_at = None
        out.extend(self._close_block())
        out.extend(self.flush_record())
        out.extend(self._no_parser(self._pending))
        self._pending = []
        return out


def _shape(text: str) -> list[str]:
    """A line's outline: runs of digits, letters and blanks as one symbol each, any other
    character as itself (``INFO  2024-03`` -> ``a 9-9``)."""
    runs: list[str] = []
    for ch in text:
        sym = "9" if ch.isdigit() else "a" if ch.isalpha() else " " if ch in " \t" else ch
        if not runs or runs[-1] != sym or sym not in "9a ":
            runs.append(sym)
    return runs


def read_lines(stream: BinaryIO, max_line: int = MAX_LINE_CHARS,
               encoding: str = "auto") -> Iterator[Line]:
    """(text, byte offset, line number, truncated, terminated) per line, in memory bounded by
    ``max_line``; ``terminated`` is False only for a last line without its newline.

    A longer line yields its first ``max_line`` bytes with ``truncated=True``; the rest is
    skipped without being held. The encoding is read from a byte-order mark (``auto``) or
    given (``collector.encoding``); the mark itself is skipped.
    """
    for batch in read_batches(stream, max_line, encoding):
        yield from batch


def read_batches(stream: BinaryIO, max_line: int = MAX_LINE_CHARS,
                 encoding: str = "auto", segments: Segments | None = None,
                 ends: Ends | None = None) -> Iterator[list[Line]]:
    """``read_lines`` a read at a time: the lines each read completes, as one list;
    ``segments``, ``ends``: see ``LineSplitter``."""
    lines = LineSplitter.at(encoding, 0, 0, max_line, segments=segments, ends=ends)
    read = getattr(stream, "read1", stream.read)  # a pipe's lines as they come
    while data := read(READ_BYTES):
        yield lines.split(data)
    yield lines.rest()


def parse_stream(stream: BinaryIO, source: str, fmt: str, ctx: ParseContext,
                 stats: ParseStats | None = None) -> Iterator[Event | DeadLetter]:
    """Every event and dead letter of a byte stream, in order, in constant memory."""
    parser = SourceParser(fmt, ctx, source, stats=stats)
    for batch in read_batches(stream, segments=parser.segments, ends=parser.ends):
        yield from parser.feed_lines(batch)
    yield from parser.flush()
