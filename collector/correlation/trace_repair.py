"""Merge the traces that two collectors split one message into; the scale-out safety net.

Why it is needed: with several ``midwatch run`` processes in one consumer group, one message's
events land on different processes. Trace documents are written with optimistic concurrency
(``if_seq_no``/``if_primary_term``), and a collector looks a trace up by each of its IDs
before writing (search, then a real-time get by key). That merges correctly whenever a
process can see the other's trace. It cannot when both write at nearly the same moment: the
search is near-real-time (a trace written within the last refresh interval is invisible),
and a real-time get only finds a trace under its own key. Measured on the scale-out test
(2 processes, 4 partitions, the three events of each message on three partitions): about a
third of the messages came out as two traces, e.g. ``correlation:c-88`` holding two hops and
``order:88`` holding the third.

So each collector, on its sweep interval, asks the store for IDs that more than one trace
holds (a terms aggregation over recently seen traces) and merges those traces into one with
the same pure merge the correlator uses, written with the same optimistic concurrency: the
kept trace only if unchanged since read, the others deleted only if unchanged. A lost race
is left for the next round; collectors holding a stale copy in memory lose their next write
(ConflictError), re-read and fold. Traces therefore converge within one sweep interval after
the last event of a message. The window is the correlator's idle TTL by event time
(``last_seen``): the traces that collectors may still hold in memory; a backfill of old
events through several processes at once is outside it. Traces sharing an ID merge only where
the correlator would have joined them (``Catalog.joins``: near enough in event time), so the
traces of two messages that reused an ID stay two.

Several collectors on one store repair in turn, not all at once: a round runs only in the
holder of the ``trace-repair`` lease (``RepairLease``, the store's lease that also picks the
rule evaluator; its TTL is six sweep intervals, so a holder that died is replaced within
that). Every collector sees the same split traces; racing each other over them, two
processes doubled the searches and fetches and lost half of their merges to each other
(conflicts, merged again next round). Correctness never rests on the lease: merges stay
optimistic, so a holder paused past its TTL and its successor can both run a round safely.

A round takes up to ``MAX_SHARED_IDS`` shared IDs (most shared first) and merges them with
a few store calls whatever their number (the look-up in slices of ``LOOKUP_IDS``). At 500 a round, a scale-out bench that split 2,900
of 8,000 messages took six rounds (12 s at a 2 s sweep; at the default 30 s sweep a steady
split rate above 17 a second could never be repaired).

Stopping the second trace being created instead was tried and not kept (branch h-spread,
e92f062, reverted): each write claimed its traces' new link IDs (a state document per ID,
``op_type=create``), look-ups read the claims in real time, and a collector whose claim
another's existing trace had won joined that trace. On bench/scaleout_bench.py (20,000
spread messages, base and claims interleaved, 3 repetitions, load 14-20 on 2 cores) it cut
the messages split from a median 17% to 9%, but not the CPU: two processes spent x1.15 per
event of what they spent without claims, one process x1.06 (keyed: x1.10 one, x1.06 two), each
repetition's two-process run more than its base run; the claims cost a bulk request per
flush and a doubled real-time mget per look-up, and would pile up in the state index with
nothing to expire them. Each process still writes its part of every spread message.

The alternative design, re-keying normalized events by correlation key into an internal
topic, cannot work here: a message's events share no single key (the gateway event knows only
the correlation ID, the sink only the order number), and which IDs belong together is exactly
what correlation finds out.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from collector.correlation.catalog import Catalog
from collector.correlation.tracebuild import merge, settle
from collector.store.base import ConflictError, Store
from collector.store.paging import LeaseStore, lease_for
from collector.trace import Trace

log = logging.getLogger("midwatch.trace_repair")

# IDs examined per round (most shared first): a round must end; the next one continues.
# Its traces are held at once: about 3 a shared ID, a few MB at this size.
MAX_SHARED_IDS = 5000
# IDs per store look-up: a look-up's answer is capped (a page of 10,000 traces on
# Elasticsearch) and a shared ID has two holders or more.
LOOKUP_IDS = 1000
# IDs legitimately held by several messages (a request ID or ST02 reused days apart) are
# shared for good and sort first; re-read every round, past MAX_SHARED_IDS of them a real
# split was never examined. One whose holders the last look found apart (no two joined) is
# left out for this many rounds, then looked at again (a holder may have changed: a split of
# the newest message sharing only that ID). At most MAX_SETTLED_IDS are remembered.
SETTLED_ROUNDS = 20
MAX_SETTLED_IDS = 20_000
LEASE = "trace-repair"


class RepairLease:
    """Which collector on a store runs the repair rounds (see the module doc).

    The holder renews only once half of the TTL has passed, not every round: renewing is a
    real-time read and a write, and at a 2 s sweep that was most of an idle collector's sweep
    CPU (profiled). The others read the lease each round, and take it once it ran out."""

    def __init__(self, leases: LeaseStore, holder: str, ttl_ms: int):
        self.leases, self.holder, self.ttl_ms = leases, holder, ttl_ms
        self._renew_at_ms = 0  # held without asking the store until then

    def held(self, now_ms: int) -> bool:
        """True while this collector is the one that repairs (the lease taken or renewed)."""
        if now_ms < self._renew_at_ms:
            return True
        if self.leases.acquire(LEASE, self.holder, self.ttl_ms, now_ms) is None:
            self._renew_at_ms = 0
            return False
        self._renew_at_ms = now_ms + self.ttl_ms // 2
        return True


def repair_lease(store: Store, every_ms: int) -> RepairLease:
    """The lease of a collector that tries a round every ``every_ms``: held six rounds, so a
    holder that stopped is replaced within six sweep intervals.
    ``store`` may be the exporters' wrapper (``ExportingStore``): the lease is the store's."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return RepairLease(lease_for(getattr(store, "store", store)), holder, 6 * every_ms)


