"""A clean in-memory trace packed into one ``bytes``: how the correlator holds a million.

A trace held as objects costs about 950 bytes a message (the Trace, its _Live, a Hop, two
lists, the event ID string, boxed ints), most of it object headers. Once a trace is written
and has not been touched for a while, nothing about it changes until its next event, so it is
kept as one bytes object instead: fixed-width fields through ``struct``, the few strings that
repeat across traces (flow, status, stage, service, platform, outcome, action, error class,
the shared stage sequence) as 2-byte codes into a bounded table, 32-hex event IDs as their 16
bytes, and whatever else (the trace's other IDs, error messages, a value out of range for its
field) marshalled at the end. About 160 bytes for a one-hop trace.

Only a trace with nothing pending is packed, so the packed form has exactly one correlator
state (known, clean, nothing to re-apply); ``unpack`` gives back an equal Trace
(tests/unit/test_correlation_packed.py checks it on generated traces). ``pack`` returns None
for anything it cannot represent exactly (a value out of its field's range, a last_error of
another shape, a version that is not one or two ints), and the caller keeps that trace as
objects: packing saves memory, it never decides what a trace holds.
"""

from __future__ import annotations

import marshal
import struct
from typing import NamedTuple

from collector.trace import Hop, Trace

# touched, started_ms, last_seen and ended as deltas from it, sla_ms, the three counts,
# flags, five words (flow, partner, status, stages, last_error class), version kind and its
# two ints, key position among the IDs, hop count.
_HEAD = struct.Struct("<dqiiiIIIB5HBqqHH")
# timestamp (delta from the trace's start), latency, six words (stage, service, platform,
# outcome, action, error class), event ID kind.
_HOP = struct.Struct("<ii6HB")
_NONE_I32 = -(2**31)  # an absent ended_ms, sla_ms or latency_ms
_INLINE = 0xFFFF  # the value is the next of the marshalled extras
_NO_VERSION, _INT_VERSION, _PAIR_VERSION = 0, 1, 2
_HEX_ID, _OTHER_ID = 1, 0
_SLA_BREACHED, _DEAD_LETTERED, _HAS_ERROR = 1, 2, 4
_HEX = frozenset("0123456789abcdef")

# Codes of the values that repeat across traces. Bounded: past the cap a new value is stored
# inline in each trace instead (bigger, still exact). Code 0 is None.
MAX_WORDS = 0xFFFE
_words: list[object] = [None]
_codes: dict[object, int] = {None: 0}


def _code(value: object, extras: list[object]) -> int:
    code = _codes.get(value) if isinstance(value, str | tuple) or value is None else None
    if code is not None:
        return code
    if isinstance(value, str | tuple) and len(_words) < MAX_WORDS:
        _codes[value] = code = len(_words)
        _words.append(value)
        return code
    extras.append(value)
    return _INLINE


def _version(version: object) -> tuple[int, int, int] | None:
    if version is None:
        return _NO_VERSION, 0, 0
    if type(version) is int:
        return _INT_VERSION, version, 0
    if (type(version) is tuple and len(version) == 2
            and all(type(v) is int for v in version)):
        return _PAIR_VERSION, version[0], version[1]
    return None


def pack(trace: Trace, touched: float) -> bytes | None:
    """The trace and the time of its last event as bytes; None when it cannot be packed
    exactly (then it stays as objects)."""
    try:
        key_pos = trace.ids.index(trace.trace_key)
    except ValueError:
        return None
    version = _version(trace.version)
    last_error = trace.last_error
    if version is None or (last_error is not None
                           and (type(last_error) is not dict or len(last_error) != 3
                                or last_error.keys() != {"class", "message", "stage"})):
        return None
    extras: list[object] = [tuple(i for n, i in enumerate(trace.ids) if n != key_pos)]
    started = trace.started_ms
    flags = ((trace.sla_breached is True) * _SLA_BREACHED
             | (trace.dead_lettered is True) * _DEAD_LETTERED
             | (last_error is not None) * _HAS_ERROR)
    if type(trace.sla_breached) is not bool or type(trace.dead_lettered) is not bool:
        return None
    try:
        parts = [_HEAD.pack(
            touched, started, trace.last_seen_ms - started,
            _NONE_I32 if trace.ended_ms is None else trace.ended_ms - started,
            _NONE_I32 if trace.sla_ms is None else trace.sla_ms,
            trace.hop_count, trace.error_count, trace.retry_count, flags,
            _code(trace.flow, extras), _code(trace.partner, extras),
            _code(trace.status, extras), _code(trace.stages, extras),
            _code(last_error["class"] if last_error else None, extras),
            *version, key_pos, len(trace.hops))]
        if last_error is not None:
            extras += (last_error["message"], last_error["stage"])
        for h in trace.hops:
            hex_id = (len(h.event_id) == 32 and type(h.event_id) is str
                      and _HEX.issuperset(h.event_id))
            parts.append(_HOP.pack(
                h.timestamp_ms - started,
                _NONE_I32 if h.latency_ms is None else h.latency_ms,
                _code(h.stage, extras), _code(h.service, extras), _code(h.platform, extras),
                _code(h.outcome, extras), _code(h.action, extras),
                _code(h.error_class, extras), _HEX_ID if hex_id else _OTHER_ID))
            if hex_id:
                parts.append(bytes.fromhex(h.event_id))
            else:
                extras.append(h.event_id)
            extras.append(h.error_message)
        parts.append(marshal.dumps(tuple(extras)))
    except (struct.error, ValueError, OverflowError, TypeError):
        return None  # a value out of its field's range or not marshallable: stay as objects
    return b"".join(parts)


