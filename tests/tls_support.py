"""A self-signed certificate and a server TLS context for local TLS peers in tests (the CA
file the client under test is given is the certificate itself)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path


def self_signed_server(tmp_path: Path, subject_alt_name: str) -> tuple[Path, ssl.SSLContext]:
    """(certificate file, server context) for ``subject_alt_name`` (``DNS:localhost``,
    ``IP:127.0.0.1``), valid for a day."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=midwatch-test", "-addext", f"subjectAltName={subject_alt_name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    return cert, tls
