"""The hardened HTTP server under the trace API and the OTLP receiver (stdlib only).

Both face untrusted networks, so the defences live here once:
- framing is strict, so a proxy in front and this server never disagree on where a request
  ends: one ``Content-Length`` of plain digits, or ``Transfer-Encoding: chunked`` alone on
  HTTP/1.1 (exporters that compress as they stream, like OkHttp's, send it), read strictly;
  any other transfer coding, both at once, and HTTP/0.9 are refused with 400 and the
  connection is closed; a connection whose request body was not read (an early
  401/404/405/413/415) is closed too, after a short drain so the client can read the answer
  instead of a reset;
- a connection waits at most ``request_timeout_s`` for the first byte of a request (idle, on
  a new or kept-alive connection); from then the head and body must arrive within another
  ``request_timeout_s`` (a slowloris client dripping one byte at a time is cut off by a
  watchdog, not by per-read timeouts it can keep resetting);
- a request slot (``max_concurrent``) is taken only once a request's head has arrived, so
  idle sockets never crowd out requests; when all slots stay busy for half a second the
  answer is 503 with Retry-After;
- at most ``max_connections`` open connections (each is a thread); at that limit a new
  connection evicts the longest-idle one (no request pending, as nginx reuses keep-alive
  connections), or gets 503 when every connection is busy;
- a listen backlog as deep as the system allows, so a burst of connections waits in the
  kernel instead of being dropped;
- bearer tokens compared as SHA-256 digests in constant time, all of them every time;
- errors as small JSON documents, including those the stdlib parser raises itself; a crash
  logs its traceback here and tells the client only "internal error";
- TLS handshakes happen in the connection's thread, not in the accept loop.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import logging
import re
import resource
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from collector.config import ApiToken

log = logging.getLogger("midwatch.http")

_DIGITS = re.compile(r"[0-9]{1,15}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
CHUNKED = -1  # body_length of a chunked body: its length is known once it is read
_MAX_TRAILERS = 32
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}")
_LINGER_S = 0.5  # how long a closing connection's unread body is drained
_LINGER_BYTES = 1 << 20
_FD_RESERVE = 256  # descriptors kept for the store, inputs and logs
_EMFILE_PAUSE_S = 0.1
# A request waits this long for a slot before 503: a burst is queued briefly, not refused.
_SLOT_WAIT_S = 0.5
_REFUSE_READ_S = 0.05  # how long a connection refused at the limit may take to send its request
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 51\r\n\r\n"
         b'{"error":"too many open connections","status":503}')


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class ListenError(Exception):
    """The listen address cannot be taken: in use, not permitted, or not on this host."""

    def __init__(self, address: tuple[str, int], reason: str):
        self.address, self.reason = address, reason
        super().__init__(f"cannot listen on {address[0]}:{address[1]}: {reason}")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # listen(2) clamps this to net.core.somaxconn: the deepest backlog the system allows.
    request_queue_size = max(128, socket.SOMAXCONN)

    def __init__(self, listen: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 request_timeout_s: float,
                 max_concurrent: int = 64, max_connections: int = 1024,
                 tls: tuple[str, str] | None = None):
        if ":" in listen[0]:
            self.address_family = socket.AF_INET6
        ctx = server_tls(*tls, listen) if tls is not None else None  # before binding
        self._closed = threading.Event()  # before binding: a failed bind calls server_close
        try:
            super().__init__(listen, handler)
        except OSError as exc:
            raise ListenError(listen, bind_reason(exc)) from None
        self.request_timeout_s = request_timeout_s
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.max_connections = connections_allowed(max_connections)
        self.connections = threading.BoundedSemaphore(self.max_connections)
        self.tls = tls is not None
        self._lock = threading.Lock()
        self._idle: dict[socket.socket, None] = {}  # oldest first; at most max_connections
        self._deadlines: dict[Handler, float] = {}  # at most max_connections
        threading.Thread(target=self._watch_deadlines, name="http-deadlines",
                         daemon=True).start()
        if ctx is not None:
            self.socket = ctx.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def get_request(self):
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                # The connection stays in the backlog and the socket stays readable: without
                # a pause the accept loop would spin until a descriptor is freed.
                log.warning("out of file descriptors; accepting again shortly")
                time.sleep(_EMFILE_PAUSE_S)
            raise

    def process_request(self, request, client_address) -> None:
        if not self.connections.acquire(blocking=False):
            if not (self._evict_idle() and self.connections.acquire(timeout=1.0)):
                log.warning("too many open connections; answering 503",
                            extra={"client": client_address[0]})
                self._refuse(request)
                return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()

    def server_close(self) -> None:
        self._closed.set()
        super().server_close()

    def serve_in_thread(self, name: str) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=name, daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------ idle connections and deadlines

    def idle(self, conn: socket.socket, waiting: bool) -> None:
        with self._lock:
            if waiting:
                self._idle[conn] = None
            else:
                self._idle.pop(conn, None)

    def _evict_idle(self) -> bool:
        """Close the longest-idle connection that has nothing to read; False if none is."""
        with self._lock:
            candidates = list(self._idle)
        poller = select.poll()
        for conn in candidates:
            try:
                poller.register(conn, select.POLLIN)
            except (OSError, ValueError):
                continue
        ready = {fd for fd, _ in poller.poll(0)}
        for conn in candidates:
            try:
                if conn.fileno() in ready:
                    continue
                conn.shutdown(socket.SHUT_RDWR)  # its thread sees EOF and ends
            except OSError:
                continue
            log.info("connection limit reached; closed an idle connection")
            return True
        return False

    def _refuse(self, request: socket.socket) -> None:
        """503 from the accept loop, without a thread: read what the client sent (waiting
        a moment for it, so closing does not reset the answer away), answer, close. This
        slows accepting only while every connection is busy. A TLS client gets a bare close."""
        try:
            if not self.tls:
                request.settimeout(_REFUSE_READ_S)
                try:
                    request.recv(65536)
                except TimeoutError:
                    pass
                request.sendall(_BUSY)
        except OSError:
            pass
        self.shutdown_request(request)

    def deadline(self, handler: Handler, seconds: float | None) -> None:
        """Cut ``handler``'s connection off in ``seconds``; None clears its deadline."""
        with self._lock:
            if seconds is None:
                self._deadlines.pop(handler, None)
            else:
                self._deadlines[handler] = time.monotonic() + seconds

    def _watch_deadlines(self) -> None:
        """One thread for all deadlines rather than a timer thread per request."""
        while not self._closed.wait(0.1):
            now = time.monotonic()
            with self._lock:
                late = [h for h, at in self._deadlines.items() if at <= now]
                for handler in late:
                    del self._deadlines[handler]
            for handler in late:
                handler.cut_off()


