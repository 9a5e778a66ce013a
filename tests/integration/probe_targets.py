"""Real targets for the probe tests: a test CA, certificates made to order, TLS, HTTPS and
SMTP-STARTTLS servers running in this process on free loopback ports, and RabbitMQ helpers."""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import quote

import orjson
import pika
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    serial: int
    subject: str
    not_after: dt.datetime


class TestCA:
    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, name: str = "midwatch test CA"):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, hosts: list[str], days: float) -> Issued:
        """A server certificate for ``hosts`` (DNS names or IPs) valid for ``days`` from now."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        not_after = now + dt.timedelta(days=days)
        sans = [x509.IPAddress(ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        serial = x509.random_serial_number()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.name)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return Issued(cert_path, key_path, serial, subject.rfc4514_string(),
                      not_after.replace(microsecond=0))


def server_context(issued: Issued) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(issued.cert, issued.key)
    return ctx


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = self.server.routes  # type: ignore[attr-defined]
        status, body, need = routes.get(self.path, (404, b"no such page", None))
        if need is not None and self.headers.get("Authorization") != need:
            status, body = 401, b"unauthorized"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that refuse our certificate hang up mid-handshake: expected here


@contextmanager
def http_server(routes: dict[str, tuple[int, bytes, str | None]],
                tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """HTTP(S) on 127.0.0.1; ``routes``: path -> (status, body, required Authorization)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes = routes  # type: ignore[attr-defined]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_starttls(issued: Issued) -> Iterator[int]:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port,
                            tls_context=server_context(issued), require_starttls=True)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_GUEST = {"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}  # guest:guest, loopback only


def amqp() -> pika.BlockingConnection:
    host, _, port = os.environ.get("MIDWATCH_RABBITMQ_AMQP", "127.0.0.1:5672").rpartition(":")
    return pika.BlockingConnection(pika.ConnectionParameters(
        host, int(port), credentials=pika.PlainCredentials("guest", "guest")))


def _queue(url: str, name: str) -> dict:
    req = urllib.request.Request(f"{url}/api/queues/%2F/{quote(name, safe='')}", headers=_GUEST)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return orjson.loads(resp.read())


def wait_for_queue(url: str, name: str, **expected) -> None:
    """The management API's statistics lag the broker by up to one collection interval."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        q = _queue(url, name)
        if all(q.get(k) == v for k, v in expected.items()):
            return
        time.sleep(0.3)
    raise AssertionError(f"queue {name} never showed {expected}: {q}")
