"""TLS certificates of configured endpoints: days to expiry, chain validity, hostname match.

Works for anything that speaks TLS from the first byte (HTTPS, Kafka SSL listeners, LDAPS) and
for SMTP with STARTTLS (``starttls: smtp``). Each endpoint is checked twice: once verified
(trust chain and hostname, as a client would) and once unverified to read the certificate even
when it is not trusted, so an expired or mismatched certificate still reports its subject,
issuer, serial and expiry.

Readings: ``tls.certificate`` (value: whole days until ``notAfter``, negative when expired;
labels ``endpoint``, ``tls.subject``, ``tls.issuer``, ``tls.serial``, ``tls.not_after``,
``tls.verify``: ok / hostname_mismatch / expired / untrusted / the verify error) and
``endpoint.up`` (0 when the endpoint could not be reached at all).
"""

from __future__ import annotations

import math
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass

from collector.config_values import Section
from collector.probes.reading import Reading

KEYS = ("endpoints", "ca_file")
ENDPOINT_KEYS = ("address", "server_name", "starttls")
PLATFORM = "generic"
DEFAULT_INTERVAL = "1h"
STARTTLS = ("none", "smtp")


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    server_name: str
    starttls: str = "none"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Settings:
    endpoints: tuple[Endpoint, ...]
    ca_file: str | None


def parse(s: Section, config) -> Settings:
    raw = s.raw("endpoints")
    if not isinstance(raw, list) or not raw:
        raise s.error("endpoints", "expected a list of HOST:PORT or {address, server_name, "
                      "starttls}", "e.g. endpoints: [api.example.com:443]")
    endpoints = []
    for i, item in enumerate(raw):
        e = Section(s.doc, (*s.path, "endpoints", i), item if isinstance(item, dict)
                    else {"address": item}, ENDPOINT_KEYS)
        address = e.text("address", required=True)
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise e.error("address", f"expected HOST:PORT, got {address!r}")
        host = host.strip("[]")
        endpoints.append(Endpoint(host, int(port), e.text("server_name", host),
                                  e.choice("starttls", STARTTLS, "none")))
    return Settings(tuple(endpoints), s.text("ca_file"))


class Probe:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.target = ",".join(e.address for e in settings.endpoints)

    def run(self, timeout_s: float) -> list[Reading]:
        deadline = time.monotonic() + timeout_s
        return [r for e in self.settings.endpoints
                for r in self.check(e, max(deadline - time.monotonic(), 0.1))]

    def check(self, e: Endpoint, timeout_s: float) -> list[Reading]:
        where = {"endpoint": e.address}
        verified = ssl.create_default_context(cafile=self.settings.ca_file)
        try:
            _handshake(e, verified, timeout_s)
            verdict = "ok"
        except ssl.SSLCertVerificationError as exc:
            verdict = _verdict(exc)
        except (OSError, smtplib.SMTPException) as exc:
            if not isinstance(exc, ssl.SSLError):
                return [Reading("endpoint.up", 0, where, ok=False, error=_text(exc))]
            verdict = f"handshake failed: {exc.reason or exc}"
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        try:
            der = _handshake(e, unverified, timeout_s)
        except (OSError, smtplib.SMTPException) as exc:
            return [Reading("endpoint.up", 0, where, ok=False, error=_text(exc))]
        cert = describe(der)
        days = math.floor((cert["not_after_ts"] - time.time()) / 86_400)
        labels = {**where, "tls.subject": cert["subject"], "tls.issuer": cert["issuer"],
                  "tls.serial": cert["serial"], "tls.not_after": cert["not_after"],
                  "tls.verify": verdict}
        return [Reading("endpoint.up", 1, where),
                Reading("tls.certificate", days, labels, ok=verdict == "ok",
                        error=None if verdict == "ok" else f"certificate {verdict}")]

    def close(self) -> None:
        """Nothing is held between runs: every check opens its own connections."""


def describe(der: bytes) -> dict:
    """Subject, issuer, serial and expiry of a DER certificate."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    not_after = cert.not_valid_after_utc
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"),
            "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "not_after_ts": not_after.timestamp()}


def _handshake(e: Endpoint, context: ssl.SSLContext, timeout_s: float) -> bytes:
    """The server's certificate (DER) after a TLS handshake with ``context``."""
    if e.starttls == "smtp":
        with smtplib.SMTP(e.host, e.port, timeout=timeout_s) as smtp:
            smtp.ehlo()
            smtp.starttls(context=context)
            return smtp.sock.getpeercert(binary_form=True)
    with socket.create_connection((e.host, e.port), timeout=timeout_s) as raw, \
            context.wrap_socket(raw, server_hostname=e.server_name) as tls:
        return tls.getpeercert(binary_form=True)


def _verdict(exc: ssl.SSLCertVerificationError) -> str:
    # OpenSSL X509 verify codes: 10 expired, 62 hostname mismatch; the rest are chain problems.
    if exc.verify_code == 62:
        return "hostname_mismatch"
    if exc.verify_code == 10:
        return "expired"
    if exc.verify_code in (2, 18, 19, 20, 21):
        return "untrusted"
    return exc.verify_message or "verify failed"


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
