"""The hardened HTTP server under the trace API and the OTLP receiver (stdlib only).

Both face untrusted networks, so the defences live here once:
- a socket timeout per read, and a deadline for the whole request head and body (a
  slowloris client dripping one byte at a time, each inside the read timeout, is cut off);
- at most ``max_concurrent`` requests in flight, then 503, and at most ``max_connections``
  open connections (each is a thread), beyond which new ones are closed at once: a flood of
  idle sockets costs a bounded number of threads until the timeouts free them;
- bodies read only up to a limit, announced by Content-Length (else 411/413);
- bearer tokens compared as SHA-256 digests in constant time, all of them every time;
- errors as small JSON documents; a crash logs its traceback here and tells the client only
  "internal error";
- TLS handshakes happen in the request thread, not in the accept loop.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import ssl
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from collector.config import ApiToken

log = logging.getLogger("midwatch.http")


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 request_timeout_s: float, max_concurrent: int = 64,
                 max_connections: int = 256, tls: tuple[str, str] | None = None):
        if ":" in listen[0]:
            self.address_family = socket.AF_INET6
        super().__init__(listen, handler)
        self.request_timeout_s = request_timeout_s
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.connections = threading.BoundedSemaphore(max_connections)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(*tls)
            self.socket = ctx.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def process_request(self, request, client_address) -> None:
        if not self.connections.acquire(blocking=False):
            log.warning("too many open connections; closing a new one",
                        extra={"client": client_address[0]})
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()

    def serve_in_thread(self, name: str) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=name, daemon=True)
        thread.start()
        return thread


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


class Handler(BaseHTTPRequestHandler):
    """Dispatches to ``route(method)``; subclasses implement it and use the helpers."""

    server: Server
    server_version = "midwatch"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.timeout = self.server.request_timeout_s
        super().setup()

    def handle_one_request(self) -> None:
        self._deadline = threading.Timer(self.server.request_timeout_s, self._cut_off)
        self._deadline.daemon = True
        self._deadline.start()
        try:
            if not self.server.slots.acquire(blocking=False):
                # Read the request line so the client sees an answer rather than a reset.
                self.raw_requestline = self.rfile.readline(65537)
                if self.parse_request():
                    self._error(HttpError(503, "too many concurrent requests",
                                          {"Retry-After": "1"}))
                self.close_connection = True
                return
            try:
                super().handle_one_request()
            finally:
                self.server.slots.release()
        except OSError:  # read timeouts, resets, TLS failures, the deadline's shutdown
            self.close_connection = True
        finally:
            self._deadline.cancel()

    def _cut_off(self) -> None:
        """The request was not read in time: end the connection (the reader sees EOF)."""
        self.close_connection = True
        log.info("request not received in time; connection closed",
                 extra={"client": self.client_address[0]})
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
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

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming scheme
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("HEAD")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._dispatch("OPTIONS")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def route(self, method: str) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers

    def read_body(self, max_bytes: int) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise HttpError(411, "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise HttpError(400, "Content-Length is not a number") from None
        if length < 0:
            raise HttpError(400, "Content-Length is negative")
        if length > max_bytes:
            self.close_connection = True  # the unread body must not be taken for a request
            raise HttpError(413, f"body of {length} bytes exceeds the limit of {max_bytes}")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ConnectionError("the client sent less than its Content-Length")
        self._deadline.cancel()  # all of the request is in; answering may take its time
        return body

    def send(self, status: int, body: bytes, content_type: str,
             headers: dict[str, str] | None = None) -> None:
        self._deadline.cancel()
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

    def _error(self, exc: HttpError) -> None:
        self.send_json(exc.status, {"error": exc.message, "status": exc.status}, exc.headers)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Access log at debug level; the request line never carries credentials."""
        log.debug("http %s", format % args, extra={"client": self.client_address[0]})
