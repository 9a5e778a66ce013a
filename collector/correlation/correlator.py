"""The correlator: events in, message traces out, with bounded memory.

Every event carries typed IDs; IDs seen together on one event belong to one message, and a
trace is a connected set of IDs. The working set lives in memory as a flattened union-find: an
ID -> trace key index where a merge re-points the merged trace's IDs, so every ID finds
its trace in one look-up and a whole trace can be dropped from memory at once. Anything older
lives in the store and is found there by ID.

The pipeline calls, in this order::

    correlator.process(batch)     # per batch: classify (sets event.flow/stage), join: memory only
    store.write_events(batch)     # the events, now carrying flow and stage
    correlator.flush()            # once per flush interval, for every batch since the last:
                                  # resolve new IDs against the store, upsert dirty traces
    <commit input positions>      # of the batches whose events and traces are stored

``process`` does no I/O, so it cannot fail half-way; all store work happens in ``flush``, which
the pipeline retries on StoreError. Until a trace is written its hops since the last write stay
``pending``: when another writer changed the stored copy (ConflictError), the trace is rebuilt
from the fresh copy plus those hops. A restart loses nothing but memory: traces are fetched
again by ID when their messages show up.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

from collector.correlation import packed
from collector.correlation.catalog import ACK_ACTIONS, Catalog, span_gap_ms
from collector.correlation.joinview import CatalogSource, JoinView, classified_links
from collector.correlation.tracebuild import (
    MAX_HOPS,
    add_hop,
    add_hops,
    hop_from_event,
    mark_stuck,
    merge,
    new_trace,
    overdue,
    settle,
)
from collector.encoded import EncodedEvent
from collector.event import ACK_EXCEPT_LABEL, ACK_SCOPE_LABEL, Event, ms_to_iso
from collector.process_names import ProcessNames
from collector.store.base import ConflictError, Store
from collector.trace import Hop, Trace

log = logging.getLogger(__name__)

# IDs per store look-up: a batch's new IDs in a few round trips (an Elasticsearch terms
# query takes up to 65,536; SQLite reads them through json_each).
FETCH_CHUNK = 5_000
CONFLICT_ROUNDS = 3
# IDs of recently evicted traces remembered with their key: enough to cover the seconds a
# store's search may lag behind its writes (midwatch's trace index refreshes every 5 s:
# 30,000 IDs a second at full speed), about 30 MB at most.
EVICTED_IDS = 150_000
SWEEP_PAGE = 1000
SWEEP_MAX_PAGES = 10  # per SLA tier and sweep: a sweep must end; the next one continues
# Written traces kept as objects, the most recently written or read: a message's next event
# usually comes within seconds and finds its trace ready; older ones are packed into bytes
# (collector.correlation.packed: ~160 bytes instead of ~950 a message) and unpacked when
# their next event comes. Packing and unpacking cost CPU: in process + flush into SQLite,
# three-event messages cost 6% more per event when each trace is packed once after its last
# event, 31% more when every event comes after its trace was packed. So this many stay as
# objects: about 25 MB; 1M in-flight messages took 462 MB peak RSS
# (bench/correlation_bench.py --only memory).
HOT_TRACES = 25_000
SWEEP_SLICE = 10_000  # overdue traces marked stuck and written per step of a sweep
# Other traces in memory holding a reused link ID besides the one ``_index`` names (earlier
# messages the ID moved away from), kept per ID: a late event of an earlier message that
# carries only that ID must find its own trace whether or not a newer message came since.
# Reuse within a few days is a few messages; the nearest ones are the ones that join.
MAX_OTHER_HOLDERS = 4
MAX_ID_TYPES = 10_000  # ID types whose store look-up reach is remembered (``_reach_ms``)


@dataclass(slots=True)
class _Live:
    trace: Trace
    # Hops added since the last successful write: re-applied to a fresh copy after a conflict.
    # None while the trace was never written: then all of it is pending (a million new traces
    # must not each hold a tuple repeating their own hops).
    pending: tuple[Hop, ...] | None = ()
    # Stored traces merged into this one, deleted with its next write.
    doomed: tuple[Trace, ...] = ()
    # Link IDs not yet looked up in the store: a trace found there may hold them. None: all
    # of the trace's link IDs (one rebuilt after a lost race). A new trace collects them as
    # ``_add_ids`` adds them, which knows which are links: asking the catalog again for each
    # at the flush took a fifth of ``_resolve``. (Emptied by that flush, so it holds a
    # batch's new IDs at most, not a million traces' worth.)
    unchecked: tuple[str, ...] | None = ()
    # The store has been consulted since this trace was (re)built: memory is at least as new
    # as the stored copy under its key.
    known: bool = False
    dirty: bool = True
    touched: float = 0.0  # time.monotonic() of the last event
    listed: bool = False  # in Correlator._changed
    queued: int = 0  # times in Correlator._recent: packed only when it leaves for the last time


def _one_hop(hop: Hop, ids: list[str]) -> Trace:
    """An event as a trace of its own, to measure it against one (``Catalog.joins``)."""
    return Trace(trace_key="", ids=ids, started_ms=hop.timestamp_ms,
                 last_seen_ms=hop.timestamp_ms, hops=[hop])


def _unwritten(live: _Live) -> bool:
    """Never written nor read from the store: a trace ``process`` began."""
    return live.pending is None and live.trace.version is None


class Correlator:
    def __init__(self, catalog: Catalog, store: Store, *, max_in_flight: int = 100_000,
                 idle_ttl_ms: int = 3_600_000, max_hops: int = MAX_HOPS,
                 source: CatalogSource | None = None):
        """``source``: what ``catalog`` was built from; with it, parse workers may classify
        events for this correlator (``collector.correlation.joinview``)."""
        self.catalog, self.store = catalog, store
        self.catalog_source = source
        for note in catalog.upgrade_notes():  # once, at start-up (workers build no correlator)
            log.warning(note)
        self.max_in_flight, self.idle_ttl_s = max_in_flight, idle_ttl_ms / 1000
        self.max_hops = max_hops
        # In LRU order, least recent first (a plain dict keeps insertion order and costs a
        # third of an OrderedDict per entry, which counts at a million traces).
        # A trace written and not touched since HOT_TRACES others were is held packed (bytes);
        # ``_held`` gives it back as a _Live.
        self._live: dict[str, _Live | bytes] = {}
        # Written traces in the order they were written (or unpacked): the packing queue.
        self._recent: deque[_Live] = deque()
        self._index: dict[str, str] = {}  # link ID -> trace_key of a live trace
        # Link ID -> keys of other live traces holding it (``MAX_OTHER_HOLDERS``): only
        # reused IDs are here, and only while those traces are in memory (``_forget``).
        self._others: dict[str, tuple[str, ...]] = {}
        # Keys of traces recently dropped from memory, by their IDs: a store's search may not
        # see a fresh write yet, but a fetch by key always does.
        self._evicted: dict[str, str] = {}
        # Traces changed since the last flush: what the flush looks at, so that it costs what
        # the batch changed, not what memory holds (three passes over 100k traces took 8.5 ms
        # a flush). Every trace that is dirty, unchecked or not yet known is here, once.
        self._changed: list[_Live] = []
        # Acknowledgements of a whole EDI group or interchange (``ack_scope``) seen by
        # ``process``, applied by the next ``flush`` (they need the store): at most a batch.
        self._fanouts: list[Event] = []
        self._reach_of: dict[tuple[str, bool], tuple[int, int]] = {}  # ``_reach_ms``
        self._process_names = ProcessNames()
        self._counts = {"evicted": 0, "expired": 0, "merges": 0, "merges_refused": 0,
                        "conflicts": 0, "ids_dropped": 0, "unlinked_events": 0, "store_lookups": 0,
                        "stuck_marked": 0, "scope_acks": 0, "scope_ack_hops": 0}

    # ------------------------------------------------------------------ events in

    def process(self, events: Sequence[Event | EncodedEvent]) -> None:
        """Classify each event (setting ``flow`` and ``stage`` on it) and join it to its
        trace in memory. An ``EncodedEvent`` was classified by its parse worker, which sent
        what joining reads (``collector.correlation.joinview``)."""
        now = time.monotonic()
        fill, catalog = self._process_names.fill, self.catalog
        for ev in events:
            if type(ev) is Event:
                fill(ev)
                links = classified_links(ev, catalog)
                if not links:
                    if ev.ids and ev.labels.get(ACK_SCOPE_LABEL):
                        self._fanouts.append(ev)  # answers many traces: applied in flush
                    else:
                        self._counts["unlinked_events"] += 1
                    continue
                hop = hop_from_event(ev)
            else:
                view = ev.join  # type: ignore[union-attr]
                if view is None:
                    self._counts["unlinked_events"] += 1
                    continue
                ev, links, hop = view, view.links, view.hop  # noqa: PLW2901 - read alike
            live = self._join(ev, links, hop)
            t = live.trace
            self._add_ids(live, ev.ids, links)
            self._add_hop(live, hop)
            if t.flow == "unknown" and ev.flow != "unknown":
                t.flow = ev.flow
            t.partner = t.partner or ev.partner
            live.touched = now  # settled once per flush (``_settle``), not once per event
            if next(reversed(self._live)) != t.trace_key:  # a new trace is last already
                # Most recent last. Each move leaves a dead slot in the dict until it resizes,
                # so it is skipped when not needed (a million new traces, a million slots).
                self._live[t.trace_key] = self._live.pop(t.trace_key)

    def _add_hop(self, live: _Live, hop: Hop) -> bool:
        """Add one hop (a replayed one changes nothing); True when it was new."""
        if not add_hop(live.trace, hop, max_hops=self.max_hops):
            return False
        if live.pending is not None:
            live.pending += (hop,)
        self._touch(live)
        return True

    def _join(self, ev: Event | JoinView, links: list[str], hop: Hop) -> _Live:
        """The trace the event joins: those its link IDs name, merged, where they saw an
        event within the ID's join window of this one (``Catalog.joins``); an ID whose trace
        is further away in time names another message now (a reused control number or
        request ID) and moves to the event's trace."""
        keys: list[str] = []
        moved: list[str] = []
        near = self.catalog.min_join_window_ms
        at = hop.timestamp_ms
        index, lives = self._index, self._live
        first: _Live | None = None  # the trace under keys[0], as _held gave it
        for i in links:
            key = index.get(i)
            if key is None or key in keys:
                continue
            held = lives[key]
            live = self._held(key) if type(held) is bytes else held
            t = live.trace
            apart = self.catalog.apart(ev.ids, t.ids)  # once: both checks below need it
            if not apart and at - t.last_seen_ms <= near and t.started_ms - at <= near:
                if not keys:
                    first = live
                keys.append(key)
                continue
            alone = _one_hop(hop, ev.ids)
            if not apart and self.catalog.within_window(i, t, alone):
                keys.append(key)
                continue
            other = self._nearest_other(i, alone) if i in self._others else None
            if other is None:
                moved.append(i)
            elif other not in keys:
                keys.append(other)
        if moved:
            moved = [i for i in moved if self._index[i] not in keys]
        if len(keys) == 1 and first is not None and not moved:
            return first  # the usual event: one trace, near in time, nothing to move
        if not keys:
            primary = ev.message_id if ev.message_id in links else links[0]
            live = _Live(new_trace(self._free_key(primary, hop), hop, ev.flow, ev.partner),
                         pending=None)
            self._adopt(live)
        else:
            live = self._held(keys[0])
            for key in keys[1:]:
                other = self._held(key)
                if self.catalog.apart(live.trace.ids, other.trace.ids):
                    continue  # two messages, each joined by one of the event's IDs
                if len(live.trace.ids) + len(other.trace.ids) > self.catalog.max_trace_ids:
                    self._refuse(live.trace, other.trace)
                    continue
                live = self._merge_lives(live, other)
        for i in moved:
            self._hold_also(i, self._index[i])
            self._index[i] = live.trace.trace_key
        return live

    def _nearest_other(self, typed_id: str, trace: Trace) -> str | None:
        """Of the other traces in memory holding this ID (``_others``), the nearest in event
        time that joins ``trace`` by it, as ``_resolve`` takes the nearest stored one."""
        best: tuple[int, str] | None = None
        for key in self._others[typed_id]:
            if key not in self._live:
                continue
            other = self._held(key).trace
            if self.catalog.joins(typed_id, other, trace):
                gap = span_gap_ms(other, trace)
                if best is None or gap < best[0]:
                    best = (gap, key)
        return None if best is None else best[1]

    def _hold_also(self, typed_id: str, key: str) -> None:
        """Remember ``key`` as another holder of this ID than the one ``_index`` names;
        the oldest remembered drops out past ``MAX_OTHER_HOLDERS``."""
        others = self._others.get(typed_id, ())
        if key not in others:
            self._others[typed_id] = (*others, key)[-MAX_OTHER_HOLDERS:]

    def _rename_holder(self, ids: list[str], old: tuple[str, ...], key: str) -> None:
        """``_others`` entries of these IDs naming a key in ``old`` name ``key`` instead (a
        merge or a new key), dropped where ``_index`` names it already."""
        for i in ids:
            others = self._others.get(i)
            if others is None or not any(k in old for k in others):
                continue
            owner = self._index.get(i)
            renamed = tuple(dict.fromkeys(k for k in (key if k in old else k for k in others)
                                          if k != owner))
            if renamed:
                self._others[i] = renamed
            else:
                del self._others[i]

    def _free_key(self, primary: str, hop: Hop) -> str:
        """A new trace's key: its primary ID, unless a trace in memory has it (an earlier
        message with the same ID); then the ID at the event's time, as a replay makes it
        again. (One only in the store is found by ``_fold``, which renames this one.)"""
        if primary not in self._live:
            return primary
        key = f"{primary}@{ms_to_iso(hop.timestamp_ms)}"
        return key if key not in self._live else f"{key}/{hop.event_id}"

    def _rekey(self, live: _Live, key: str) -> None:
        """Move a trace never written to another key (its own was an earlier message's)."""
        old = live.trace.trace_key
        self._live.pop(old, None)
        live.trace.trace_key = key
        self._live[key] = live
        for i in live.trace.ids:
            if self._index.get(i) == old:
                self._index[i] = key
        if self._others:
            self._rename_holder(live.trace.ids, (old,), key)

    def _add_ids(self, live: _Live, ids: list[str], links: list[str]) -> None:
        """The event's IDs (``links``: those of them that join) not yet on the trace."""
        t = live.trace
        held = t.ids
        for i in ids:  # a loop over a few IDs, not a set: a message's later events mostly
            if i not in held:  # repeat its IDs, and this runs once per event
                break
        else:
            return
        known = set(held)
        key, owner = t.trace_key, self._index.get
        room = self.catalog.max_trace_ids - len(held)
        added: list[str] = []
        added_links: list[str] = []
        for i in ids:
            if i in known or owner(i, key) != key:
                continue  # already here, or another trace's (a merge was refused)
            if len(added) >= room:
                self._counts["ids_dropped"] += 1
                break
            added.append(i)
            known.add(i)
            if i in links:
                self._index[i] = key
                added_links.append(i)
        if added:
            t.ids = t.ids + added  # a new list of exactly this size (append over-allocates)
            if added_links and live.unchecked is not None:
                live.unchecked += tuple(added_links)
            self._touch(live)

    def _refuse(self, a: Trace, b: Trace) -> None:
        self._counts["merges_refused"] += 1
        log.warning("not merging two traces: together they would hold more than %d IDs "
                    "(ids.max_trace_ids); is a shared ID type missing from ids.labels?",
                    self.catalog.max_trace_ids,
                    extra={"trace_keys": [a.trace_key, b.trace_key]})

    def _touch(self, live: _Live) -> None:
        live.dirty = True
        self._list(live)

    def _list(self, live: _Live) -> None:
        if not live.listed:
            live.listed = True
            self._changed.append(live)

    def _adopt(self, live: _Live) -> None:
        """Take a trace into memory; its link IDs point at it, except those another trace in
        memory holds (a later message with a reused ID: ``_join`` moved them there)."""
        t = live.trace
        self._list(live)
        self._live[t.trace_key] = live
        index, held = self._index, self._live
        for i in t.ids:
            if self.catalog.is_link(i):
                owner = index.get(i)
                if owner is None or owner == t.trace_key or owner not in held:
                    index[i] = t.trace_key
                else:
                    self._hold_also(i, t.trace_key)

    def _forget(self, key: str, ids: list[str]) -> None:
        self._live.pop(key, None)
        others = self._others
        for i in ids:
            if self._index.get(i) == key:
                del self._index[i]
            if i in others:
                rest = tuple(k for k in others.pop(i) if k != key and k in self._live)
                if i not in self._index and rest:  # the latest other holder takes the ID
                    self._index[i], rest = rest[-1], rest[:-1]
                if rest:
                    others[i] = rest

    def _held(self, key: str) -> _Live:
        """The live trace under this key, unpacked when it was packed (in place: it keeps
        its place in the LRU order, and goes to the back of the packing queue)."""
        held = self._live[key]
        if type(held) is not bytes:
            return held
        trace, touched = packed.unpack(key, held)
        live = _Live(trace, known=True, dirty=False, touched=touched)
        self._live[key] = live
        self._enqueue(live)
        return live

    def _enqueue(self, live: _Live) -> None:
        live.queued += 1
        self._recent.append(live)

    def _pack_cold(self) -> None:
        """Pack the written traces beyond the HOT_TRACES most recent. Only a trace with
        nothing to write, re-apply or look up is packed: that is the one state ``_held``
        restores."""
        while len(self._recent) > HOT_TRACES:
            live = self._recent.popleft()
            live.queued -= 1
            key = live.trace.trace_key
            if (live.queued or live.listed or live.dirty or not live.known or live.pending
                    or live.pending is None or live.doomed or live.unchecked
                    or live.unchecked is None or self._live.get(key) is not live):
                continue
            blob = packed.pack(live.trace, live.touched)
            if blob is not None:
                self._live[key] = blob

    @staticmethod
    def _pending(live: _Live) -> tuple[Hop, ...]:
        return tuple(live.trace.hops) if live.pending is None else live.pending

    def _unchecked(self, live: _Live) -> tuple[str, ...]:
        if live.unchecked is not None:
            return live.unchecked
        return tuple(i for i in live.trace.ids if self.catalog.is_link(i))

    def _merge_lives(self, a: _Live, b: _Live) -> _Live:
        """One trace from two; its IDs (at most ``max_trace_ids``) point at the kept key."""
        self._counts["merges"] += 1
        self._live.pop(a.trace.trace_key, None)
        self._live.pop(b.trace.trace_key, None)
        # Spelled out before ``merge`` changes the traces in place.
        pending = None if a.pending is None and b.pending is None else (
            self._pending(a) + self._pending(b))
        unchecked = None if a.unchecked is None and b.unchecked is None else (
            self._unchecked(a) + self._unchecked(b))
        kept, gone = merge(a.trace, b.trace, max_hops=self.max_hops)
        out = _Live(kept, pending=pending, doomed=a.doomed + b.doomed, unchecked=unchecked,
                    known=a.known and b.known, dirty=True, touched=max(a.touched, b.touched))
        if gone.version is not None and gone.trace_key != kept.trace_key:
            out.doomed += (gone,)
        settle(kept, self.catalog.flow(kept.flow))
        self._adopt(out)
        if self._others:
            self._rename_holder(kept.ids, (a.trace.trace_key, b.trace.trace_key, gone.trace_key),
                                kept.trace_key)
        return out

    # ------------------------------------------------------------------ store

    def flush(self) -> None:
        """Write every changed trace. Raises StoreError (ConflictError after repeated lost
        races) with nothing lost: the pipeline retries and the pending hops are still here."""
        if self._fanouts:
            self._settle_changed()  # a scope ack skips traces answered already: by status
        self._fan_out()
        for _ in range(CONFLICT_ROUNDS):
            self._resolve()
            batch = [live for live in self._changed
                     if live.dirty and self._live.get(live.trace.trace_key) is live]
            if not batch:
                break
            self._settle(batch)
            conflicts: set[str] = set()
            try:
                self.store.upsert_traces([live.trace for live in batch],
                                         deleted=[d for live in batch for d in live.doomed])
            except ConflictError as exc:
                conflicts = set(exc.trace_keys)
                self._counts["conflicts"] += len(conflicts)
            for live in batch:
                # A set per trace only when something was lost: most flushes lose nothing.
                if conflicts and ({live.trace.trace_key, *(d.trace_key for d in live.doomed)}
                                  & conflicts):
                    self._rewind(live)
                else:
                    live.pending, live.doomed, live.dirty = (), (), False
            if not conflicts:
                break
        else:
            raise ConflictError("traces kept changing under this collector while it wrote "
                                "them; another collector writes the same messages")
        held = self._live
        for live in self._changed:  # all written and known
            live.listed = False
            if held.get(live.trace.trace_key) is live:
                self._enqueue(live)
        self._changed.clear()
        self._shrink()
        self._pack_cold()

    def _settle_changed(self) -> None:
        """``_settle`` of every trace changed since the last write."""
        self._settle([live for live in self._changed if live.dirty])

    def _settle(self, lives: list[_Live]) -> None:
        """Status, end and SLA of traces ``process`` changed. ``process`` leaves them to this:
        a message's events mostly come in one batch, and settling once per trace instead of
        once per event is half the calls. Whatever reads a status (the write, the sweep)
        settles first; settling a settled trace changes nothing."""
        for live in lives:
            settle(live.trace, self.catalog.flow(live.trace.flow))

    def _fan_out(self) -> None:
        """Apply each acknowledgement of a whole group or interchange to every trace holding
        its envelope ID: those in memory (found by a scan: such acks are rare, one per group)
        and those only in the store (taken into memory first, then written like any other).
        An ID shared by many messages cannot be a link, so this is the only way they meet."""
        if not self._fanouts:
            return
        wanted = sorted({i for ev in self._fanouts for i in ev.ids})
        # Acknowledgements: back to the documents they answer, forward by the clock skew.
        back, ahead = map(max, zip(*(self.catalog.reach_ms(i, acks_only=True)
                                     for i in wanted), strict=True))
        since = min(ev.timestamp_ms for ev in self._fanouts) - back
        until = max(ev.timestamp_ms for ev in self._fanouts) + ahead
        stored: list[Trace] = []
        for start in range(0, len(wanted), FETCH_CHUNK):
            self._counts["store_lookups"] += 1
            stored.extend(self.store.get_traces_by_ids(wanted[start:start + FETCH_CHUNK],
                                                       since_ms=since, until_ms=until))
        for t in sorted(stored, key=lambda t: (t.started_ms, t.trace_key)):
            # One not near the trace in memory holding its ID is another message (its ST
            # was reused since): taken in as it is, for the acknowledgement to answer.
            if t.trace_key in self._live:
                self._fold(t)
            elif not (any(i in self._index for i in t.ids) and self._fold(t)):
                self._adopt(_Live(t, known=True, dirty=False))
        now = time.monotonic()
        for ev in self._fanouts:
            self._counts["scope_acks"] += 1
            scope = set(ev.ids)
            # Documents the same acknowledgement answered one by one keep their own answer.
            answered = set(filter(None, ev.labels.get(ACK_EXCEPT_LABEL, "").split("\n")))
            ack = _one_hop(hop_from_event(ev), ev.ids)
            for key in list(self._live):
                held = self._live[key]
                ids = packed.ids(key, held) if type(held) is bytes else held.trace.ids
                if scope.isdisjoint(ids) or not answered.isdisjoint(ids):
                    continue
                live = self._held(key)
                t = live.trace
                if t.status in ("acknowledged", "rejected") or not any(
                        i in scope and self.catalog.joins(i, t, ack) for i in t.ids):
                    # answered already, or too long ago: an ack of a reused (wrapped) ISA or
                    # GS control number answers the new interchange, not one of last month
                    continue
                hop = hop_from_event(ev)  # one per trace: ordering sets its latency
                if self._add_hop(live, hop):
                    live.touched = now
                    settle(t, self.catalog.flow(t.flow))
                    self._counts["scope_ack_hops"] += 1
        self._fanouts = []

    def _near(self, a: Trace, b: Trace, ids: list[str]) -> bool:
        """Whether the two traces are one message by one of these shared IDs: holding it
        and near enough in event time (``Catalog.joins``)."""
        mine = set(b.ids)
        return any(i in mine and self.catalog.is_link(i) and self.catalog.joins(i, a, b)
                   for i in ids)

    def _rewind(self, live: _Live) -> None:
        """Back to the hops not yet written, to be joined again with fresh stored copies."""
        self._touch(live)
        if live.pending is None:  # never written: all of it is still to be written
            live.doomed, live.known, live.unchecked = (), False, None
            return
        old = live.trace
        t = Trace(trace_key=old.trace_key, ids=list(old.ids), started_ms=old.started_ms,
                  last_seen_ms=old.started_ms, flow=old.flow, partner=old.partner)
        add_hops(t, live.pending, max_hops=self.max_hops)
        settle(t, self.catalog.flow(t.flow))
        live.trace, live.doomed, live.known, live.unchecked = t, (), False, None

    def _resolve(self) -> None:
        """Fetch the stored traces sharing the IDs not yet checked, and fold them in."""
        fresh = [live for live in self._changed
                 if (live.unchecked is None or live.unchecked)
                 and self._live.get(live.trace.trace_key) is live]
        if not fresh:
            return
        # Only traces that can be near enough in time to join (``Catalog.joins``): an ID
        # reused daily for a year is held by hundreds of stored traces. Each ID reaches as
        # far as its own type's windows (``Catalog.reach_ms``), so a hard-coded ST02 on a
        # document looks back hours, not the week an acknowledgement may take; IDs with the
        # same reach share a look-up (a few kinds: a few round trips).
        # Per reach: [since, until, IDs]. A reach depends on the ID's type alone, so it is
        # asked of the catalog once per type (``_reach_of``): asked per ID it took a tenth
        # of the writer's time.
        spans: dict[tuple[int, int], list] = {}
        reach_of, evicted = self._reach_of, self._evicted
        for live in fresh:
            t = live.trace
            acks = bool(t.hops)
            for h in t.hops:  # a loop, not all(): once per new trace, and it ends at once
                if h.action not in ACK_ACTIONS:
                    acks = False
                    break
            started, last_seen = t.started_ms, t.last_seen_ms
            for i in self._unchecked(live):
                reach = reach_of.get((i.partition(":")[0], acks)) or self._reach_ms(i, acks)
                span = spans.get(reach)
                if span is None:
                    spans[reach] = span = [started, last_seen, set()]
                else:
                    if started < span[0]:
                        span[0] = started
                    if last_seen > span[1]:
                        span[1] = last_seen
                span[2].add(i)
                evicted_key = evicted.get(i)
                if evicted_key is not None:
                    span[2].add(evicted_key)
        found: dict[str, Trace] = {}
        for (back, ahead), (since, until, wanted) in spans.items():
            ordered = sorted(wanted)
            for start in range(0, len(ordered), FETCH_CHUNK):
                self._counts["store_lookups"] += 1
                for t in self.store.get_traces_by_ids(ordered[start:start + FETCH_CHUNK],
                                                      since_ms=since - back,
                                                      until_ms=until + ahead):
                    found[t.trace_key] = t
        for live in fresh:
            live.unchecked = ()
        # Nearest in time first: a trace joins the closest of the stored traces holding its
        # ID (an acknowledgement answers yesterday's document, not last week's that used the
        # same control number), and once joined, the farther ones are measured against it.
        for stored in sorted(found.values(), key=lambda t: (self._distance(t), t.started_ms,
                                                            t.trace_key)):
            self._fold(stored)
        for live in self._changed:  # any not known is here
            live.known = True
        for live in fresh:
            if not live.trace.hops and self._live.get(live.trace.trace_key) is live:
                self._forget(live.trace.trace_key, live.trace.ids)  # rewound with nothing pending and nothing stored

    def _reach_ms(self, typed_id: str, acks: bool) -> tuple[int, int]:
        """``Catalog.reach_ms``, remembered per ID type (types are few; a bound all the
        same)."""
        reach = self.catalog.reach_ms(typed_id, acks)
        if len(self._reach_of) < MAX_ID_TYPES:
            self._reach_of[(typed_id.partition(":")[0], acks)] = reach
        return reach

    def _owners(self, stored: Trace) -> dict[str, list[str]]:
        """Keys of the traces in memory holding the stored trace's IDs, each with those IDs
        (its own key first when it is in memory): per ID the trace ``_index`` names, or, where
        that one is another message's, the earlier holder ``_join`` would take
        (``_nearest_other``), never both: a stored 997 near two 850s that reused its ST
        folded both messages into one trace."""
        owners: dict[str, list[str]] = {}
        if stored.trace_key in self._live:
            owners[stored.trace_key] = []
        for i in stored.ids:
            k = self._index.get(i)
            if k is None:
                continue
            if (k != stored.trace_key and i in self._others
                    and not self._near(stored, self._held(k).trace, [i])):
                k = self._nearest_other(i, stored) or k
            owners.setdefault(k, []).append(i)
        return owners

    def _distance(self, stored: Trace) -> int:
        """Event time from a stored trace to the nearest trace in memory sharing an ID (0:
        memory holds a copy of it)."""
        gaps = []
        for k in self._owners(stored):
            live = self._held(k)
            own = k == stored.trace_key and not _unwritten(live)
            gaps.append(0 if own else span_gap_ms(stored, live.trace))
        return min(gaps, default=0)

    def _fold(self, stored: Trace) -> bool:
        """Join a stored trace with the traces in memory near it by a shared ID; False when
        none took it (another message's ID, or a search that no longer applies)."""
        held = self._held(stored.trace_key) if stored.trace_key in self._live else None
        if held is not None and held.known:
            if held.trace.version == stored.version:
                return True  # memory holds this very copy, plus its own news
            self._rewind(held)  # another writer moved it on: rebuild on the fresh copy
        if (held is not None and _unwritten(held)
                and not self._near(stored, held.trace, stored.ids)):
            # A new message whose ID keyed an older message's trace: it gets a key of its own.
            self._rekey(held, self._free_key(stored.trace_key, held.trace.hops[0]))
        lives = [self._held(k) for k, via in self._owners(stored).items()
                 if k == stored.trace_key or self._near(stored, self._held(k).trace, via)]
        if not lives:
            return False  # matched a search that no longer applies, or another message's
        total = len(set(stored.ids).union(*(live.trace.ids for live in lives)))
        if total > self.catalog.max_trace_ids:
            self._refuse(stored, lives[0].trace)
            return False
        live = _Live(stored, known=True, dirty=False)
        for other in lives:
            live = self._merge_lives(live, other)
        return True

    def _shrink(self) -> None:
        """Drop idle traces, then the least recently used beyond the cap, oldest first up to
        the first dirty one: after a write everything is clean, but the sweep calls this
        with traces not yet written (awaiting the next flush), which must stay. Their IDs
        are remembered (bounded) so that a quick return finds the stored copy by key.

        The victims are chosen in one pass and then removed: taking the oldest entry of a dict
        one at a time walks over the dead slots earlier removals left at its front, which made
        the spill path quadratic until the dict next resized."""
        horizon = time.monotonic() - self.idle_ttl_s
        excess = len(self._live) - self.max_in_flight
        victims: list[tuple[str, _Live | bytes, float]] = []
        for key, held in self._live.items():
            if type(held) is bytes:  # packed: written and clean
                touched = packed.touched(held)
            elif held.dirty:
                break
            else:
                touched = held.touched
            if touched >= horizon and len(victims) >= excess:
                break
            victims.append((key, held, touched))
        for key, held, touched in victims:
            self._counts["expired" if touched < horizon else "evicted"] += 1
            ids = packed.ids(key, held) if type(held) is bytes else held.trace.ids
            self._forget(key, ids)
            for i in ids:
                self._evicted.pop(i, None)
                self._evicted[i] = key
        for i in list(islice(self._evicted, max(0, len(self._evicted) - EVICTED_IDS))):
            del self._evicted[i]

    # ------------------------------------------------------------------ time

    def sweep(self, now_ms: int) -> list[Trace]:
        """Mark stuck the in-flight traces past their flow's SLA, in memory and in the store
        (traces nobody has sent an event about for a while live only there). Returns the
        traces newly marked."""
        stuck: list[Trace] = []
        due: list[str] = []
        self._settle_changed()
        for key, held in self._live.items():
            t = packed.summary(key, held) if type(held) is bytes else held.trace
            if overdue(t, self.catalog.flow(t.flow), now_ms):
                due.append(key)
        # Written (and packed again) a slice at a time: a million traces overdue at once
        # (after an outage) must not all be unpacked together.
        for start in range(0, len(due), SWEEP_SLICE):
            for key in due[start:start + SWEEP_SLICE]:
                if key in self._live:  # not evicted by the previous slice's write
                    live = self._held(key)
                    mark_stuck(live.trace)
                    self._touch(live)
                    stuck.append(live.trace)
            self.flush()
        stuck.extend(self._sweep_store(now_ms))
        self._counts["stuck_marked"] += len(stuck)
        self._shrink()
        return stuck

    def _sweep_store(self, now_ms: int) -> list[Trace]:
        """Stored in-flight traces, by SLA tier from the longest: any trace idle longer than
        the longest SLA is overdue whatever its flow, so every page makes progress."""
        tiers = sorted({self.catalog.unknown.sla_ms,
                        *(f.sla_ms for f in self.catalog.flows.values())}, reverse=True)
        marked: list[Trace] = []
        for tier in tiers:
            for _ in range(SWEEP_MAX_PAGES):
                page = self.store.open_traces(now_ms - tier, limit=SWEEP_PAGE)
                todo = [t for t in page if t.trace_key not in self._live
                        and overdue(t, self.catalog.flow(t.flow), now_ms)]
                for t in todo:
                    mark_stuck(t)
                try:
                    self.store.upsert_traces(todo)
                except ConflictError as exc:  # changed meanwhile: the next sweep looks again
                    todo = [t for t in todo if t.trace_key not in exc.trace_keys]
                marked.extend(todo)
                if len(page) < SWEEP_PAGE or not todo:
                    break
        return marked

    def stats(self) -> dict[str, int]:
        """For /metrics: what is held in memory and what happened to it."""
        return {"in_flight": len(self._live), "indexed_ids": len(self._index), **self._counts}
