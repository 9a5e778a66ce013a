"""A shipper input's ``Delivery`` (``collector.shipping``) living in a parse worker.

The syslog and http inputs parse what shippers send, which is most of the CPU an event costs
them. In the collector's process that shares the interpreter lock with the writer (and the
listener threads), so those inputs were held to the rate of one core shared with everything
else, while the file input parses in a worker process (``collector.inputs.parse_worker``).
``RemoteDelivery`` gives them the same offload: the same methods as ``Delivery`` (those the
inputs call), each one request to the worker, whose ``Delivery`` keeps the sources, their
open records and the IDs' numbering across requests exactly as the local one does. The
input thread meanwhile waits without holding the lock.

Everything is done in the worker, envelopes included, and a message goes over as little as
it can: a syslog connection's frames as the bytes it read (``syslog_frames``), an http
request's body whole (``read_http``: read by ``collector.inputs.http_bodies`` there, one
round trip a request).
Taking the envelopes off in the input's process and sending each line with its shipper,
host, path and offset cost the input 24 µs an event against the file input's 6 (the
unwrapping, a ten-field tuple a line pickled there and unpickled here, a ``Record`` and a
``Shipped`` rebuilt from it): measured with ``bench/shipper_bench.py``, the receiver's CPU
apart from its client's. The worker's clock is the parent's (``time.monotonic`` is
system-wide), so ``finish_idle`` there means what it means here. If the worker dies, the
call raises ``WorkerFailed`` and the input starts a new one: the HTTP request is answered 503
with Retry-After, a syslog connection's frames in hand are parsed by the new one; nothing is
acknowledged that was not stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from collector.inputs import syslog_frames
from collector.parse import Output, ParseStats
from collector.parsers._base import ParseContext
from collector.shipping import Delivery

if TYPE_CHECKING:
    from collector.inputs.http_bodies import Read, Request
    from collector.inputs.parse_worker import ParseWorker

# The ``Delivery`` methods a parent may call in the worker (nothing else is reachable), and
# those of them that answer events.
METHODS = frozenset({"syslog_frames", "http", "finish_idle", "forget", "finish"})
_OUTPUTS = METHODS - {"forget", "http"}


class RemoteDelivery:
    """``Delivery`` for the http and syslog inputs, run by ``worker``. ``ctx``: the parent's
    context, whose ``now_ms`` (set by the input per delivery) is sent with each call."""

    def __init__(self, worker: ParseWorker, ctx: ParseContext, keep_lines: bool = False):
        self.worker, self._ctx = worker, ctx
        self.key = worker.delivery(keep_lines)

    def _call(self, method: str, *args: object):
        return self.worker.call("ship", self.key, self._ctx.now_ms, method, args)

    def tick(self) -> None:
        """Nothing here: the worker reads its clock when a read begins, in ``serve`` for
        syslog frames, in ``Delivery.request`` for an http request (``read_http``)."""

    def syslog_frames(self, frames: list[bytes], source: str, ingested_ms: int) -> Output:
        """A syslog connection's read, as bytes, read as syslog frames in a batch
        (``collector.inputs.syslog_frames``)."""
        return self._call("syslog_frames", frames, source, ingested_ms)

    def finish_idle(self, idle_s: float) -> Output:
        return self._call("finish_idle", idle_s)

    def read_http(self, request: Request, idle_s: float) -> Read:
        """``collector.inputs.http_bodies.read`` of an http request in the worker, its body
        sent whole: one round trip. BodyError for a body the worker refused."""
        done = self._call("http", request, idle_s, self._ctx.now_ms)
        if len(done) == 2:
            from collector.inputs.http_bodies import BodyError

            raise BodyError(done[1])
        return done

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


def serve(delivery: Delivery, now_ms: int, method: str, args: tuple,
          encode: Callable[[list], list] | None = None) -> object:
    """The worker's side of one ``RemoteDelivery`` call; ``encode``: what events are shipped
    as (``collector.encoded``, see ``ParseWorker``)."""
    if method not in METHODS:
        raise ValueError(f"not a remote Delivery method: {method!r}")
    delivery.ctx.now_ms = now_ms
    if method == "syslog_frames":
        delivery.tick()
        out = syslog_frames.parse(delivery, *args)
    elif method == "http":
        from collector.inputs import http_bodies  # by the workers of http inputs only

        return http_bodies.read_refusing(delivery, *args, encode=encode)
    else:
        out = getattr(delivery, method)(*args)
    return encode(out) if encode is not None and method in _OUTPUTS else out

