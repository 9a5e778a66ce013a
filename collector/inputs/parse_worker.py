"""The parse worker: a child process running the line readers of one file input.

Parsing and normalizing is most of the CPU an event costs (30-40 µs of 40 in the collector
when nothing is correlated). In the collector's process it shares the interpreter lock with
the writer, so one core's worth of Python is the whole collector's ceiling however many cores
the machine has. In a worker, the input thread only ships bytes out and events back (about
4 µs an event to unpickle; as their document bytes when the parent's process reads no events,
see ``collector.encoded``, or their document bytes with what the correlator reads when it
correlates, see ``collector.correlation.joinview``) and waits without holding the lock
meanwhile.

Requests are answered in order over the child's stdin/stdout (length-prefixed pickles); the
tailing, positions and checkpoints stay in the parent (``collector.inputs.file``), which
mirrors each reader's offsets from the replies. The child exits when its stdin closes, so a
parent killed with -9 does not leave it behind. If the child dies, the next request raises
and the input fails, which stops the service: nothing was acknowledged for what it held, so
a restart reads it again.

Run as ``python -m collector.inputs.parse_worker`` by ``ParseWorker`` only.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from collector.encoded import encoded
from collector.gcsettings import collect_less
from collector.inputs.lines import LineReader
from collector.parse import Output
from collector.parsers._base import ParseContext

if TYPE_CHECKING:
    from collector.correlation.joinview import CatalogSource

_LEN = struct.Struct("!Q")


class WorkerFailed(RuntimeError):
    """The parse worker died or could not answer."""


class WorkerClosed(RuntimeError):
    """The parse worker was asked something after this process closed it (an input that is
    stopping, whose reading thread had not yet seen the stop): nothing to renew, nothing
    to report. Not a ``WorkerFailed``: that one starts a new worker."""


def _send(stream: IO[bytes], message: object) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LEN.pack(len(body)))
    stream.write(body)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError
    size = _LEN.unpack(head)[0]
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)  # noqa: S301 - our own child process over a private pipe


def _close_quietly(stream: IO[bytes]) -> None:
    """Close the pipe to a worker that may already be dead (its error was reported when a
    request failed; closing must not raise a second, less telling one)."""
    try:
        stream.close()
    except OSError:
        pass


class ParseWorker:
    """The parent's handle on one child process; calls from several threads (a syslog
    input's connections) take turns."""

    def __init__(self, ctx: ParseContext, name: str, *, encode: bool | CatalogSource = False,
                 shipping: bool = False):
        """``encode``: reply with events as their document bytes (``collector.encoded``), for
        a collector whose process does not read events (no correlator, no known issues), or
        (a ``CatalogSource``) classified for a correlator that reads only their join view.
        ``shipping``: the worker of a shipper input (``RemoteDelivery``), which imports the
        envelope decoders as it starts, as a file input's worker imports its line readers,
        not when the first connection's frames are waiting (0.02 s of CPU)."""
        self.name = name
        self._proc = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "collector.inputs.parse_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._ids = itertools.count()
        self._turn = threading.Lock()
        self._closed = False
        # An input dropped without close() (tests, a failed start) must not leave a child
        # waiting: closing its stdin ends it.
        weakref.finalize(self, _close_quietly, self._proc.stdin)
        self.call("init", ctx, encode, shipping)

    def call(self, op: str, *args: object) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            with self._turn:
                _send(self._proc.stdin, (op, *args))
                ok, reply = _recv(self._proc.stdout)
        except ValueError:  # "write to closed file", "I/O operation on closed file"
            if not self._closed:
                raise
            raise WorkerClosed(f"the parse worker of input {self.name!r} is closed") from None
        except (OSError, EOFError, pickle.PickleError) as exc:
            if self._closed:
                raise WorkerClosed(f"the parse worker of input {self.name!r} is closed") from None
            code = self._proc.poll()
            raise WorkerFailed(f"the parse worker of input {self.name!r} stopped answering "
                               f"(exit status {code}): {exc!r}") from None
        if not ok:
            raise WorkerFailed(f"the parse worker of input {self.name!r} failed: {reply}")
        return reply

    def reader(self, fmt: str, source: str, prefix: str, offset: int, line: int,
               max_line_bytes: int, encoding: str = "auto", head: bytes = b"") -> RemoteReader:
        key = next(self._ids)
        self.call("open", key, fmt, source, prefix, offset, line, max_line_bytes, encoding, head)
        return RemoteReader(self, key, offset, line)

    def delivery(self, keep_lines: bool) -> int:
        """A shipper input's ``Delivery`` in the worker (``collector.inputs.remote_delivery``):
        its key; ``close`` drops it."""
        key = next(self._ids)
        self.call("ship_open", key, keep_lines)
        return key

    def close(self) -> None:
        self._closed = True
        if self._proc.stdin is not None:
            _close_quietly(self._proc.stdin)
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class RemoteReader:
    """A ``LineReader`` living in the worker: the same methods, offsets mirrored here."""

    __slots__ = ("_resume", "_worker", "key", "read_offset")

    def __init__(self, worker: ParseWorker, key: int, offset: int, line: int):
        self._worker, self.key = worker, key
        self.read_offset = offset
        self._resume = (offset, line)

    def feed(self, data: bytes, now_ms: int) -> tuple[Output, int]:
        items, records, self.read_offset, self._resume = self._worker.call(
            "feed", self.key, data, now_ms)
        return items, records

    def flush(self, now_ms: int, partial: bool = True) -> Output:
        items, self.read_offset, self._resume = self._worker.call("flush", self.key, now_ms,
                                                                  partial)
        return items

    def resume_at(self) -> tuple[int, int]:
        return self._resume

    def close(self) -> None:
        self._worker.call("close", self.key)


