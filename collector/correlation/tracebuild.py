"""Trace arithmetic: hops in, counts and status out, with no I/O.

The correlator keeps traces in memory, in the store, and after a lost write race rebuilds them
from a fresh copy plus the hops it had not yet written; all three paths go through these
functions, so a trace comes out the same whichever way it was assembled.

Hops are capped per trace (a retry storm must not grow one document without bound) while the
counts stay exact: a trace's ``hop_count``/``error_count``/``retry_count`` are always "the
counts of the hops it still holds plus those of the hops it dropped", and adding or merging
only ever adds the increment computed on the hops at hand.
"""

from __future__ import annotations

import hashlib
import sys
from bisect import bisect_right
from collections.abc import Iterable
from operator import attrgetter

from collector.correlation.catalog import UNKNOWN_FLOW, Flow
from collector.event import Event
from collector.trace import Hop, Trace

MAX_HOPS = 200
MAX_ERROR_CHARS = 500
# Distinct stage sequences shared between traces: a million in-flight traces hold a handful
# of them (the flows' stages in the orders they are reached), and a tuple of their own each
# cost 64 bytes a trace. Bounded: past the cap a new sequence is simply not shared.
MAX_SHARED_STAGES = 10_000
_shared_stages: dict[tuple[str, ...], tuple[str, ...]] = {}
_hop_time = attrgetter("timestamp_ms")


def _share(stages: tuple[str, ...]) -> tuple[str, ...]:
    found = _shared_stages.get(stages)
    if found is not None:
        return found
    if len(_shared_stages) < MAX_SHARED_STAGES:
        _shared_stages[stages] = stages
    return stages


def hop_from_event(ev: Event) -> Hop:
    error = ev.error_message or (ev.message if ev.outcome == "failure" else None)
    return Hop(
        stage=ev.stage,
        # Interned: a parser makes a new string per event, and in-flight traces hold their
        # hops in memory (a million traces, a handful of service names).
        service=sys.intern(ev.service) if ev.service else ev.service,
        platform=ev.platform,
        timestamp_ms=ev.timestamp_ms,
        outcome=ev.outcome,
        event_id=ev.id or _content_id(ev),
        action=ev.action,
        error_class=ev.error_class if ev.outcome == "failure" else None,
        error_message=error[:MAX_ERROR_CHARS] if error else None,
    )


def _content_id(ev: Event) -> str:
    """Events from inputs always carry an ID; one built by hand may not, and without an ID
    replaying it would add the same hop twice."""
    raw = f"{ev.timestamp_ms}\x1f{ev.dataset}\x1f{ev.service}\x1f{ev.message}"
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def new_trace(key: str, hop: Hop, flow: str | None, partner: str | None) -> Trace:
    return Trace(trace_key=key, ids=[], started_ms=hop.timestamp_ms,
                 last_seen_ms=hop.timestamp_ms, flow=flow or UNKNOWN_FLOW, partner=partner)


def retries(hops: Iterable[Hop]) -> int:
    """Retries seen in these hops. A retry shows as an explicit ``retried`` event, or as the
    same step (stage and action) happening again; platforms that log both describe one retry
    twice, so per stage the larger of the two counts is taken. Plain log lines (``logged``)
    at one stage are not steps repeated: a Boomi process log writes one per shape, a Mule
    flow one per logger, and counting them made every such trace a retry storm.

    Plain dicts filled only when something repeats: this runs twice per added hop, and most
    traces never retry."""
    markers: dict[str | None, int] = {}
    repeats: dict[str | None, int] = {}
    seen: set[tuple[str, str | None]] = set()
    for h in hops:
        if h.action == "retried":
            markers[h.stage] = markers.get(h.stage, 0) + 1
        elif h.stage is not None and h.action != "logged":
            step = (h.stage, h.action)
            if step in seen:
                repeats[h.stage] = repeats.get(h.stage, 0) + 1
            else:
                seen.add(step)
    if not markers and not repeats:
        return 0
    return sum(max(markers.get(s, 0), repeats.get(s, 0)) for s in markers.keys() | repeats.keys())


def errors(hops: Iterable[Hop]) -> int:
    return sum(h.outcome == "failure" for h in hops)


def add_hops(trace: Trace, hops: Iterable[Hop], *, max_hops: int = MAX_HOPS) -> list[Hop]:
    """Add the hops not already in the trace (by event ID, so replays change nothing);
    returns the ones added."""
    seen = {h.event_id for h in trace.hops}
    new: list[Hop] = []
    for h in hops:
        if h.event_id not in seen:
            seen.add(h.event_id)
            new.append(h)
    if not new:
        return new
    combined = trace.hops + new
    trace.hop_count += len(new)
    trace.error_count += errors(new)
    trace.retry_count += retries(combined) - retries(trace.hops)
    trace.dead_lettered = trace.dead_lettered or any(h.action == "dead_lettered" for h in new)
    _set_hops(trace, combined, max_hops)
    return new