class TraceRepair:
    def __init__(self, catalog: Catalog, store: Store, *, window_ms: int,
                 lease: RepairLease | None = None):
        self.catalog, self.store, self.window_ms = catalog, store, window_ms
        self.lease = lease  # None: this collector repairs every round (it is alone)
        self.merged = 0
        self.conflicts = 0
        self.rounds = 0
        self._settled: dict[str, int] = {}  # shared ID found apart -> round it was

    def run(self, now_ms: int) -> int:
        """One round; the number of traces merged away. Raises StoreError (retried next round).

        A few store calls whatever the number of splits: the shared IDs, the traces holding
        them (in slices), and the writes (plus the lease, when collectors share the store). Kept traces
        are written first and the merged-away ones deleted only where their kept trace
        landed: a lost race never deletes hops it did not save."""
        if self.lease is not None and not self.lease.held(now_ms):
            return 0  # another collector repairs
        # Label IDs (an X12 interchange, a batch) are shared by many messages on purpose: not
        # even counted, else they fill the round's IDs and a real split is never looked at.
        catalog = self.catalog
        self.rounds += 1
        settled = {i: r for i, r in self._settled.items() if self.rounds - r < SETTLED_ROUNDS}
        shared = [i for i in self.store.shared_trace_ids(
            now_ms - self.window_ms, MAX_SHARED_IDS + len(settled), only_kinds=catalog.link_types,
            skip_kinds=() if catalog.link_types is not None else catalog.label_types)
            if catalog.is_link(i) and i not in settled][:MAX_SHARED_IDS]
        self._settled = settled
        if not shared:
            return 0
        since = now_ms - self.window_ms - self.catalog.max_join_window_ms
        # In slices: a store's look-up answers at most a page of traces (10,000 on
        # Elasticsearch, the oldest cut), and 5,000 IDs of two or more holders each were cut
        # every round.
        traces = list({t.trace_key: t for start in range(0, len(shared), LOOKUP_IDS)
                       for t in self.store.get_traces_by_ids(
                           shared[start:start + LOOKUP_IDS], since_ms=since)}.values())
        groups = _connected(traces, self.catalog)
        self._settle(shared, traces, groups)
        merges = [self._merge(group) for group in groups if 1 < len(group)
                  and len({i for t in group for i in t.ids}) <= self.catalog.max_trace_ids]
        if not merges:
            return 0
        lost: set[str] = set()
        try:
            self.store.upsert_traces([kept for kept, _ in merges])
        except ConflictError as exc:
            lost = set(exc.trace_keys)  # a collector wrote it meanwhile: next round
            self.conflicts += len(lost)
        gone = [t for kept, away in merges if kept.trace_key not in lost for t in away]
        try:
            self.store.upsert_traces([], deleted=gone)
        except ConflictError as exc:
            # Changed since read: its news are in no kept trace yet; it stays, and the next
            # round merges it again (hops are keyed by event ID, so nothing counts twice).
            self.conflicts += len(exc.trace_keys)
            gone = [t for t in gone if t.trace_key not in exc.trace_keys]
        if gone:
            log.info("merged traces split across collectors", extra={"merged": len(gone)})
        self.merged += len(gone)
        return len(gone)

    def _settle(self, shared: list[str], traces: list[Trace], groups: list[list[Trace]]) -> None:
        """Remember the shared IDs no two of whose holders joined (``SETTLED_ROUNDS``): only
        those seen with two holders or more, so one whose other half a look-up left out (a
        cut page, a holder out of the time bound) is looked at again next round."""
        joined = {i for group in groups if len(group) > 1 for i in _ids_of_two(group)}
        apart = _ids_of_two(traces)
        for i in shared:
            if i in apart and i not in joined and len(self._settled) < MAX_SETTLED_IDS:
                self._settled[i] = self.rounds

    def _merge(self, traces: list[Trace]) -> tuple[Trace, list[Trace]]:
        ordered = sorted(traces, key=lambda t: (t.started_ms, t.trace_key))
        kept, gone = ordered[0], []
        for other in ordered[1:]:
            kept, away = merge(kept, other)
            gone.append(away)
        settle(kept, self.catalog.flow(kept.flow))
        return kept, gone