def _shipping() -> Any:
    """``collector.inputs.remote_delivery``, imported by the workers of shipper inputs only
    (as they start, ``ParseWorker``'s ``shipping``):
    it brings the envelope decoders (OTLP protobuf among them), which cost every process
    importing them ~0.07 s of CPU at start (``midwatch run`` and each file input's worker,
    bench/peer_otelcol.py's start-up figure) and which a file input never uses."""
    from collector.inputs import remote_delivery

    return remote_delivery


def _encoder(encode: bool | CatalogSource) -> Callable[[Output], list] | None:
    """What replies carry instead of events, for ``ParseWorker``'s ``encode``: events as
    they are (False), as their document bytes (True), or as document bytes plus what the
    correlator reads, classified by the flow catalog of this source."""
    if encode is False:
        return None
    if encode is True:
        return encoded
    return partial(encoded, catalog=encode.load())  # type: ignore[union-attr]


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Answer requests until the parent closes the pipe."""
    ctx: ParseContext | None = None
    encode: Callable[[Output], list] | None = None
    readers: dict[int, LineReader] = {}
    while True:
        try:
            op, *args = _recv(inp)
        except EOFError:
            return
        try:
            if op == "init":  # (ctx, encode[, shipping]): ``encode_events`` sends two
                ctx, encode = args[0], _encoder(args[1])
                if args[2:] and args[2]:
                    _shipping()
                reply: object = None
            elif op == "open":
                key, *spec = args
                assert ctx is not None, "init first"
                readers[key] = LineReader.open(ctx, *spec)
                reply = None
            elif op == "feed":
                key, data, now = args
                reader = readers[key]
                items, records = reader.feed(data, now)
                reply = (encode(items) if encode else items, records, reader.read_offset,
                         reader.resume_at())
            elif op == "flush":
                key, now, partial = args
                reader = readers[key]
                items = reader.flush(now, partial)
                reply = (encode(items) if encode else items, reader.read_offset, reader.resume_at())
            elif op == "ship_open":
                key, keep_lines = args
                assert ctx is not None, "init first"
                readers[key] = _shipping().open_delivery(ctx, keep_lines)  # type: ignore[assignment]
                reply = None
            elif op == "ship":
                key, now, method, call_args = args
                reply = _shipping().serve(readers[key], now, method, call_args,  # type: ignore[arg-type]
                                          encode)
            elif op == "close":
                readers.pop(args[0], None)
                reply = None
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception:  # noqa: BLE001 - reported to the parent, which stops the input
            _send(out, (False, traceback.format_exc(limit=5)))
            continue
        _send(out, (True, reply))


def main() -> None:
    # The parent decides when to stop (it closes the pipe after its last request); a Ctrl-C
    # or a TERM to the whole process group must not cut a reply in half.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Replies go to the original stdout; anything else printing there would corrupt them.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    collect_less()
    serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