def add_hop(trace: Trace, hop: Hop, *, max_hops: int = MAX_HOPS) -> bool:
    """``add_hops`` of one hop (the correlator's case, once per event); True when added.

    A hop that comes last in time to a trace that never dropped hops is appended without
    re-deriving the trace from all its hops: nothing before it changes, and the stages are
    those of its hops in order followed by the others (``_set_hops``). Half the cost of
    ``add_hops``; the same result (tests/unit/test_tracebuild.py compares them). One that
    comes earlier (a message's hops are read from several files side by side) gets its counts
    computed here, since they do not depend on order; at no stage it is put in its place by
    ``_insert`` (34% of the hops of bench/e2e_bench.py --lines 30000; the rest were
    appended), at a stage by ``_set_hops``, since it may reorder the stages."""
    hops = trace.hops
    for h in hops:
        if h.event_id == hop.event_id:
            return False
    if len(hops) >= max_hops or trace.hop_count != len(hops):
        return bool(add_hops(trace, [hop], max_hops=max_hops))
    trace.hop_count += 1
    trace.retry_count += _retries_added(hops, hop)
    trace.dead_lettered = trace.dead_lettered or hop.action == "dead_lettered"
    if hops and hop.timestamp_ms < hops[-1].timestamp_ms:
        trace.error_count += hop.outcome == "failure"
        if hop.stage is None:
            _insert(trace, hops, hop)
        else:  # where it goes may reorder the stages: derived again
            _set_hops(trace, [*hops, hop], max_hops)
        return True
    combined = [*hops, hop]
    if hop.outcome == "failure":
        trace.error_count += 1
        trace.last_error = {"class": hop.error_class, "message": hop.error_message,
                            "stage": hop.stage}
    if hops:
        hop.latency_ms = hop.timestamp_ms - hops[-1].timestamp_ms
    else:
        hop.latency_ms = None
        trace.started_ms = min(trace.started_ms, hop.timestamp_ms)
    trace.last_seen_ms = max(trace.last_seen_ms, hop.timestamp_ms)
    stage = hop.stage
    if stage is not None and not any(h.stage == stage for h in hops):
        reached = len({h.stage for h in hops if h.stage is not None})
        rest = trace.stages[reached:]
        trace.stages = _share((*trace.stages[:reached], stage,
                               *(s for s in rest if s != stage)))
    trace.hops = combined
    return True


def _insert(trace: Trace, hops: list[Hop], hop: Hop) -> None:
    """``_set_hops`` of ``hops`` (ordered, under the cap) plus one at no stage that is earlier
    than the last: put in its place, only its own latency and the next hop's change. An
    NGINX access log stamps whole seconds, so its hop usually lands before the same second's
    hops of other platforms (a third of the events in bench/e2e_bench.py take this path), and
    ordering and deriving every hop again cost more than all the rest of the event's join."""
    at = bisect_right(hops, hop.timestamp_ms, key=_hop_time)  # after equal times: arrival order
    after = hops[at]
    hop.latency_ms = None if at == 0 else hop.timestamp_ms - hops[at - 1].timestamp_ms
    after.latency_ms = after.timestamp_ms - hop.timestamp_ms
    if at == 0:
        trace.started_ms = min(trace.started_ms, hop.timestamp_ms)
    if hop.outcome == "failure" and all(h.outcome != "failure" for h in hops[at:]):
        trace.last_error = {"class": hop.error_class, "message": hop.error_message,
                            "stage": hop.stage}
    trace.hops = [*hops[:at], hop, *hops[at:]]


def _retries_added(hops: list[Hop], hop: Hop) -> int:
    """``retries(hops + [hop]) - retries(hops)`` from the hops at the new hop's stage alone:
    retries are counted per stage, in any order, and a hop that is neither a ``retried``
    marker nor a step at a named stage adds none (most hops: it is not worth a pass)."""
    if hop.action != "retried" and (hop.stage is None or hop.action == "logged"):
        return 0
    same = [h for h in hops if h.stage == hop.stage]
    return retries([*same, hop]) - retries(same)