def _union(a: Trace, b: Trace) -> Trace:
    """What ``Catalog.joins`` reads of two traces taken as one: IDs (for ``apart``), span
    and hops."""
    return Trace(trace_key=a.trace_key, ids=_merged_ids(a.ids, b.ids), started_ms=min(a.started_ms, b.started_ms),
                 last_seen_ms=max(a.last_seen_ms, b.last_seen_ms), hops=[*a.hops, *b.hops])


def _merged_ids(a: list[str], b: list[str]) -> list[str]:
    """``a`` and the IDs of ``b`` not in it."""
    seen = set(a)
    return [*a, *(i for i in b if i not in seen)]


def _ids_of_two(group: list[Trace]) -> set[str]:
    """IDs held by more than one trace of a group."""
    seen: set[str] = set()
    twice: set[str] = set()
    for t in group:
        for i in t.ids:
            (twice if i in seen else seen).add(i)
    return twice


def _connected(traces: list[Trace], catalog: Catalog) -> list[list[Trace]]:
    """Traces grouped by shared link IDs (transitively) where they are near enough in time
    to join (``Catalog.joins``, in time order per ID): each group is one message."""
    parent = list(range(len(traces)))
    # Each group's IDs, kept at its root: groups also meet through other IDs, and two that
    # hold two messages' IDs (``one_per_message``) stay apart whichever ID would link them.
    group_ids = [t.ids for t in traces]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    holders: dict[str, list[int]] = {}
    for i, trace in enumerate(traces):
        for typed_id in filter(catalog.is_link, trace.ids):
            holders.setdefault(typed_id, []).append(i)
    def link(a: int, b: int) -> bool:
        ra, rb = root(a), root(b)
        if ra == rb:
            return True
        if catalog.apart(group_ids[ra], group_ids[rb]):
            return False
        parent[rb] = ra
        group_ids[ra] = _merged_ids(group_ids[ra], group_ids[rb])
        return True

    for typed_id, held in holders.items():
        held.sort(key=lambda i: (traces[i].started_ms, traces[i].trace_key))
        # Each holder joins the one before it in time when near enough; the run is the
        # union of its traces, span and hops (a long message is measured by its last event;
        # a document and its ack are not an ack alone, which an early ack's skew would join).
        run = traces[held[0]]
        for prev, i in zip(held, held[1:], strict=False):
            if catalog.joins(typed_id, run, traces[i]) and link(prev, i):
                run = _union(run, traces[i])
            else:
                run = traces[i]
    groups: dict[int, list[Trace]] = {}
    for i, trace in enumerate(traces):
        groups.setdefault(root(i), []).append(trace)
    return list(groups.values())