def connections_allowed(wanted: int) -> int:
    """How many connections one listener may hold open, by the process's descriptor limit.

    The soft limit is raised to the hard one (at most 65,536), as Go's runtime does at
    start: the common soft default of 1,024 would run out before ``wanted``. Each listener
    may then use half of it, less a reserve for the store, inputs and logs, since the API
    and an OTLP receiver can share a process.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, max(16, (soft - _FD_RESERVE) // 2))


def server_tls(cert: str, key: str, listen: tuple[str, int]) -> ssl.SSLContext:
    """A TLS 1.2+ server context for a listener; a file that is not a PEM certificate or key
    (or a key of another certificate) is a ListenError naming both files, not an ssl
    traceback at startup."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ListenError(listen, f"cannot load the TLS certificate {cert} with key {key}: "
                          f"{exc} (a PEM certificate chain and its unencrypted private key)"
                          ) from None
    return ctx


def bind_reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use (another midwatch, or another program?)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this host has no such address"
    return exc.strerror or str(exc)


def authorize(header: str | None, tokens: Sequence[ApiToken], scope: str) -> str:
    """The name of the token presented in ``Authorization``, which must hold ``scope``.

    Every configured digest is compared (no early exit), so timing says nothing about which
    or how many tokens exist. Wrong and missing tokens both answer 401 as RFC 6750 asks;
    the ``error`` parameter tells them apart. A valid token without the scope gets 403
    (``insufficient_scope``): asking again with it will not help.
    """
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise HttpError(401, "bearer token required",
                        {"WWW-Authenticate": 'Bearer realm="midwatch"'})
    digest = hashlib.sha256(presented.strip().encode()).digest()
    found: ApiToken | None = None
    for token in tokens:
        if hmac.compare_digest(digest, token.sha256):
            found = token
    if found is None:
        raise HttpError(401, "invalid token",
                        {"WWW-Authenticate": 'Bearer realm="midwatch", error="invalid_token"'})
    if scope not in found.scopes:
        log.warning("token lacks scope", extra={"token": found.name, "scope": scope})
        raise HttpError(403, f"this token may not use {scope}", {
            "WWW-Authenticate": f'Bearer realm="midwatch", error="insufficient_scope", '
                                f'scope="{scope}"'})
    return found.name


