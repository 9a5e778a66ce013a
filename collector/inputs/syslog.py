"""Syslog receiver for shippers: rsyslog ``omfwd``, syslog-ng ``network()``/``syslog()``.

- TCP and TLS: RFC 6587 framing, decided per message: octet counting (``<length> <frame>``,
  RFC 5425 for TLS) when it starts with a digit, else one frame per line (LF, a trailing CR
  dropped). UDP: one frame per datagram (RFC 5426).
- Frames are RFC 5424 or RFC 3164 (``collector.envelopes.syslog``); the line inside goes to
  ``collector.shipping`` keyed by sender host and file path (or program), so stack traces
  sent one line per frame are one record again. A frame that is not syslog is read as a
  line of its own. The lines are parsed in a worker process (``parse_worker``, as files
  are: ``collector.inputs.remote_delivery``), each connection with its own delivery there;
  a worker that dies is replaced and the connections it parsed for are closed.
- Limits: a frame over ``max_message_bytes`` is dead-lettered (``line_too_long``, head
  kept) and the rest of it skipped; at most ``max_connections`` TCP connections at once.
- Backpressure, at-least-once as far as syslog allows: a connection reads and parses its
  next delivery while the store stores the one before, and hands it over only once the
  store acknowledged that one (one delivery in flight and one in hand per connection: the
  store's round trip no longer stalls reading). So a slow store fills the sender's TCP
  window and its queue (rsyslog's action queue, syslog-ng's disk buffer) holds the rest.
  Nothing read is dropped while the writer is full. UDP has no such recourse: datagrams
  beyond the socket buffer are lost by the kernel; use TCP where that matters.
- A record a source left open is closed after ``IDLE_S`` without a line from that source,
  as the file input does when a file stops growing.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass

from collector.config import LOOPBACK_HOSTS, tls_files
from collector.config import Config as MidwatchConfig
from collector.config_values import Section
from collector.event import DeadLetter, Record
from collector.httpserver import ListenError, bind_reason, server_tls
from collector.inputs import acked
from collector.inputs.base import ChunkQueue, now_ms
from collector.inputs.parse_worker import ParseWorker, WorkerFailed
from collector.inputs.remote_delivery import RemoteDelivery
from collector.metrics import Registry
from collector.parse import Output, ParseStats
from collector.parsers._base import ParseContext
from collector.shipping import Delivery

log = logging.getLogger("midwatch.inputs.syslog")

IDLE_S = 1.0
RECV_BYTES = 256 * 1024
# A delivery waits this long for the store per try; a connection keeps trying until stopped.
ACK_WAIT_S = 5.0
_MAX_DIGITS = 10


class Framer:
    """The frames of one TCP stream (RFC 6587), in bounded memory. Frames are cut at a read
    position and the buffer compacted once per ``feed``, not once per frame."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buf = b""
        self._skip = 0  # bytes of an oversized counted frame still to throw away
        self._skip_line = False  # throwing away the rest of an oversized line

    def feed(self, data: bytes) -> tuple[list[bytes], list[bytes]]:
        """(complete frames, heads of frames over the limit)."""
        buf = self._buf + data if self._buf else data
        frames: list[bytes] = []
        oversized: list[bytes] = []
        pos, size_all = 0, len(buf)
        while pos < size_all:
            if self._skip:
                taken = min(self._skip, size_all - pos)
                pos += taken
                self._skip -= taken
                continue
            if self._skip_line:
                end = buf.find(b"\n", pos)
                if end < 0:
                    pos = size_all
                    break
                pos, self._skip_line = end + 1, False
                continue
            if 48 <= buf[pos] <= 57:  # a digit: octet counting
                space = buf.find(b" ", pos, pos + _MAX_DIGITS + 1)
                if space < 0 and size_all - pos <= _MAX_DIGITS:
                    break  # the count is not complete yet
                digits = buf[pos:space] if space > 0 else b""
                if digits.isdigit():
                    size = int(digits)
                    start = space + 1
                    if size > self.max_bytes:
                        oversized.append(buf[start:start + min(size, 512)])
                        pos, self._skip = start, size
                        continue
                    if size_all < start + size:
                        break
                    frames.append(buf[start:start + size])
                    pos = start + size
                    continue
            end = buf.find(b"\n", pos)
            if end < 0:
                if size_all - pos > self.max_bytes:
                    oversized.append(buf[pos:pos + 512])
                    pos, self._skip_line = size_all, True
                break
            if end - pos > self.max_bytes:
                oversized.append(buf[pos:pos + 512])
            else:
                frames.append(buf[pos:end])
            pos = end + 1
        self._buf = buf[pos:]
        return [f.rstrip(b"\r\n") for f in frames if f.strip()], oversized


