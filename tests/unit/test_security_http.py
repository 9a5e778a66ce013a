"""The two listeners that face networks (trace API, OTLP receiver) under hostile clients:
tokens and scopes (401/403), size limits (413), no stack traces, CORS off, TLS, slowloris."""

from __future__ import annotations

import datetime
import hashlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from pathlib import Path

import orjson
import pytest
import test_api
from test_api import start as start_api
from test_otlp_receiver import Writer, export_json
from test_otlp_receiver import start as start_receiver

from collector.config import ApiToken, config_from_doc
from collector.yamlconf import ConfigError, load

READER, METRICS, EXPORTER = "reader-token-1", "prometheus-token-2", "exporter-token-3"


def _token(name: str, value: str, *scopes: str) -> ApiToken:
    return ApiToken(name, hashlib.sha256(value.encode()).digest(), frozenset(scopes))


store = test_api.store  # the fixture: a SQLite store holding one trace
TOKENS = (_token("grafana", READER, "traces"), _token("prometheus", METRICS, "metrics"),
          _token("otel-collector", EXPORTER, "ingest"))


def call(port: int, path: str, token: str | None = None, method: str = "GET",
            body: bytes | None = None, headers: dict | None = None,
            context: ssl.SSLContext | None = None) -> tuple[int, dict, bytes]:
    conn = (http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
            if context else http.client.HTTPConnection("127.0.0.1", port, timeout=5))
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


@pytest.fixture
def api(store):
    api = start_api(store, tokens=TOKENS, max_body_bytes=1024)
    yield api
    api.close()


# ------------------------------------------------------------------ tokens and scopes


@pytest.mark.parametrize(("token", "path", "status"), [
    (None, "/api/traces", 401),
    ("not-a-token", "/api/traces", 401),
    (READER, "/api/traces", 200),
    (READER, "/metrics", 403),
    (METRICS, "/metrics", 200),
    (METRICS, "/api/traces/order:1", 403),
    (EXPORTER, "/api/traces", 403),
    (None, "/healthz", 200),
])
def test_each_named_token_reaches_only_its_scope(api, token, path, status):
    got, headers, body = call(api.port, path, token)
    assert got == status, body
    if status == 401:
        assert headers["www-authenticate"].startswith('Bearer realm="midwatch"')
    if status == 403:
        assert 'error="insufficient_scope"' in headers["www-authenticate"]
        assert orjson.loads(body)["error"].startswith("this token may not use ")


def test_tokens_are_held_only_as_digests(tmp_path, monkeypatch):
    monkeypatch.setenv("MW_T1", READER)
    monkeypatch.setenv("MW_T2", METRICS)
    path = tmp_path / "midwatch.yaml"
    path.write_text("api:\n  tokens:\n"
                    "    - {name: grafana, token: '${MW_T1}', scopes: [traces]}\n"
                    "    - {name: prom, token: '${MW_T2}', scopes: [metrics]}\n")
    api = config_from_doc(load(path)).api
    assert [(t.name, t.scopes) for t in api.tokens] == [("grafana", {"traces"}),
                                                        ("prom", {"metrics"})]
    assert api.tokens[0].sha256 == hashlib.sha256(READER.encode()).digest()
    assert READER not in repr(api) and METRICS not in repr(api)


def test_unknown_scope_names_file_line_and_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("MW_T1", READER)
    path = tmp_path / "midwatch.yaml"
    path.write_text("api:\n  tokens:\n    - {name: g, token: '${MW_T1}', scopes: [trace]}\n")
    with pytest.raises(ConfigError) as err:
        config_from_doc(load(path))
    assert str(err.value).startswith(f"{path}:3:")
    assert "unknown scope 'trace'" in str(err.value) and "did you mean 'traces'" in str(err.value)


def test_a_literal_token_in_yaml_is_refused(tmp_path):
    path = tmp_path / "midwatch.yaml"
    path.write_text("api:\n  tokens:\n    - {name: g, token: plain-text-token}\n")
    with pytest.raises(ConfigError) as err:
        config_from_doc(load(path))
    assert "plain-text-token" not in str(err.value)


# ------------------------------------------------------------------ limits, errors, CORS


def test_body_over_the_limit_is_413_unread(api):
    status, headers, _ = call(api.port, "/api/traces", READER, "POST", b"x" * 4096)
    assert status == 413 and headers["connection"] == "close"


def test_a_crash_answers_500_without_trace_or_detail(api, monkeypatch):
    def boom(**_):
        raise RuntimeError("secret internals at /srv/midwatch/collector/store.py line 42")

    monkeypatch.setattr(api.store, "search_traces", boom)
    status, _, body = call(api.port, "/api/traces", READER)
    assert status == 500 and orjson.loads(body) == {"error": "internal error", "status": 500}