def body_length(headers, http11: bool) -> int:
    """The request body's length from its headers (``CHUNKED`` for a chunked body), refusing
    every ambiguous framing.

    A request a proxy could frame differently from us is how a second request gets
    smuggled in a body, so: Transfer-Encoding only as exactly one ``chunked`` on HTTP/1.1 and
    never beside a Content-Length, at most one Content-Length of plain ASCII digits, no
    folded or unparseable header lines.
    """
    if headers.defects or any("\n" in value or "\r" in value for value in headers.values()):
        raise HttpError(400, "malformed header section (a line without a colon, a space "
                             "before the colon, or a folded line)")
    encodings = headers.get_all("Transfer-Encoding")
    lengths = headers.get_all("Content-Length") or []
    if encodings:
        if [e.strip().lower() for e in encodings] != ["chunked"]:
            raise HttpError(400, f"Transfer-Encoding {', '.join(encodings)!r} is not "
                                 f"supported; send chunked or a Content-Length")
        if lengths or not http11:
            raise HttpError(400, "Transfer-Encoding chunked beside a Content-Length, or on "
                                 "HTTP/1.0; send one of them on HTTP/1.1")
        return CHUNKED
    if len(lengths) > 1:
        raise HttpError(400, "Content-Length given more than once")
    if not lengths:
        return 0
    if not _DIGITS.fullmatch(lengths[0].strip()):
        raise HttpError(400, f"Content-Length {lengths[0][:40]!r} is not a decimal number")
    return int(lengths[0])