class SyslogInput:
    def __init__(self, cfg: Config, ctx: ParseContext):
        self.name = cfg.name
        self.cfg = cfg
        self.ctx = ctx
        self.stats = ParseStats()
        self.out: ChunkQueue | None = None
        self._stop = threading.Event()
        # Parsing in a worker process (collector.inputs.remote_delivery), as files are; each
        # connection has its own delivery there.
        self._worker = ParseWorker(ctx, cfg.name) if cfg.parse_worker else None
        self._worker_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        if cfg.protocol == "tls":
            self._tls = server_tls(cfg.tls_cert, cfg.tls_key, cfg.listen)
        family = socket.AF_INET6 if ":" in cfg.listen[0] else socket.AF_INET
        self._udp: socket.socket | None = None
        self._tcp: _TcpServer | None = None
        try:  # a second instance, or a syslog daemon, on the port: one line, not a traceback
            if cfg.protocol == "udp":
                self._udp = socket.socket(family, socket.SOCK_DGRAM)
                self._udp.bind(cfg.listen)
                self._udp.settimeout(0.2)
            else:
                self._tcp = _TcpServer(cfg.listen, family, self)
        except OSError as exc:
            if self._udp is not None:
                self._udp.close()
            raise ListenError(cfg.listen, bind_reason(exc)) from None

    @property
    def port(self) -> int:
        sock = self._udp if self._udp is not None else self._tcp.socket
        return sock.getsockname()[1]

    def run(self, out: ChunkQueue) -> None:
        self.out = out
        if self._tcp is not None:
            self._tcp.serve_forever(poll_interval=0.2)
        else:
            self._run_udp()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            if self._tcp is not None:
                threading.Thread(target=self._tcp.shutdown, daemon=True).start()

    def commit(self) -> None:
        """Syslog has no positions: what was read is acknowledged by reading on."""

    def close(self) -> None:
        if self._tcp is not None:
            self._tcp.server_close()
        if self._udp is not None:
            self._udp.close()
        if self._worker is not None:
            self._worker.close()

    def delivery(self) -> Delivery | RemoteDelivery:
        """A connection's (or the UDP socket's) delivery; ``release`` when it ends."""
        worker = self._worker
        if worker is None:
            return Delivery(self.ctx, self.stats)
        try:
            return RemoteDelivery(worker, self.ctx)
        except WorkerFailed as exc:
            self.restart(worker, exc)
            return RemoteDelivery(self._worker, self.ctx)  # type: ignore[arg-type]

    def restart(self, failed: ParseWorker, exc: WorkerFailed) -> None:
        """A new parse worker for the one that died (once, however many connections saw it
        die). The connections it parsed for are closed: what they had read and not yet
        handed over is lost, as when a connection breaks, and their senders reconnect."""
        with self._worker_lock:
            if self._worker is not failed:
                return
            log.error("syslog parse worker failed; starting a new one",
                      extra={"input": self.name, "error": str(exc)})
            self._worker = ParseWorker(self.ctx, self.name)
        failed.close()

    @staticmethod
    def release(delivery: Delivery | RemoteDelivery) -> None:
        if isinstance(delivery, RemoteDelivery):
            try:
                delivery.close()
            except WorkerFailed:
                pass  # the worker ended (the input is closing): nothing left to drop

    # ---------------------------------------------------------------- delivery

    def deliver(self, delivery: Delivery | RemoteDelivery, frames: list[bytes], oversized: list[bytes],
                peer: str, extra: Output = (), before: threading.Event | None = None
                ) -> tuple[bool, threading.Event | None]:
        """Parse frames and hand their events over once the store acknowledged ``before``
        (the connection's delivery in flight), without waiting for their own acknowledgement:
        (False when the input was stopped before the writer took them, the new delivery's
        event to pass as ``before`` next)."""
        self.ctx.now_ms = now_ms()
        source = f"syslog:{peer}"
        items: Output = list(extra)
        for head in oversized:
            self.stats.deadletters["line_too_long"] += 1
            items.append(DeadLetter(
                reason=f"line_too_long: a syslog frame of more than {self.cfg.max_message_bytes} "
                       f"bytes (max_message_bytes)", source=source, line=0,
                raw=head.decode("utf-8", "replace"), ingested_ms=self.ctx.now_ms))
        nbytes = sum(map(len, frames))
        delivery.tick()
        if frames:
            items.extend(delivery.records([Record(text=frame.decode("utf-8", "replace"),
                                                  source=source, ingested_ms=self.ctx.now_ms)
                                           for frame in frames], replayable=False))
        if not items:
            return True, before
        self.settle(before)
        while not self._stop.is_set():
            stored = acked.hand_over(self.out, self.name, items, len(frames), nbytes,
                                     offer_timeout_s=0.2)
            if stored is not None:
                return True, stored
        return False, None

    def settle(self, stored: threading.Event | None) -> None:
        """Wait until the store acknowledged a delivery (or ``ACK_WAIT_S`` passed: it is
        queued and on its way), or the input is stopped."""
        deadline = time.monotonic() + ACK_WAIT_S
        while stored is not None and not stored.wait(0.2):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return

    def _run_udp(self) -> None:
        assert self._udp is not None
        delivery = self.delivery()
        in_flight: threading.Event | None = None
        max_bytes = self.cfg.max_message_bytes
        while not self._stop.is_set():
            frames: list[bytes] = []
            oversized: list[bytes] = []
            try:
                data, peer = self._udp.recvfrom(max_bytes + 1)
                while True:
                    if len(data) > max_bytes:
                        oversized.append(data[:512])
                    else:
                        frames.append(data.rstrip(b"\r\n"))
                    if len(frames) >= 500:
                        break
                    data, peer = self._udp.recvfrom(max_bytes + 1, socket.MSG_DONTWAIT)
            except (BlockingIOError, TimeoutError):
                pass
            except OSError:
                if self._stop.is_set():  # closed under us at shutdown
                    return
                raise
            try:
                idle = delivery.finish_idle(IDLE_S)
                if frames or oversized or idle:
                    _, in_flight = self.deliver(delivery, frames, oversized, "udp", idle,
                                                in_flight)
            except WorkerFailed as exc:  # these datagrams are lost, as beyond a full buffer
                self.restart(delivery.worker, exc)  # type: ignore[union-attr]
                delivery = self.delivery()


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], family: int, receiver: SyslogInput):
        self.address_family = family
        self.receiver = receiver
        self.connections = threading.BoundedSemaphore(receiver.cfg.max_connections)
        super().__init__(listen, _Connection)


