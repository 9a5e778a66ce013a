"""Contract test: the store against a local HTTPS fake of an Elastic Cloud deployment.

There is no Elastic Cloud here, so a fake peer answers as a deployment does to an API key
with index privileges only (the key one creates for a shipper): ``GET /`` 200 with the
version, ``_nodes``/``_cluster/health`` 403 (no ``monitor`` privilege), every answer with
``X-Elastic-Product: Elasticsearch`` (the client's product check), 401 without the key.
It records each request, so the test checks what the store sent: the cloud_id decoded to
this peer, ``Authorization: ApiKey <key>`` on every request, TLS verified with the CA file.

A Cloud ID is ``<name>:base64(<host>[:<port>]$<es uuid>$<kibana uuid>)`` and the client
connects to ``https://<es uuid>.<host>:<port>`` (Elastic's "Configure ... with Cloud ID"
pages). With host ``0.0.1`` and es uuid ``127`` that is ``127.0.0.1``: the only way a Cloud
ID can name a local peer without a DNS entry.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tls_support import self_signed_server

from collector.event import Event, event_id
from collector.store import engines, open_store
from collector.store.base import StoreError
from collector.yamlconf import ConfigError, loads
from midwatch.cli import main

API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="  # id:secret, base64
VERSION = "9.1.5"


class FakeCloud(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, dict[str, str], bytes]]

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=9")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append((self.command, self.path,
                              {k.lower(): v for k, v in self.headers.items()}, body))
        path = self.path.split("?")[0]
        if self.headers.get("Authorization") != f"ApiKey {API_KEY}":
            return self._answer(401, {"error": {"type": "security_exception",
                                                "reason": "unable to authenticate"},
                                      "status": 401})
        if self.command == "GET" and path == "/":
            return self._answer(200, {"name": "instance-0000000001",
                                      "cluster_name": "0123456789abcdef",
                                      "version": {"number": VERSION, "build_flavor": "default"},
                                      "tagline": "You Know, for Search"})
        if path.startswith(("/_nodes", "/_cluster/health")):
            return self._answer(403, {"error": {
                "type": "security_exception",
                "reason": "action [cluster:monitor/nodes/info] is unauthorized for API key id "
                          "[VuaCfGcBCdbkQm-e5aOx]"}, "status": 403})
        if self.command in ("POST", "PUT") and path == "/_bulk":
            return self._answer(200, {"errors": False})
        self._answer(404, {"error": {"type": "fake", "reason": f"not in the fake: {path}"}})

    do_GET = do_POST = do_PUT = do_HEAD = _handle  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[str, Path, list]]:
    """(cloud_id naming the peer, its CA file, the requests it got)."""
    cert, tls = self_signed_server(tmp_path, "IP:127.0.0.1")
    handler = type("Handler", (FakeCloud,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    encoded = base64.b64encode(f"0.0.1:{port}$127$kibana0uuid".encode()).decode()
    yield f"midwatch-prod:{encoded}", cert, handler.requests
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, cloud_id: str, ca: Path | None) -> Path:
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text("store:\n  kind: elasticsearch\n  elasticsearch:\n"
                   f"    cloud_id: {cloud_id}\n    api_key: ${{MW_CLOUD_KEY}}\n"
                   + (f"    ca_certs: {ca}\n" if ca else ""))
    return cfg


def _store(cfg: Path):
    doc = loads(cfg.read_text(), cfg.name)
    return open_store(doc.data.get("store"), doc)


def test_cloud_id_reaches_the_deployment_with_the_api_key_over_verified_tls(
        cloud, tmp_path, monkeypatch):
    cloud_id, ca, requests = cloud
    monkeypatch.setenv("MW_CLOUD_KEY", API_KEY)
    store = _store(_config(tmp_path, cloud_id, ca))
    try:
        assert store.engine() == engines.Engine(engines.ELASTICSEARCH, VERSION)
        ev = Event(timestamp_ms=1_709_546_400_000, dataset="apigw.log", platform="apigw",
                   message="ok", id=event_id("cloud.log", "1"))
        assert store.write_events([ev]).written == 1
        assert (f"Elasticsearch {VERSION} at Elastic Cloud deployment midwatch-prod "
                f"(https://127.0.0.1:{_port(cloud_id)})") in store.ping()
    finally:
        store.close()
    paths = [(method, path.split("?")[0]) for method, path, _, _ in requests]
    assert paths[:2] == [("GET", "/_nodes/_local"), ("GET", "/")]
    assert all(h["authorization"] == f"ApiKey {API_KEY}" for _, _, h, _ in requests)
    (bulk_headers, bulk_body), = [(h, b) for _, p, h, b in requests if p.startswith("/_bulk")]
    # Version 9 identified: the client's own media types, as Elastic Cloud 9.x expects them;
    # with a cloud_id the client gzips request bodies (it does so for Elastic Cloud only).
    assert "compatible-with=9" in bulk_headers["content-type"]
    assert bulk_headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(bulk_body).splitlines()[1])["event"]["id"] == ev.id


def _port(cloud_id: str) -> int:
    return int(base64.b64decode(cloud_id.split(":", 1)[1]).decode().split("$")[0].split(":")[1])


def test_a_peer_the_ca_file_did_not_sign_is_refused_at_once(cloud, tmp_path, monkeypatch):
    cloud_id, _, requests = cloud
    monkeypatch.setenv("MW_CLOUD_KEY", API_KEY)
    store = _store(_config(tmp_path, cloud_id, None))  # the system CAs, not the fake's
    try:
        with pytest.raises(StoreError) as err:
            store.engine()
    finally:
        store.close()
    assert "certificate verify failed" in str(err.value)
    assert "store.elasticsearch.ca_certs" in str(err.value)
    assert requests == []  # nothing (no key) was sent before the certificate was checked


def test_doctor_names_the_cloud_engine_and_never_prints_the_key(cloud, tmp_path, monkeypatch,
                                                                capsys):
    cloud_id, ca, _ = cloud
    monkeypatch.setenv("MW_CLOUD_KEY", API_KEY)
    assert main(["doctor", "-c", str(_config(tmp_path, cloud_id, ca))]) == 0
    out = capsys.readouterr()
    (line,) = out.out.splitlines()
    assert line.startswith("store  OK")
    assert f"Elasticsearch {VERSION} at Elastic Cloud deployment midwatch-prod" in line
    assert "monitor privilege" in line
    secret = base64.b64decode(API_KEY).decode().split(":")[1]
    assert API_KEY not in out.out + out.err and secret not in out.out + out.err


# The Cloud IDs of Elastic's documentation ("Configure the output for Elastic Cloud"), decoded
# as the client decodes them: port 443 unless the host part names one.
DOCS_ID = ("staging:dXMtZWFzdC0xLmF3cy5mb3VuZC5pbyRjZWM2ZjI2MWE3NGJmMjRjZTMzYmI4ODExYjg0Mjk0"
           "ZiRjNmMyY2E2ZDA0MjI0OWFmMGNjN2Q3YTllOTYyNTc0Mw==")


@pytest.mark.parametrize(("cloud_id", "url"), [
    (DOCS_ID, "https://cec6f261a74bf24ce33bb8811b84294f.us-east-1.aws.found.io:443"),
    ("n:" + base64.b64encode(b"eu-west-1.aws.found.io:9243$es1$kb1").decode(),
     "https://es1.eu-west-1.aws.found.io:9243"),
    ("n:" + base64.b64encode(b"westeurope.azure.elastic-cloud.com$es2").decode(),
     "https://es2.westeurope.azure.elastic-cloud.com:443"),
])
def test_cloud_id_decodes_as_elastic_documents_it(cloud_id, url):
    assert engines.cloud_address(cloud_id) == url


@pytest.mark.parametrize("cloud_id", [
    "prod",  # no base64 part
    "prod:" + base64.b64encode(b"us-east-1.aws.found.io").decode(),  # no es uuid
    "prod:" + base64.b64encode(b"us-east-1.aws.found.io:x$es$kb").decode(),  # port not a number
])
def test_a_malformed_cloud_id_fails_at_its_line(cloud_id, tmp_path, monkeypatch):
    monkeypatch.setenv("MW_CLOUD_KEY", API_KEY)
    with pytest.raises(ConfigError) as err:
        _store(_config(tmp_path, cloud_id, None))
    assert "midwatch.yaml:4:5: store.elasticsearch.cloud_id: not an Elastic Cloud ID" in str(err.value)
