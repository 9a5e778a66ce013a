"""Lines delivered in shipper envelopes, framed and parsed per original source.

A shipper sends a file's lines one message each (or a few joined by its own multi-line
settings), interleaving many files of many hosts. ``Delivery`` takes the envelope off each
message (``collector.envelopes.shippers``, or the OTel Collector's file records in an OTLP
export), and feeds the line to a ``SourceParser`` of its own original source (host + file
path): format detection, stack traces, XML bodies and EDI segments across consecutive
messages are framed exactly as the file input frames the file.

Bounds: a delivery read as a unit has ``finish`` close every open record at its end. The
Kafka, HTTP and OTLP inputs keep records open across deliveries (``keep_open``), so a
stack trace split by the shipper's batch is one record, and close a source's record once
the source was quiet for ``multiline_timeout`` (``IDLE_CLOSE_S`` by default,
``finish_idle``). At-least-once all the same: Kafka commits no further than the first
message of a record still open (``held``); HTTP and OTLP store an open record as it stands
before they answer (``provisional``) and the closed record overwrites it. A syslog stream, which has
no end and no acknowledgement, closes a source's record once the source was idle for a
while (``finish_idle``) too. At most
``MAX_SOURCES`` sources are open at once (the least recently fed is closed first); records
are capped as in files (``collector.parse.MAX_RECORD_*``).

Event IDs come from the shipper's identity of the line, so a retry or a replay overwrites:
Filebeat's path + offset; else the Kafka topic/partition/offset of the message; else the
line's hash with the shipper's time (the OTel Collector: file path + record hash), hashed
only for a record's first line (``collector.envelopes.numbering``).
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from collector.envelopes import otel, shippers
from collector.envelopes.numbering import Numbering
from collector.envelopes.shipped import Run, Shipped
from collector.event import Event, Record
from collector.parse import Output, ParseStats, SourceParser, parse_record
from collector.parsers import otlp_json
from collector.parsers._base import ParseContext
from collector.parsers._fields import MAX_LABEL_VALUE, MAX_LABELS

MAX_SOURCES = 256
# An input holding records across deliveries (Kafka) closes a source's open record after this
# long without a line from it: the file input's default ``multiline_timeout``.
IDLE_CLOSE_S = 2.0


@dataclass(slots=True)
class _Source:
    parser: SourceParser
    # The message whose line opened the record the parser holds open (its shipper, time).
    opener: Shipped
    lines: int = 0
    # Whether the parser holds lines not yet emitted (kept up to date by ``Delivery.line``).
    holding: bool = False
    # The delivered message the held record's first line came in (or one before it), for
    # inputs that hold records across deliveries (``Delivery.held``).
    origin: Record | None = None
    # The lines of the record held open (text, position, line), when the delivery keeps them
    # for ``Delivery.provisional``; None when it does not.
    kept: list[tuple[str, str, int]] | None = None
    # time.monotonic() of the last line fed (for streams: see ``Delivery.finish_idle``).
    fed_at: float = 0.0

    def keep_from(self, where: tuple[int, int] | None) -> None:
        """Keep only the lines of the record now held (from its first line, ``where``)."""
        if where is None:
            self.kept = []
        elif self.kept and self.kept[0][2] < where[1]:
            self.kept = [k for k in self.kept if k[2] >= where[1]]


class Delivery:
    """The records of one delivery, through their envelopes, in order."""

    def __init__(self, ctx: ParseContext, stats: ParseStats, fmt: str = "auto",
                 keep_lines: bool = False):
        self.ctx = ctx
        # Keep the lines of held records for ``provisional`` (an input that holds records
        # across deliveries it must acknowledge whole: HTTP).
        self.keep_lines = keep_lines
        # The sources fed since ``end`` (see ``forget``).
        self.touched: set[str] = set()
        # time.monotonic() of the delivery being read (``tick``): when its sources were fed.
        self.now = time.monotonic()
        self.stats = stats
        self.fmt = fmt
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        # The key of the source fed last: it is at the end of ``_sources`` already.
        self._last: str | None = None
        self._last_src: _Source | None = None
        # The file path and host of the line fed last, which name ``_last`` when a path is given.
        self._last_path: str | None = None
        self._last_host: str | None = None
        self._redact_host = "host.name" in ctx.redact_fields
        # How often each line named by its content occurred (the numbers of hash positions).
        self._numbering = Numbering()
        # Which shipper's envelope each delivery source (a topic, an endpoint) carries.
        self._shapes = shippers.Shapes()

    def records(self, records: Sequence[Record], replayable: bool) -> Output:
        """The messages of a delivery, in order. ``replayable``: a message's source and
        position name it for good (a Kafka record), so they make the IDs of lines without an
        offset of their own. Their envelopes all come off first (``envelopes``), then their
        lines are parsed (``parse_unwrapped``): each of the two loops stays hot in the
        processor's caches, where taking turns per message cost 1.2 µs a line more
        (measured, 8 % of what a shipped line costs in all). An input parsing in a worker
        process has this done there, envelopes included (``collector.inputs.remote_delivery``)."""
        if self.fmt != "auto":
            return [item for record in records
                    for item in parse_record(record, self.fmt, self.ctx, self.stats)]
        return self.parse_unwrapped(records, self.envelopes(records), replayable)

    def frames(self, frames: Sequence[bytes], source: str, ingested_ms: int) -> Output:
        """``records`` of messages read as bytes from one ``source`` at one time and named
        by their content (a syslog connection's frames, an HTTP request's lines), without a
        ``Record`` a message: only a message in no envelope needs one. What no input
        acknowledging by position reads, so no record's origin is kept (``held``)."""
        texts = [frame.decode("utf-8", "replace") for frame in frames]
        if self.fmt != "auto":
            return self.records([Record(text=text, source=source, ingested_ms=ingested_ms)
                                 for text in texts], False)
        line, position = self.line, self._numbering.position
        out: Output = []
        i = 0
        for found in self._shapes.unwrap_runs(texts, [source] * len(texts)):
            if found is None:
                out.extend(self._unshipped(Record(text=texts[i], source=source,
                                                  ingested_ms=ingested_ms), False))
                i += 1
            elif isinstance(found, Run):
                out.extend(self._run(found, self._hashed(found), source, None))
                i += len(found.lines)
            else:
                out.extend(line(found, source, position(found.identity())
                                if found.offset is None else str(found.offset)))
                i += 1
        return out

    def envelopes(self, records: Sequence[Record]) -> list[Shipped | Run | None]:
        """Each message's line and where the shipper read it, a run of one source's
        one-line messages as one ``Run``; None: in no shipper's envelope."""
        return self._shapes.unwrap_runs([record.text for record in records],
                                        [record.source for record in records])

    def parse_unwrapped(self, records: Sequence[Record],
                        unwrapped: Sequence[Shipped | Run | None], replayable: bool) -> Output:
        """``records`` once ``envelopes`` made ``unwrapped`` of them (a ``Run`` stands for
        as many records as it has lines)."""
        out: Output = []
        line = self.line
        i = 0
        for found in unwrapped:
            if found is None:
                out.extend(self._unshipped(records[i], replayable))
                i += 1
            elif isinstance(found, Run):
                batch = records[i:i + len(found.lines)]
                lines = (self._hashed(found) if not replayable else self._placed(
                    found, lambda k, one, batch=batch: self._position(one, batch[k], True, 0)))
                out.extend(self._run(found, lines, batch[0].source, batch))
                i += len(batch)
            else:
                record = records[i]
                where = found.offset
                out.extend(line(found, record.source, str(where) if where is not None
                                else self._position(found, record, replayable, 0), record))
                i += 1
        return out

    @staticmethod
    def _placed(run: Run, place: Callable[[int, Shipped], str]) -> list[tuple]:
        """The run's lines, each with its position: its offset, or for a message without
        one ``place(k, its Shipped)``."""
        if run.offsets:
            return run.lines
        return [(text, place(k, run.at(k)) if at is None else at, 0, False, True)
                for k, (text, at, *_) in enumerate(run.lines)]

    def _hashed(self, run: Run) -> list[tuple]:
        """The run's lines, each with its position: its offset, or its hash position
        (numbered in order), hashed only if read (``collector.envelopes.numbering``)."""
        return run.lines if run.offsets else self._numbering.lines(run.lines, run.created)

    def _run(self, run: Run, lines: Sequence[tuple], fallback: str,
             origins: Sequence[Record] | None) -> Output:
        """The lines of a run (``lines``: the run's, each with its position), as ``line``
        would read them one by one, for a fraction of its cost a line: the first through
        ``line`` (which finds the source's parser); the others parsed in one batch by the
        native fast path where it applies (``SourceParser.fast_events``), each record it
        takes stamped with the message that opened it; any other line fed to the parser
        here, with ``line``'s bookkeeping, a ``Shipped`` made only for a message that opens
        a record. ``origins``: the run's delivered messages (see ``line``), or None."""
        out = self.line(run.at(0), fallback, lines[0][1], origins[0] if origins else None)
        src: _Source = self._last_src  # type: ignore[assignment]
        parser = src.parser
        rest = lines[1:]
        fast = parser.fast_events(rest)
        events, refused, module = fast if fast is not None else (None, None, None)
        feed, held_position, stamp = parser.feed, parser.held_position, self._stamp
        opener, origin, holding, lineno = src.opener, src.origin, src.holding, src.lines
        keeping = src.kept is not None
        # The events of records taken whole and their messages, stamped once the run is read
        # (``_stamp_taken``); the message of the last one, the opener if no line follows.
        taken_events: list[Event] = []
        taken_at: list[int] = []
        # ``parser.ready(module)``, asked again only after a line was fed (``take`` leaves
        # it as it is, see ``SourceParser.feed_lines``); None: not asked yet.
        ready: bool | None = None
        taken = False  # the lines a False stands for belong to a record taken
        for k in range(1, len(lines)):
            lineno += 1
            if events is not None:
                ev = events[k - 1]
                if ev is False and taken:
                    continue
                if ev:
                    if ready is None:
                        ready = parser.ready(module)
                    if ready and parser.claims(k - 1, refused):
                        # What the parser held was fed after the last record taken, so a
                        # line fed since made ``opener`` its message.
                        items = parser.take()
                        if items:
                            out.extend(stamp(items, opener))
                        opener, origin, holding = None, None, False
                        # Kept lines of records taken whole go at the next line fed
                        # (``keep_from`` below). A format without START may have its batch's
                        # last record taken too: its lines stay kept until that next line,
                        # harmlessly (not ``holding``; ``keep_from`` trims them).
                        out.append(ev)
                        taken_events.append(ev)
                        taken_at.append(k)
                        taken = True
                        continue
                taken = False
            ready = None
            text, at = lines[k][0], lines[k][1]
            emitted = feed(text, at, lineno)
            if keeping:
                src.kept.append((text, at, lineno))  # type: ignore[union-attr]
            if emitted:  # as in ``line``
                found = run.at(k)
                stamp(emitted, opener if holding else found)  # type: ignore[arg-type]
                where = held_position()
                if where is not None and (where[1] >= lineno or not holding):
                    origin = origins[k] if origins else None
                opener, holding = found, where is not None
                if keeping:
                    src.keep_from(where)
                out.extend(emitted)
            elif not holding:
                opener, origin = run.at(k), origins[k] if origins else None
                where = held_position()
                holding = where is not None
                if keeping:
                    src.keep_from(where)
        if taken_at:
            self._stamp_taken(run, taken_events, taken_at)
            if opener is None:
                opener = run.at(taken_at[-1])
        src.lines, src.opener, src.origin, src.holding = lineno, opener, origin, holding
        return out

    def _stamp_taken(self, run: Run, events: list[Event], at: list[int]) -> None:
        """``_stamp`` of the events of records ``_run`` took whole, each of its own message
        (``run.at(at[i])``): one call per stretch of messages of one time, a run's messages
        differing in nothing else ``_stamp`` reads, instead of a ``Shipped``, a list and a
        call an event."""
        created, stamp = run.created, self._stamp
        start, first = 0, created[at[0]]
        for i, k in enumerate(at):
            if created[k] != first:
                stamp(events[start:i], run.at(at[start]))
                start, first = i, created[k]
        stamp(events[start:], run.at(at[start]))

    def _unshipped(self, record: Record, replayable: bool) -> Output:
        """A message in no shipper's envelope: an OTLP/JSON export, or read as it stands."""
        if otlp_json.detect(record.text):
            return self._export(record, replayable)
        if not replayable:  # a bare line over HTTP or syslog: named by its content
            record = dataclasses.replace(record, position=self._numbering.position(record.text))
        return parse_record(record, "auto", self.ctx, self.stats)

    def export(self, export: dict, source: str) -> tuple[dict, Output]:
        """An OTLP logs export: (the export without the file lines, their events)."""
        rest, lines = otel.split(export)
        out: Output = []
        for found in lines:
            out.extend(self.line(found, source, self._numbering.position(found.identity())))
        return rest, out

    def _export(self, record: Record, replayable: bool) -> Output:
        try:
            obj = orjson.loads(record.text)
        except orjson.JSONDecodeError:
            return parse_record(record, "auto", self.ctx, self.stats)
        rest, lines = otel.split(obj) if isinstance(obj, dict) else (obj, [])
        if not lines:
            return parse_record(record, "auto", self.ctx, self.stats)
        out: Output = []
        for index, found in enumerate(lines):
            out.extend(self.line(found, record.source,
                                 self._position(found, record, replayable, index), record))
        if rest.get("resourceLogs") or rest.get("resourceSpans"):
            rest_record = Record(text=orjson.dumps(rest).decode(), source=record.source,
                                 position=record.position, ingested_ms=record.ingested_ms)
            out.extend(parse_record(rest_record, "otlp-json", self.ctx, self.stats))
        return out

    def line(self, found: Shipped, fallback: str, position: str,
             origin: Record | None = None) -> Output:
        """One unwrapped message: its lines to the parser of its original source. Every
        shipped line passes here, so the common case (the same source as the line before,
        one line a message) costs no lookups and asks the parser no more than to feed it.
        ``origin``: the delivered message, remembered while a record it opened is held."""
        path, host = found.path, found.host
        out: Output = []
        if path is not None and path == self._last_path and host == self._last_host:
            src = self._last_src  # the source of the line before (its key from these two)
        else:
            key = found.source(fallback)
            if key == self._last:
                src = self._last_src
            else:
                src, out = self._switch(key, found)
            self._last_path, self._last_host = path, host
        src.fed_at = self.now
        text = found.line
        parser = src.parser
        parts = text.split("\n") if "\n" in text else (text,)
        index, first = 0, src.lines + 1
        for part in parts:
            held = src.holding
            src.lines += 1
            # SourceParser formats a record's position as given: the shipper's identity of
            # the line (an offset, a Kafka position or a hash), not a byte offset here.
            part = part[:-1] if part[-1:] == "\r" else part
            at = f"{position}+{index}" if index else position
            emitted = parser.feed(part, at, src.lines)  # type: ignore[arg-type]
            index += 1
            if src.kept is not None:
                src.kept.append((part, at, src.lines))
            if emitted:
                # What a line emits was opened by the message of the record held before it,
                # or by this one; the parser is asked what it holds only after an emission
                # or a line fed to an empty parser (not for each continuation line).
                self._stamp(emitted, src.opener if held else found)
                src.opener = found
                where = parser.held_position()
                src.holding = where is not None
                # The record now held starts in this message, or (lines held for detection)
                # after the start of the one held before: its origin stays, a safe bound.
                if where is not None and (where[1] >= first or not held):
                    src.origin = origin
                if src.kept is not None:
                    src.keep_from(where)
                out.extend(emitted)
            elif not held:
                src.opener, src.origin = found, origin
                where = parser.held_position()
                src.holding = where is not None
                if src.kept is not None:
                    src.keep_from(where)
        return out

    def _switch(self, key: str, found: Shipped) -> tuple[_Source, Output]:
        """The source ``key`` becomes the one fed last: created (the least recently fed one
        closed when ``MAX_SOURCES`` are open) or moved to the end of the order."""
        out: Output = []
        src = self._sources.get(key)
        if src is None:
            if len(self._sources) >= MAX_SOURCES:
                _, oldest = self._sources.popitem(last=False)
                out.extend(self._stamp(oldest.parser.flush(), oldest.opener))
            src = _Source(SourceParser("auto", self.ctx, key, stats=self.stats), found,
                          kept=[] if self.keep_lines else None)
            self._sources[key] = src
        else:
            self._sources.move_to_end(key)
        self._last, self._last_src = key, src
        if len(self.touched) < MAX_SOURCES:
            self.touched.add(key)
        return src, out

    def _position(self, found: Shipped, record: Record, replayable: bool, index: int) -> str:
        """The shipper's identity of a line, for its event IDs (see the module doc)."""
        if found.offset is not None:
            return str(found.offset)
        if replayable:
            return f"{record.source}/{record.position}" + (f"#{index}" if index else "")
        return self._numbering.position(found.identity())

    def holding(self) -> bool:
        """Whether any source holds lines not yet emitted (an open record)."""
        return any(src.parser.held_position() is not None for src in self._sources.values())

    def held(self) -> list[Record | None]:
        """The origins (see ``line``) of the records held open: an input that acknowledges
        by position acknowledges no further than the earliest of them."""
        return [src.origin for src in self._sources.values() if src.holding]

    def finish(self) -> Output:
        """End of the delivery: every open record, parsed. The sources stay known (their
        format, the outline of their record heads) for the next delivery of an input that
        keeps its ``Delivery``, as the file input keeps a file's parser across pauses:
        re-learning them cost every poll as much as its first few hundred lines. Nothing is
        held open across deliveries, and hash positions are numbered afresh in each."""
        out: Output = []
        for src in self._sources.values():
            out.extend(self._stamp(src.parser.flush(), src.opener))
            src.lines, src.holding, src.origin = 0, False, None
            if src.kept is not None:
                src.kept = []
        self.end()
        return out

    def provisional(self) -> Output:
        """The records held open, parsed as they stand, for an input that must have stored
        every line it acknowledges while the records stay open for its next delivery (HTTP:
        a stack trace split between two requests). Their event IDs are those of the records
        once closed (the same source and first position), so the closed record overwrites
        its provisional event in the store. Parsed by a parser of their own (the source's
        format, fixed): the sources' parsers and statistics are left as they are."""
        out: Output = []
        for key, src in self._sources.items():
            if not (src.holding and src.kept):
                continue
            module = src.parser.module
            parser = SourceParser(module.NAME if module is not None else "auto", self.ctx, key)
            items: Output = []
            for text, at, lineno in src.kept:
                items.extend(parser.feed(text, at, lineno))  # type: ignore[arg-type]
            items.extend(parser.flush())
            out.extend(self._stamp(items, src.opener))
        return out

    def request(self, idle_s: float, parse: Callable[[Delivery], Output]
                ) -> tuple[Output, set[str]]:
        """One request of an input that keeps records open across its requests and answers
        each once stored (HTTP, OTLP): the records of sources quiet for ``idle_s`` closed,
        the request's messages read by ``parse``, the records they leave open as they stand
        (``provisional``); nothing left open if reading fails. (The items, the sources fed:
        ``forget`` them if the store does not take the items.)"""
        self.tick()
        items = self.finish_idle(idle_s)
        try:
            items.extend(parse(self))
            items.extend(self.provisional())
        except BaseException:
            self.finish()
            raise
        return items, self.end()

    def tick(self) -> None:
        """A delivery begins: its lines count as fed now (see ``finish_idle``); read once
        per delivery rather than once per line."""
        self.now = time.monotonic()

    def end(self) -> set[str]:
        """The end of a delivery whose records stay open (``keep_open``): hash positions are
        numbered afresh in the next (a retried request numbers its lines alike), and the
        sources it fed are noted afresh; those it fed (see ``forget``)."""
        self._numbering.clear()
        touched, self.touched = self.touched, set()
        self._last, self._last_src, self._last_path = None, None, None
        return touched

    def forget(self, keys: set[str]) -> None:
        """Drop what these sources hold, unstored: a delivery the store did not take is sent
        again by the shipper, and its lines must not join what they were already part of.
        (Their records' provisional events stay stored; the lines come again.)"""
        for key in keys:
            self._sources.pop(key, None)
        self._last, self._last_src, self._last_path = None, None, None

    def finish_idle(self, idle_s: float) -> Output:
        """The open records of sources fed nothing for ``idle_s``, as the file input closes
        a record when its file stops growing: for a stream read as one long delivery (a
        syslog connection), and for an input that holds records across its deliveries (a
        Kafka consumer). The sources stay known, as in ``finish``."""
        limit = time.monotonic() - idle_s
        out: Output = []
        for src in self._sources.values():
            if src.holding and src.fed_at <= limit:
                out.extend(self._stamp(src.parser.flush(), src.opener))
                src.holding, src.origin = False, None
                if src.kept is not None:
                    src.kept = []
        return out

    def _stamp(self, items: Output, found: Shipped) -> Output:
        """The shipper's facts of the message that opened the events' record: its time as
        ``event.created`` (and as the event's time when the line had none), host, file path
        and shipper."""
        created_ms = found.created_ms
        path = found.path[:MAX_LABEL_VALUE] if found.path else None
        shipper = found.shipper[:MAX_LABEL_VALUE]
        for item in items:
            if not isinstance(item, Event):
                continue
            if created_ms:
                item.created_ms = created_ms
                if item.timestamp_estimated:
                    item.timestamp_ms = created_ms
            if found.host and not item.host and not self._redact_host:
                item.host = found.host
            # ``set_label`` for keys already in label form, inlined: every shipped event.
            labels = item.labels
            if path and ("log_file_path" in labels or len(labels) < MAX_LABELS):
                labels["log_file_path"] = path
            if shipper and ("shipper" in labels or len(labels) < MAX_LABELS):
                labels["shipper"] = shipper
        return items


def parse_delivery(records: list[Record], ctx: ParseContext, stats: ParseStats,
                   fmt: str = "auto", replayable: bool = False,
                   delivery: Delivery | None = None, keep_open: bool = False) -> Output:
    """Every event and dead letter of one delivery's records; ``delivery``: the input's own,
    kept across its deliveries (see ``Delivery.finish``). ``keep_open``: records still open
    at the end stay open for the next delivery (the input closes them with ``finish_idle``
    and acknowledges no further than ``Delivery.held``)."""
    delivery = delivery if delivery is not None else Delivery(ctx, stats, fmt)
    delivery.tick()
    out: Output = []
    try:
        out.extend(delivery.records(records, replayable))
    except BaseException:
        delivery.finish()  # a delivery that failed leaves nothing open for the next one
        raise
    if keep_open:
        delivery.end()
    else:
        out.extend(delivery.finish())
    return out