class Summary(NamedTuple):
    """What the SLA sweep reads of every trace held (``tracebuild.overdue``)."""

    status: str
    flow: str
    started_ms: int


def summary(key: str, blob: bytes) -> Summary:
    """Status, flow and start of a packed trace, read from its head alone when they are
    coded (the sweep looks at every trace in memory, a million of them)."""
    fields = _HEAD.unpack_from(blob)
    flow, status = fields[9], fields[11]
    if flow == _INLINE or status == _INLINE:
        trace = unpack(key, blob)[0]
        return Summary(trace.status, trace.flow, trace.started_ms)
    return Summary(_words[status], _words[flow], fields[1])


def ids(key: str, blob: bytes) -> list[str]:
    """The trace's IDs without building its hops (eviction and the group-ack scan read only
    these)."""
    fields = _HEAD.unpack_from(blob)
    key_pos, at = fields[-2], _HEAD.size
    for _ in range(fields[-1]):
        at += _HOP.size + (16 if blob[at + _HOP.size - 1] == _HEX_ID else 0)
    others = marshal.loads(blob[at:])[0]
    return [*others[:key_pos], key, *others[key_pos:]]


def touched(blob: bytes) -> float:
    """When the packed trace last saw an event, without unpacking it."""
    return struct.unpack_from("<d", blob)[0]


def unpack(key: str, blob: bytes) -> tuple[Trace, float]:
    """(the trace, the time of its last event) from ``pack``'s bytes; ``key`` is its trace
    key (the dict key it is held under, so not stored twice)."""
    (when, started, last_seen, ended, sla, hop_count, error_count, retry_count, flags, flow,
     partner, status, stages, error_class, vkind, v1, v2, key_pos, n_hops) = \
        _HEAD.unpack_from(blob)
    at = _HEAD.size
    hops_at: list[tuple] = []
    for _ in range(n_hops):
        fields = _HOP.unpack_from(blob, at)
        at += _HOP.size
        if fields[-1] == _HEX_ID:
            hops_at.append((fields, blob[at:at + 16].hex()))
            at += 16
        else:
            hops_at.append((fields, None))
    extras = iter(marshal.loads(blob[at:]))
    words = _words

    def word(code: int) -> object:
        return next(extras) if code == _INLINE else words[code]

    others = next(extras)
    ids = [*others[:key_pos], key, *others[key_pos:]]
    trace = Trace(
        trace_key=key, ids=ids, started_ms=started, last_seen_ms=started + last_seen,
        flow=word(flow), partner=word(partner), status=word(status),
        ended_ms=None if ended == _NONE_I32 else started + ended,
        hop_count=hop_count, error_count=error_count, retry_count=retry_count,
        stages=word(stages), sla_ms=None if sla == _NONE_I32 else sla,
        sla_breached=bool(flags & _SLA_BREACHED), dead_lettered=bool(flags & _DEAD_LETTERED),
        version=None if vkind == _NO_VERSION else v1 if vkind == _INT_VERSION else (v1, v2))
    error_class = word(error_class)
    if flags & _HAS_ERROR:
        trace.last_error = {"class": error_class, "message": next(extras),
                            "stage": next(extras)}
    hops = []
    for (ts, latency, stage, service, platform, outcome, action, hop_error, _), event_id \
            in hops_at:
        hop = Hop(stage=word(stage), service=word(service), platform=word(platform),
                  timestamp_ms=started + ts, outcome=word(outcome),
                  event_id="" if event_id is None else event_id, action=word(action),
                  latency_ms=None if latency == _NONE_I32 else latency,
                  error_class=word(hop_error))
        if event_id is None:
            hop.event_id = next(extras)
        hop.error_message = next(extras)
        hops.append(hop)
    trace.hops = hops
    return trace, when
