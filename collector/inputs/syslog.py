"""Syslog receiver for shippers: rsyslog ``omfwd``, syslog-ng ``network()``/``syslog()``.

- TCP and TLS: RFC 6587 framing, decided per message: octet counting (``<length> <frame>``,
  RFC 5425 for TLS) when it starts with a digit, else one frame per line (LF, a trailing CR
  dropped). UDP: one frame per datagram (RFC 5426).
- Frames are RFC 5424 or RFC 3164 (``collector.envelopes.syslog``); the line inside goes to
  ``collector.shipping`` keyed by sender host and file path (or program), so stack traces
  sent one line per frame are one record again. A frame that is not syslog is read as a
  line of its own. The lines are parsed in a worker process (``parse_worker``, as files
  are: ``collector.inputs.remote_delivery``), each connection with its own delivery there,
  a read's frames as one batch (``collector.inputs.syslog_frames``).
- A worker that dies is replaced (``collector.inputs.worker_slot``, counted) and the frames
  in hand (read, not yet handed over: a TCP read, up to 500 UDP datagrams) are parsed again
  by the new one, the connection reading on; frames that kill the new worker too are
  dead-lettered (``crashed_process``). Lost with the dead worker: only the lines of records
  it held open (at most one record a source).
- Limits: a frame over ``max_message_bytes`` is dead-lettered (``line_too_long``, head
  kept) and the rest of it skipped; a connection that ends inside an octet-counted frame
  has what came of it dead-lettered (``truncated_frame``), a last line without its LF is a
  frame; at most ``max_connections`` TCP connections at once (beyond, a new one is closed).
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
from collector.event import DeadLetter
from collector.httpserver import ListenError, bind_reason, server_tls
from collector.inputs import acked, syslog_frames
from collector.inputs.base import ChunkQueue, now_ms
from collector.inputs.decode_check import InvalidBytesNote
from collector.inputs.parse_worker import WorkerClosed, WorkerFailed
from collector.inputs.remote_delivery import RemoteDelivery
from collector.inputs.worker_slot import EncodesEvents, worker_slot
from collector.metrics import Registry
from collector.parse import Output, ParseStats, dead_letter_raw
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

    def end(self) -> tuple[bytes | None, bytes | None]:
        """The stream ended: (a last line the sender closed instead of ending with LF, which
        RFC 6587 allows; the head of an octet-counted frame cut short), either or neither."""
        buf, self._buf = self._buf, b""
        if self._skip or self._skip_line or not buf.strip():
            return None, None
        space = buf.find(b" ", 0, _MAX_DIGITS + 1)
        count = buf[:space] if space > 0 else buf[:_MAX_DIGITS + 1]
        if count.isdigit():  # a count (and part of its frame) without the rest
            return None, buf[:512]
        return buf.rstrip(b"\r\n"), None


@dataclass(slots=True)
class _Link:
    """What one TCP connection (or the UDP socket) reads through: its delivery, which a
    new parse worker replaces, and its delivery in flight to the store."""

    delivery: Delivery | RemoteDelivery
    peer: str
    in_flight: threading.Event | None = None


class SyslogInput(EncodesEvents):
    def __init__(self, cfg: Config, ctx: ParseContext, metrics: Registry | None = None):
        self.name = cfg.name
        self.cfg = cfg
        self.ctx = ctx
        self.stats = ParseStats()
        self._invalid = InvalidBytesNote(cfg.name, "syslog", metrics)
        self.out: ChunkQueue | None = None
        self._stop = threading.Event()
        # Parsing in a worker process (collector.inputs.remote_delivery), as files are; each
        # connection has its own delivery there.
        self.workers = worker_slot(ctx, cfg.name, cfg.parse_worker, metrics)
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
        return self._socket().getsockname()[1]

    def _socket(self) -> socket.socket:
        return self._udp if self._udp is not None else self._tcp.socket  # type: ignore[union-attr]

    def run(self, out: ChunkQueue) -> None:
        self.out = out
        host, port = self._socket().getsockname()[:2]  # the port bound, where 0 was asked
        log.info("syslog input listening", extra={
            "input": self.name, "protocol": self.cfg.protocol,
            "listen": f"[{host}]:{port}" if ":" in host else f"{host}:{port}"})
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
        if self.workers is not None:
            self.workers.close()

    def link(self, peer: str) -> _Link:
        """A connection's (or the UDP socket's) link; ``release`` it when it ends."""
        return _Link(self._delivery(), peer)

    def _delivery(self) -> Delivery | RemoteDelivery:
        workers = self.workers
        if workers is None:
            return Delivery(self.ctx, self.stats)
        worker = workers.worker
        try:
            return RemoteDelivery(worker, self.ctx)
        except WorkerFailed as exc:
            workers.replace(worker, exc)
            return RemoteDelivery(workers.worker, self.ctx)

    def _renew(self, link: _Link, exc: WorkerFailed) -> None:
        """The link's worker died: a new one (``WorkerSlot``), and a delivery in it. The
        records the dead one held open for this link are gone (their lines were read)."""
        assert self.workers is not None and isinstance(link.delivery, RemoteDelivery)
        self.workers.replace(link.delivery.worker, exc)
        link.delivery = self._delivery()

    def _remote(self, link: _Link, method: str, *args: object) -> Output:
        """``finish_idle`` or ``finish`` of the link's delivery; [] if its worker died (a
        new one takes the link's next frames), or was closed (``WorkerClosed``, see
        ``_parse``)."""
        try:
            return getattr(link.delivery, method)(*args)
        except WorkerFailed as exc:
            self._renew(link, exc)
            return []
        except WorkerClosed:
            return []

    @staticmethod
    def release(link: _Link) -> None:
        if isinstance(link.delivery, RemoteDelivery):
            try:
                link.delivery.close()
            except (WorkerFailed, WorkerClosed):
                pass  # the worker ended (the input is closing): nothing left to drop

    # ---------------------------------------------------------------- delivery

    def _parse(self, link: _Link, frames: list[bytes], source: str) -> Output:
        """The frames' events, parsed again by a new worker if the link's died meanwhile;
        dead-lettered (``crashed_process``) if they kill that one too. Nothing if ``close``
        closed the worker while the stopped input's reading thread still ran (the UDP loop
        between two reads: datagrams, unacknowledged, read as the input stopped): no new
        worker for an input that is going."""
        for _ in range(2):
            delivery = link.delivery
            try:
                if isinstance(delivery, RemoteDelivery):
                    return delivery.syslog_frames(frames, source, self.ctx.now_ms)
                return syslog_frames.parse(delivery, frames, source, self.ctx.now_ms)
            except WorkerFailed as exc:
                self._renew(link, exc)
            except WorkerClosed:
                return []
        return [DeadLetter(
            reason="crashed_process: a parse worker died twice while parsing the syslog "
                   "frames read with this one; set aside so they are not parsed again",
            source=source, line=0, raw=dead_letter_raw(frame, self.ctx),
            ingested_ms=self.ctx.now_ms) for frame in frames]

    def _dead(self, kind: str, reason: str, head: bytes, source: str) -> DeadLetter:
        self.stats.deadletters[kind] = self.stats.deadletters.get(kind, 0) + 1
        return DeadLetter(reason=f"{kind}: {reason}", source=source, line=0,
                          raw=dead_letter_raw(head, self.ctx), ingested_ms=self.ctx.now_ms)

    def deliver(self, link: _Link, frames: list[bytes], oversized: list[bytes],
                extra: Output = (), truncated: bytes | None = None) -> bool:
        """Parse frames and hand their events over once the store acknowledged the link's
        delivery in flight, without waiting for their own acknowledgement (which becomes
        the one in flight): False when the input was stopped before the writer took them."""
        self.ctx.now_ms = now_ms()
        source = f"syslog:{link.peer}"
        items: Output = list(extra)
        for head in oversized:
            items.append(self._dead("line_too_long", f"a syslog frame of more than "
                                    f"{self.cfg.max_message_bytes} bytes (max_message_bytes)",
                                    head, source))
        if truncated is not None:
            items.append(self._dead("truncated_frame", "the connection ended inside an "
                                    "octet-counted syslog frame (what came of it is kept)",
                                    truncated, source))
        nbytes = sum(map(len, frames))
        for frame in frames:
            if not frame.isascii():  # the usual frame: no call at all
                self._invalid.check(frame, link.peer, lambda: {"peer": link.peer})
        link.delivery.tick()
        if frames:
            items.extend(self._parse(link, frames, source))
        if not items:
            return True
        self.settle(link.in_flight)
        while not self._stop.is_set():
            stored = acked.hand_over(self.out, self.name, items, len(frames), nbytes,
                                     offer_timeout_s=0.2)
            if stored is not None:
                link.in_flight = stored
                return True
        return False

    def settle(self, stored: threading.Event | None) -> None:
        """Wait until the store acknowledged a delivery (or ``ACK_WAIT_S`` passed: it is
        queued and on its way), or the input is stopped."""
        deadline = time.monotonic() + ACK_WAIT_S
        while stored is not None and not stored.wait(0.2):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return

    def _run_udp(self) -> None:
        assert self._udp is not None
        link = self.link("udp")
        max_bytes = self.cfg.max_message_bytes
        try:
            while not self._stop.is_set():
                frames: list[bytes] = []
                oversized: list[bytes] = []
                try:
                    data, _ = self._udp.recvfrom(max_bytes + 1)
                    while True:
                        if len(data) > max_bytes:
                            oversized.append(data[:512])
                        else:
                            frames.append(data.rstrip(b"\r\n"))
                        if len(frames) >= 500:
                            break
                        data, _ = self._udp.recvfrom(max_bytes + 1, socket.MSG_DONTWAIT)
                except (BlockingIOError, TimeoutError):
                    pass
                except OSError:
                    if self._stop.is_set():  # closed under us at shutdown
                        return
                    raise
                idle = self._remote(link, "finish_idle", IDLE_S)
                if (frames or oversized or idle) and not self.deliver(link, frames, oversized,
                                                                      idle):
                    log.warning("syslog input stopped with datagrams read and not handed "
                                "over", extra={"input": self.name, "datagrams": len(frames)})
        finally:
            self.release(link)


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
        link = receiver.link(peer)
        try:
            self._stream(sock, link)
        finally:
            receiver.release(link)

    def _stream(self, sock: socket.socket, link: _Link) -> None:
        receiver = self.server.receiver
        framer = Framer(receiver.cfg.max_message_bytes)
        last_idle_check = time.monotonic()
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
                idle = receiver._remote(link, "finish_idle", IDLE_S)
                last_idle_check = time.monotonic()
            if (frames or oversized or idle) and not receiver.deliver(link, frames, oversized,
                                                                      idle):
                return
        last, truncated = framer.end()
        if last is not None and not receiver.deliver(link, [last], []):
            return
        receiver.deliver(link, [], [], receiver._remote(link, "finish"), truncated)
        receiver.settle(link.in_flight)


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
    return SyslogInput(cfg, ctx, metrics)