def test_cors_is_off_by_default(api):
    status, headers, _ = call(api.port, "/api/traces", READER,
                                 headers={"Origin": "https://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers
    status, headers, _ = call(api.port, "/api/traces", None, "OPTIONS",
                                 headers={"Origin": "https://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers


# ------------------------------------------------------------------ TLS


def _cert(tmp_path: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "api.pem", tmp_path / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_api_over_tls_verifies_and_refuses_plain_http(store, tmp_path):
    cert, key = _cert(tmp_path)
    api = start_api(store, tokens=TOKENS, tls_cert=cert, tls_key=key)
    try:
        ctx = ssl.create_default_context(cafile=cert)
        assert call(api.port, "/api/traces", READER, context=ctx)[0] == 200
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            call(api.port, "/api/traces", READER)
        assert call(api.port, "/healthz", context=ctx)[0] == 200  # still serving
    finally:
        api.close()


def test_otlp_over_tls(tmp_path):
    cert, key = _cert(tmp_path)
    writer = Writer()
    receiver = start_receiver(writer, tls_cert=cert, tls_key=key)
    body, ctype = orjson.dumps(export_json()), {"Content-Type": "application/json"}
    try:
        ctx = ssl.create_default_context(cafile=cert)
        assert call(receiver.port, "/v1/traces", None, "POST", body, ctype, context=ctx)[0] == 200
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            call(receiver.port, "/v1/traces", None, "POST", body, ctype)
        assert len(writer.events) == 1
    finally:
        receiver.stop()
        receiver.close()
        writer.close()


# ------------------------------------------------------------------ OTLP tokens


def test_otlp_takes_only_ingest_tokens():
    writer = Writer()
    receiver = start_receiver(writer, tokens=TOKENS)
    body = orjson.dumps(export_json())
    ctype = {"Content-Type": "application/json"}
    try:
        assert call(receiver.port, "/v1/traces", None, "POST", body, ctype)[0] == 401
        assert call(receiver.port, "/v1/traces", READER, "POST", body, ctype)[0] == 403
        assert call(receiver.port, "/v1/traces", EXPORTER, "POST", body, ctype)[0] == 200
        assert len(writer.events) == 1
    finally:
        receiver.stop()
        receiver.close()
        writer.close()


# ------------------------------------------------------------------ slowloris


@pytest.fixture(params=["api", "otlp"])
def slow_server(request, store):
    """Either listener with a 400 ms request timeout; yields its port."""
    if request.param == "api":
        api = start_api(store, request_timeout_ms=400)
        yield api.port
        api.close()
    else:
        writer = Writer()
        receiver = start_receiver(writer, request_timeout_ms=400)
        yield receiver.port
        receiver.stop()
        receiver.close()
        writer.close()


def _drip(port: int, interval_s: float, until_s: float) -> tuple[float, bytes]:
    """Send a request head one byte per ``interval_s``; when the server cut us off, and what
    it said (b"" for a bare close)."""
    head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    started = time.monotonic()
    try:
        for byte in head:
            sock.sendall(bytes([byte]))
            time.sleep(interval_s)
            if time.monotonic() - started > until_s:
                break
        sock.settimeout(2)
        return time.monotonic() - started, sock.recv(1024)
    except OSError:  # reset while we were still sending: cut off
        return time.monotonic() - started, b""
    finally:
        sock.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("interval_s", [0.6, 0.05], ids=["slower-than-timeout", "drip-feed"])
def test_slowloris_is_cut_off_while_others_are_served(slow_server, interval_s):
    """Byte by byte slower than the read timeout, or each byte in time but the head never
    done: either way the connection ends within about the timeout, and a normal client is
    answered meanwhile."""
    answers: list[int] = []

    def normal_client() -> None:
        time.sleep(0.1)
        answers.append(call(slow_server, "/healthz")[0])

    other = threading.Thread(target=normal_client)
    other.start()
    took, said = _drip(slow_server, interval_s, until_s=5)
    other.join()
    assert took < 2.5, f"held the connection for {took:.1f}s"
    assert b"HTTP/1.1 2" not in said  # never treated as a request
    assert answers and answers[0] in (200, 404)  # the OTLP listener has no /healthz


@pytest.mark.timeout(30)
def test_a_flood_of_idle_connections_costs_bounded_threads_and_blocks_nobody():
    """At the connection limit a new connection evicts the longest-idle one, so idle
    sockets hold at most ``max_connections`` threads and a real request still gets in."""
    from collector.httpserver import Handler, Server

    class Ok(Handler):
        def route(self, method: str) -> None:
            self.send(200, b"ok", "text/plain")

    # Idle sockets would hold their places for request_timeout_s (20 s) without eviction:
    # a bound of 5 s tells the two apart even on a loaded CI machine.
    server = Server(("127.0.0.1", 0), Ok, request_timeout_s=20, max_connections=3)
    server.serve_in_thread("flood-test")
    threads = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(10)]
    try:
        started = time.monotonic()
        assert call(server.port, "/")[0] == 200
        assert time.monotonic() - started < 5  # at once, not after the idle timeout
        assert threading.active_count() - threads <= 3
        evicted = 0
        for sock in idle:
            sock.setblocking(False)
            try:
                evicted += sock.recv(16) == b""
            except BlockingIOError:
                pass
        assert evicted >= 7  # the oldest idle ones made room
    finally:
        for sock in idle:
            sock.close()
        server.shutdown()
        server.server_close()
