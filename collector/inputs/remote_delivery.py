"""A shipper input's ``Delivery`` (``collector.shipping``) living in a parse worker.

The syslog and http inputs parse what shippers send, which is most of the CPU an event costs
them. In the collector's process that shares the interpreter lock with the writer (and the
listener threads), so those inputs were held to the rate of one core shared with everything
else, while the file input parses in a worker process (``collector.inputs.parse_worker``).
``RemoteDelivery`` gives them the same offload: the same methods as ``Delivery`` (those the
inputs call), each one request to the worker, whose ``Delivery`` keeps the sources, their
open records and the IDs' numbering across requests exactly as the local one does. The
input thread meanwhile waits without holding the lock.

The envelopes come off here, in the input's process (``Delivery.envelopes``), and only the
lines with where the shipper read them go over (``Shipped``'s fields), as one flat tuple a
message with its source, position and ingested time: ``Shipped`` and ``Record`` objects
pickle at twice the cost (3.5 against 1.9 µs a line, measured). The two processes share
the work, as the file input's reading and parsing are shared, instead of the worker doing
all of it. The worker's clock is the parent's (``time.monotonic`` is system-wide), so
``finish_idle`` there means what it means here. If the worker dies, the call raises
``WorkerFailed`` and the input starts a new one: the HTTP request is answered 503 with
Retry-After, the syslog connection is closed; nothing is acknowledged that was not stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from collector.envelopes.shipped import Shipped
from collector.event import Record
from collector.parse import Output, ParseStats
from collector.parsers._base import ParseContext
from collector.shipping import Delivery

if TYPE_CHECKING:
    from collector.inputs.parse_worker import ParseWorker

# The ``Delivery`` methods a parent may call in the worker (nothing else is reachable).
METHODS = frozenset({"records", "finish_idle", "provisional", "end", "forget", "finish"})


class RemoteDelivery:
    """``Delivery`` for the http and syslog inputs, run by ``worker``. ``ctx``: the parent's
    context, whose ``now_ms`` (set by the input per delivery) is sent with each call."""

    def __init__(self, worker: ParseWorker, ctx: ParseContext, keep_lines: bool = False):
        self.worker, self._ctx = worker, ctx
        self.key = worker.delivery(keep_lines)
        # Only its ``envelopes`` (and their shipper per delivery source) are used here.
        self._envelopes = Delivery(ctx, ParseStats())

    def _call(self, method: str, *args: object):
        return self.worker.call("ship", self.key, self._ctx.now_ms, method, args)

    def tick(self) -> None:
        """The worker reads its clock when ``records`` begins (see ``serve``)."""

    def records(self, records: Sequence[Record], replayable: bool) -> Output:
        """A shipped line goes over without its message's text (the worker needs only the
        line); a message in no envelope goes over whole (its shipper None)."""
        unwrapped = self._envelopes.envelopes(records)
        return self._call("records", [
            (r.text, None, None, None, None, 0, None, r.source, r.position, r.ingested_ms)
            if f is None else (f.line, f.shipper, f.host, f.path, f.offset, f.created_ms,
                               f.app, r.source, r.position, r.ingested_ms)
            for r, f in zip(records, unwrapped, strict=True)], replayable)

    def finish_idle(self, idle_s: float) -> Output:
        return self._call("finish_idle", idle_s)

    def provisional(self) -> Output:
        return self._call("provisional")

    def end(self) -> set[str]:
        return self._call("end")

    def forget(self, keys: set[str]) -> None:
        self._call("forget", keys)

    def finish(self) -> Output:
        return self._call("finish")

    def close(self) -> None:
        """Drop the worker's delivery (a syslog connection ended)."""
        self.worker.call("close", self.key)


def open_delivery(ctx: ParseContext, keep_lines: bool) -> Delivery:
    """The worker's side of ``ParseWorker.delivery``."""
    return Delivery(ctx, ParseStats(), keep_lines=keep_lines)


def serve(delivery: Delivery, now_ms: int, method: str, args: tuple) -> object:
    """The worker's side of one ``RemoteDelivery`` call."""
    if method not in METHODS:
        raise ValueError(f"not a remote Delivery method: {method!r}")
    delivery.ctx.now_ms = now_ms
    if method == "records":
        messages, replayable = args
        delivery.tick()
        records, unwrapped = [], []
        for line, shipper, host, path, offset, created_ms, app, source, position, ingested_ms \
                in messages:
            shipped = shipper is not None
            records.append(Record(text="" if shipped else line, source=source,
                                  position=position, ingested_ms=ingested_ms))
            unwrapped.append(Shipped(line, shipper, host, path, offset, created_ms, app)
                             if shipped else None)
        return delivery.parse_unwrapped(records, unwrapped, replayable)
    return getattr(delivery, method)(*args)