class _Connection(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        if not self.server.connections.acquire(blocking=False):
            log.warning("too many syslog connections; closing a new one",
                        extra={"client": self.client_address[0]})
            return
        try:
            self._read()
        finally:
            self.server.connections.release()

    def _read(self) -> None:
        receiver = self.server.receiver
        sock: socket.socket = self.request
        peer = self.client_address[0]
        if receiver._tls is not None:
            sock.settimeout(10)
            try:
                sock = receiver._tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.warning("syslog TLS handshake failed", extra={"client": peer,
                                                                  "error": str(exc)})
                return
        sock.settimeout(IDLE_S)
        delivery = receiver.delivery()
        try:
            self._stream(sock, peer, delivery)
        except WorkerFailed as exc:
            receiver.restart(delivery.worker, exc)  # type: ignore[union-attr]
        finally:
            receiver.release(delivery)

    def _stream(self, sock: socket.socket, peer: str,
                delivery: Delivery | RemoteDelivery) -> None:
        receiver = self.server.receiver
        framer = Framer(receiver.cfg.max_message_bytes)
        last_idle_check = time.monotonic()
        in_flight: threading.Event | None = None
        while not receiver._stop.is_set():
            try:
                data = sock.recv(RECV_BYTES)
            except TimeoutError:
                data = None
            except OSError:
                break
            if data == b"":
                break
            frames, oversized = framer.feed(data) if data else ([], [])
            idle: Output = []
            if data is None or time.monotonic() - last_idle_check >= IDLE_S:
                idle = delivery.finish_idle(IDLE_S)
                last_idle_check = time.monotonic()
            if frames or oversized or idle:
                handed, in_flight = receiver.deliver(delivery, frames, oversized, peer, idle,
                                                     in_flight)
                if not handed:
                    return
        _, in_flight = receiver.deliver(delivery, [], [], peer, delivery.finish(), in_flight)
        receiver.settle(in_flight)


# --- configuration and construction: the ``syslog`` entry of ``collector.inputs.INPUTS`` ---

# Config keys beyond the common ``type`` and ``name``.
KEYS = ("listen", "protocol", "tls", "max_message_bytes", "max_connections", "parse_worker")


@dataclass(frozen=True, slots=True)
class Config:
    """Syslog from shippers (rsyslog omfwd, syslog-ng network()); see the module docstring."""

    name: str
    listen: tuple[str, int] = ("127.0.0.1", 5514)
    protocol: str = "tcp"  # tcp | udp | tls
    tls_cert: str | None = None
    tls_key: str | None = None
    max_message_bytes: int = 64 * 1024
    max_connections: int = 64
    # Parse in a child process (collector.inputs.remote_delivery), off the writer's GIL.
    parse_worker: bool = True
    type: str = "syslog"


def parse(s: Section, name: str) -> Config:
    listen = s.listen("listen", "127.0.0.1:5514")
    protocol = s.choice("protocol", ("tcp", "udp", "tls"), "tcp")
    cert, key = tls_files(s)
    if (protocol == "tls") != (cert is not None):
        raise s.error("tls" if protocol == "tls" else "protocol",
                      "protocol tls needs tls.cert and tls.key, and they need protocol tls",
                      "set protocol: tls with tls: {cert, key}, or neither")
    # Syslog has no tokens: off loopback it needs TLS (which a firewall should back).
    if listen[0] not in LOOPBACK_HOSTS and protocol != "tls":
        raise s.error("listen", f"refusing plain syslog on {listen[0]}",
                      "use protocol: tls off loopback, or listen on 127.0.0.1")
    return Config(
        name=name, listen=listen, protocol=protocol, tls_cert=cert, tls_key=key,
        max_message_bytes=s.size_bytes("max_message_bytes", "64KiB", minimum=480),
        max_connections=s.number("max_connections", 64, minimum=1),
        parse_worker=s.flag("parse_worker", True),
    )


def build(cfg: Config, ctx: ParseContext, config: MidwatchConfig,
          metrics: Registry) -> SyslogInput:
    """The running input; ``config`` supplies the sections it shares with others."""
    return SyslogInput(cfg, ctx)