def merge(a: Trace, b: Trace, *, max_hops: int = MAX_HOPS) -> tuple[Trace, Trace]:
    """Two traces that turned out to be one message: (kept, merged away).

    The earlier-started trace keeps its key, so a key never moves to a later ID; on a tie a
    stored trace beats one not yet written (a replay must not rename what it finds), then the
    lexically smaller key wins. ``kept`` is ``a`` or ``b``, updated in place.
    """
    keep, gone = (a, b) if _rank(a) <= _rank(b) else (b, a)
    dropped_hops = keep.hop_count - len(keep.hops) + gone.hop_count - len(gone.hops)
    dropped_errors = keep.error_count - errors(keep.hops) + gone.error_count - errors(gone.hops)
    dropped_retries = (keep.retry_count - retries(keep.hops)
                       + gone.retry_count - retries(gone.hops))
    ids = set(keep.ids)
    keep.ids.extend(i for i in gone.ids if i not in ids)
    seen = {h.event_id for h in keep.hops}
    combined = keep.hops + [h for h in gone.hops if h.event_id not in seen]
    keep.hop_count = dropped_hops + len(combined)
    keep.error_count = dropped_errors + errors(combined)
    keep.retry_count = dropped_retries + retries(combined)
    keep.dead_lettered = keep.dead_lettered or gone.dead_lettered
    if keep.flow == UNKNOWN_FLOW:
        keep.flow = gone.flow
    keep.partner = keep.partner or gone.partner
    if keep.trace_key == gone.trace_key and keep.version is None:
        keep.version = gone.version  # the same document: whichever copy came from the store
    if gone.status == "stuck":
        keep.status = "stuck"
    keep.stages = _share(keep.stages + tuple(s for s in gone.stages if s not in keep.stages))
    keep.started_ms = min(keep.started_ms, gone.started_ms)
    keep.last_seen_ms = max(keep.last_seen_ms, gone.last_seen_ms)
    _set_hops(keep, combined, max_hops)
    return keep, gone


def _rank(t: Trace) -> tuple[int, bool, str]:
    return t.started_ms, t.version is None, t.trace_key


def _set_hops(trace: Trace, hops: list[Hop], max_hops: int) -> None:
    """Order (stable: same-millisecond hops keep arrival order), cap, and derive from the
    hops what depends on them."""
    hops.sort(key=lambda h: h.timestamp_ms)
    failures = [h for h in hops if h.outcome == "failure"]
    if failures:
        last = failures[-1]
        trace.last_error = {"class": last.error_class, "message": last.error_message,
                            "stage": last.stage}
    trace.started_ms = min(trace.started_ms, hops[0].timestamp_ms)
    trace.last_seen_ms = max(trace.last_seen_ms, hops[-1].timestamp_ms)
    reached = [h.stage for h in hops if h.stage is not None]
    stages = tuple(dict.fromkeys(reached))
    trace.stages = _share(stages + tuple(s for s in trace.stages if s not in stages))
    if len(hops) > max_hops:
        # The first hops say how it began, the last how it ends; a storm in between is
        # summarised by the counts.
        head = max_hops // 2
        hops = hops[:head] + hops[len(hops) - (max_hops - head):]
    previous: int | None = None
    for h in hops:
        h.latency_ms = None if previous is None else h.timestamp_ms - previous
        previous = h.timestamp_ms
    trace.hops = hops


def settle(trace: Trace, flow: Flow) -> None:
    """Status, end and SLA from the hops: the latest hop at a terminal stage decides (so a
    failure retried into a success ends ``completed``), a ``retried`` hop after a terminal
    failure reopens the trace, a dead-lettered message has failed, and ``stuck`` (set by the
    sweep) holds until a terminal stage is reached.

    A retry that itself reached a terminal stage decides like any other hop there: Boomi's
    execution record of a successful retry is both ``retried`` (``originalExecutionId``) and
    the process's completion, and reading it only as a reopening left the trace stuck."""
    trace.sla_ms = flow.sla_ms
    status, ended = None, None
    for h in reversed(trace.hops):
        kind = flow.terminal(h.stage)
        if status is None and h.action == "retried" and kind is None:
            status = "reopened"
            continue
        if kind is None:
            continue
        if kind == "failure" and status == "reopened":
            break
        ended = h.timestamp_ms
        if kind == "success":
            status = "completed"
        elif kind == "failure":
            status = "failed"
        else:
            status = "rejected" if h.action == "rejected" or h.outcome == "failure" \
                else "acknowledged"
        break
    if status in (None, "reopened"):
        status, ended = _open_status(trace, flow)
    trace.status, trace.ended_ms = status, ended
    if ended is not None:
        trace.sla_breached = ended - trace.started_ms > flow.sla_ms


def _open_status(trace: Trace, flow: Flow) -> tuple[str, int | None]:
    if trace.dead_lettered:
        dead = [h.timestamp_ms for h in trace.hops if h.action == "dead_lettered"]
        return "failed", (dead[-1] if dead else trace.last_seen_ms)
    if not flow.stages and trace.hops and trace.hops[-1].outcome == "failure":
        return "failed", trace.hops[-1].timestamp_ms  # nothing says whether it went on
    return ("stuck" if trace.status == "stuck" else "in_flight"), None


def overdue(trace: Trace, flow: Flow, now_ms: int) -> bool:
    """In flight past its SLA: the sweep marks it stuck."""
    return trace.status == "in_flight" and now_ms - trace.started_ms > flow.sla_ms


def mark_stuck(trace: Trace) -> None:
    trace.status = "stuck"
    trace.sla_breached = True