def read_chunked(rfile, max_bytes: int) -> bytes:
    """A chunked body (RFC 9112 section 7.1), strictly: CRLF line ends only, hex sizes of at
    most 15 digits, extensions and trailer fields ignored; 413 as soon as the sum passes
    ``max_bytes``, before reading that chunk."""
    parts, total = [], 0
    while True:
        line = rfile.readline(1024)
        size_text = line[:-2].split(b";", 1)[0]
        if b";" in line[:-2]:
            size_text = size_text.rstrip(b" \t")
        if not line.endswith(b"\r\n") or not _HEX.fullmatch(size_text):
            raise HttpError(400, f"malformed chunk size line {line[:40]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > max_bytes:
            raise HttpError(413, f"chunked body exceeds the limit of {max_bytes} bytes")
        data = rfile.read(size)
        if len(data) < size:
            raise ConnectionError("the client sent less than its chunk size")
        if rfile.read(2) != b"\r\n":
            raise HttpError(400, "a chunk is not followed by CRLF")
        parts.append(data)
    for _ in range(_MAX_TRAILERS):
        line = rfile.readline(8192)
        if line == b"\r\n":
            return b"".join(parts)
        if not line.endswith(b"\r\n"):
            break
    raise HttpError(400, f"malformed or more than {_MAX_TRAILERS} trailer fields")


class Handler(BaseHTTPRequestHandler):
    """Reads one request at a time and hands it to ``route(method)``; subclasses implement it
    and answer with the helpers."""

    server: Server
    server_version = "midwatch"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # An error found before the request line's version is known still gets a status line.
    default_request_version = "HTTP/1.0"
    # Answers go out at once: with Nagle on, each waited ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        self.command, self.path, self.close_connection = None, "", True
        self.raw_requestline, self.requestline = b"", ""
        self.request_version = self.default_request_version
        self._unread = 0  # body bytes announced and not yet read
        self._framed = False  # the head was read whole and its framing is unambiguous
        try:
            if not self._wait_for_request():
                return
            self.connection.settimeout(self.server.request_timeout_s)
            self.server.deadline(self, self.server.request_timeout_s)
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414, "request line longer than 65536 bytes")
                return
            if not self.raw_requestline or not self.parse_request():
                return
            if not self.server.slots.acquire(timeout=_SLOT_WAIT_S):
                self.close_connection = True  # a client told to come back should reconnect
                self._error(HttpError(503, "too many concurrent requests; retry",
                                      {"Retry-After": "1"}))
                return
            try:
                self._dispatch(self.command)
                self.wfile.flush()
            finally:
                self.server.slots.release()
        except OSError:  # read timeouts, resets, TLS failures, the deadline's shutdown
            self.close_connection = True
        finally:
            self.server.deadline(self, None)
            if self.close_connection and self.raw_requestline and (
                    self._unread or not self._framed):
                self._drain()

    def _wait_for_request(self) -> bool:
        """Wait up to the request timeout for a request's first byte (or a TLS handshake).

        The connection counts as idle meanwhile: at the connection limit it may be closed
        to make room. No slot is held, so idle sockets never delay a real request.
        """
        self.connection.settimeout(self.server.request_timeout_s)
        self.server.idle(self.connection, True)
        try:
            return bool(self.rfile.peek(1))
        except (OSError, ValueError):
            return False
        finally:
            self.server.idle(self.connection, False)

    def parse_request(self) -> bool:
        if len(self.raw_requestline.split()) == 2:
            self.send_error(400, "HTTP/0.9 requests are not supported; send HTTP/1.x")
            return False
        if not super().parse_request():
            return False
        try:
            if not _METHOD.fullmatch(self.command):
                raise HttpError(400, "malformed request method")
            self._unread = body_length(self.headers, self.request_version >= "HTTP/1.1")
        except HttpError as exc:
            self.close_connection = True
            self._error(exc)
            return False
        self._framed = True
        return True

    def cut_off(self) -> None:
        """The request was not read in time: end the connection (the reader sees EOF)."""
        self.close_connection = True
        log.info("request not received in time; connection closed",
                 extra={"client": self.client_address[0]})
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _drain(self) -> None:
        """Before closing, discard what the client still sends (a body we did not read), for
        a moment: closing with unread bytes would reset the connection before the client
        has read our answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_LINGER_S)
            ends = time.monotonic() + _LINGER_S
            total = 0
            while total < _LINGER_BYTES and time.monotonic() < ends:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                total += len(chunk)
        except (OSError, ValueError):
            pass

    def _dispatch(self, method: str) -> None:
        try:
            self.route(method)
        except HttpError as exc:
            self._error(exc)
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:
            log.exception("request failed", extra={"path": self.path.split("?")[0]})
            self._error(HttpError(500, "internal error"))

    def route(self, method: str) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers

    def read_body(self, max_bytes: int) -> bytes:
        """The request body (b"" without one, or when already read); 413 beyond
        ``max_bytes``, unread (the connection is then closed)."""
        length = self._unread
        if length == CHUNKED:
            body = read_chunked(self.rfile, max_bytes)
        elif length > max_bytes:
            raise HttpError(413, f"body of {length} bytes exceeds the limit of {max_bytes}")
        else:
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                raise ConnectionError("the client sent less than its Content-Length")
        self._unread = 0
        self.server.deadline(self, None)  # all of the request is in; answering may take time
        return body

    def send(self, status: int, body: bytes, content_type: str,
             headers: dict[str, str] | None = None) -> None:
        self.server.deadline(self, None)
        if self._unread:
            self.close_connection = True  # the unread body must not be taken for a request
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, doc: object, headers: dict[str, str] | None = None) -> None:
        self.send(status, orjson.dumps(doc), "application/json", headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib parser's own errors (bad request line, 414, 431, 505) as JSON too."""
        self.close_connection = True
        self._error(HttpError(code, message or HTTPStatus(code).phrase))

    def _error(self, exc: HttpError) -> None:
        self.send_json(exc.status, {"error": exc.message, "status": exc.status}, exc.headers)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Access log at debug level; the request line never carries credentials."""
        log.debug("http %s", format % args, extra={"client": self.client_address[0]})
