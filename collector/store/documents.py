"""The documents both stores write, beyond ``to_doc``: what they add and how they key them.

Shared so that a trace, dead letter or alert found in SQLite looks exactly like the one found
in Elasticsearch, and so both key them the same way (replays overwrite, never duplicate).
"""

from __future__ import annotations

import hashlib
import time

from collector.event import iso_to_ms, ms_to_iso
from collector.store.base import Filter, TraceQuery
from collector.trace import Trace


def bare_id(typed: str) -> str:
    """``order:4711`` -> ``4711``; an ID without a type stays as it is."""
    _, sep, value = typed.partition(":")
    return value if sep else typed


def trace_doc(trace: Trace) -> dict:
    doc = trace.to_doc()
    # ``bare_id`` of each, inlined (a call per ID of every trace write): find's -1 for an
    # ID without a type slices from 0, the whole ID.
    doc["id_values"] = sorted({i[i.find(":") + 1:] for i in trace.ids})
    return doc


# Dead letters of one time (one read shares its ``@timestamp``) are listed in this order on
# every store, ascending: keywords compared as UTF-8 bytes (SQLite's BINARY, Lucene's terms).
DEADLETTER_TIES = ("source", "stage", "kind")


def deadletter_key(doc: dict) -> str:
    """Same record, same reason -> same key, so a replayed poison record is kept once."""
    raw = "\x1f".join(str(doc.get(k, "")) for k in ("source", "stage", "reason", "raw"))
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def alert_doc(doc: dict) -> tuple[int, dict]:
    """(time ms, document with an ISO ``@timestamp``): alert history is searched by time, so a
    document without one is stamped now; epoch-ms stamps are accepted and normalized."""
    stamp = doc.get("@timestamp")
    if stamp is None:
        ms = now_ms()
    elif isinstance(stamp, int | float) and not isinstance(stamp, bool):
        ms = int(stamp)
    elif isinstance(stamp, str):
        try:
            ms = iso_to_ms(stamp)
        except ValueError:
            raise ValueError(f"alert @timestamp {stamp!r} is not ISO-8601 or epoch ms") from None
    else:
        raise ValueError(f"alert @timestamp {stamp!r} is not ISO-8601 or epoch ms")
    return ms, {**doc, "@timestamp": ms_to_iso(ms)}


def trace_filters(query: TraceQuery) -> list[Filter]:
    """A ``search_traces`` query as filters, so both stores run it through their query
    translation instead of a second hand-written query."""
    wanted = {"flow": query.flow, "partner": query.partner, "status": query.status,
              "stages": query.stage}
    return [Filter(name, "eq", value) for name, value in wanted.items() if value is not None]
