"""The trace API over real HTTP against a real SQLite store."""

from __future__ import annotations

import hashlib
import http.client
import socket
import time
import urllib.parse

import orjson
import pytest

from collector.api import Api
from collector.config import Api as ApiConfig
from collector.config import ApiToken
from collector.metrics import Registry
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def store(tmp_sqlite_path):
    s = SQLiteStore(tmp_sqlite_path)
    s.setup()
    now = int(time.time() * 1000)
    s.upsert_traces([Trace(
        trace_key="order:4711", ids=["order:4711", "correlation:c-1"], started_ms=now - 5000,
        last_seen_ms=now - 1000, flow="order-to-cash", status="failed", hop_count=2,
        hops=[Hop("api.received", "order-api", "apigw", now - 5000, "success", "e1"),
              Hop("sap.delivered", "sap-bridge", "mulesoft", now - 1000, "failure", "e2")])])
    yield s
    s.close()


def start(store, **cfg) -> Api:
    metrics = Registry()
    metrics.counter("midwatch_events_indexed_total", "Events the store acknowledged.").inc(by=3)
    api = Api(ApiConfig(listen=("127.0.0.1", 0), **cfg), store, metrics)
    api.server.serve_in_thread("api-test")
    return api


@pytest.fixture
def api(store):
    api = start(store, tokens=(ApiToken("ci", hashlib.sha256(TOKEN.encode()).digest()),),
                max_body_bytes=1024)
    yield api
    api.close()


def get(api: Api, path: str, token: str | None = TOKEN, method: str = "GET", body: bytes = b"",
        headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body or None, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def test_trace_by_bare_and_typed_id(api):
    for any_id in ("4711", "correlation:c-1", "order%3A4711"):
        status, headers, body = get(api, f"/api/traces/{any_id}")
        assert status == 200, body
        doc = orjson.loads(body)
        assert doc["trace_key"] == "order:4711"
        assert [h["stage"] for h in doc["hops"]] == ["api.received", "sap.delivered"]
        assert headers["Content-Type"] == "application/json"


def test_unknown_trace_is_404_json(api):
    status, _, body = get(api, "/api/traces/nope")
    assert status == 404
    assert orjson.loads(body) == {"error": "no trace knows the ID 'nope'", "status": 404}


def test_search_filters_and_validates(api):
    status, _, body = get(api, "/api/traces?flow=order-to-cash&status=failed&since=1h&limit=5")
    doc = orjson.loads(body)
    assert status == 200 and doc["count"] == 1
    assert doc["traces"][0]["trace_key"] == "order:4711" and "hops" not in doc["traces"][0]
    assert orjson.loads(get(api, "/api/traces?status=completed")[2])["count"] == 0
    status, _, body = get(api, "/api/traces?status=lost")
    assert status == 400 and "status: expected one of" in orjson.loads(body)["error"]
    assert get(api, "/api/traces?limit=0")[0] == 400
    assert get(api, "/api/traces?since=yesterday")[0] == 400
    assert get(api, "/api/traces?flwo=x")[0] == 400


def test_missing_token_is_401_with_challenge(api):
    status, headers, body = get(api, "/api/traces/4711", token=None)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="midwatch"'
    assert b"4711" not in body


def test_wrong_token_is_401_invalid_token(api):
    status, headers, _ = get(api, "/api/traces/4711", token="guess")
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert get(api, "/metrics", token="guess")[0] == 401


def test_foreign_origin_is_403(api):
    status, headers, _ = get(api, "/api/traces/4711", headers={"Origin": "https://evil.example"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


def test_allowed_origin_gets_cors_headers(store):
    api = start(store, cors_origins=("https://ops.example",))
    try:
        status, headers, _ = get(api, "/api/traces/4711", token=None,
                                 headers={"Origin": "https://ops.example"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://ops.example"
    finally:
        api.close()


def test_body_over_limit_is_413(api):
    status, _, body = get(api, "/api/traces/4711", body=b"x" * 4096)
    assert status == 413 and "exceeds the limit of 1024" in orjson.loads(body)["error"]


def test_other_methods_are_405(api):
    status, headers, _ = get(api, "/api/traces/4711", method="DELETE")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_health_is_public_and_terse(api):
    status, _, body = get(api, "/healthz", token=None)
    assert (status, orjson.loads(body)) == (200, {"status": "ok"})


def test_metrics_prometheus_text(api):
    get(api, "/api/traces/4711")
    status, headers, body = get(api, "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE midwatch_events_indexed_total counter\nmidwatch_events_indexed_total 3\n" in text
    assert 'midwatch_api_requests_total{route="trace",status="200"} 1' in text


def test_openapi_document_covers_every_route(api):
    status, _, body = get(api, "/openapi.json", token=None)
    doc = orjson.loads(body)
    assert status == 200 and doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/api/traces/{id}", "/api/traces", "/api/rules/{name}/explain",
                                 "/api/deadletters", "/healthz", "/metrics",
                                 "/openapi.json"}
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_unknown_path_is_404_and_errors_carry_no_traceback(api):
    status, _, body = get(api, "/admin")
    assert status == 404 and b"Traceback" not in body


def test_slow_client_is_cut_off(store):
    api = start(store, request_timeout_ms=300)
    try:
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never finishes the headers
        started = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed the connection
        assert time.monotonic() - started < 3
        sock.close()
    finally:
        api.close()


@pytest.mark.parametrize(("query", "says"), [
    ("limit=%C2%B2", "limit: expected a number from 1 to 1000"),
    ("limit=" + "9" * 5000, "limit: expected a number from 1 to 1000"),
    ("limit=", "limit: expected a number from 1 to 1000"),
    ("since=99999999999999999999d", "since: expected a duration"),
    ("since=" + "9" * 400 + "d", "since: expected a duration"),
    ("since=1e400h", "since: expected a duration"),
    ("since=99999-01-01", "since: expected a duration"),
    ("since=2026-13-45T00:00:00Z", "since: expected a duration"),
    ("status=bogus&status=failed", "status: given more than once"),
    ("status=failed&status=bogus", "status: given more than once"),
    ("status=bogus", "status: expected one of"),
    ("&".join(f"flow={i}" for i in range(30)), "too many query parameters"),
])
def test_hostile_search_parameters_are_400_json_never_500(api, query, says):
    status, headers, body = get(api, f"/api/traces?{query}")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert says in orjson.loads(body)["error"]


def test_since_far_back_means_everything_not_an_overflow(api):
    for since in ("999999999w", "1970-01-01", "0001-01-01T00:00:00Z", "2000-01-01T00:00:00%2B05:00"):
        status, _, body = get(api, f"/api/traces?since={since}")
        assert status == 200 and orjson.loads(body)["count"] == 1, (since, body)


def test_a_trace_key_names_its_trace_alone_when_a_later_message_reused_the_id(api, store):
    """A request ID reused a week later starts a trace of its own (``ids.join_window``) that
    holds the ID too: the older trace keeps it as its key. The 300 answer's links name each
    trace by key, so the key must answer 200 with that trace, not the 300 again (a loop)."""
    now = int(time.time() * 1000)
    week = 7 * 86_400_000
    store.upsert_traces([
        Trace(trace_key="http.request:r-1", ids=["http.request:r-1"], started_ms=now - week,
              last_seen_ms=now - week, hop_count=1,
              hops=[Hop("api.received", "gw", "apigw", now - week, "success", "r1-old")]),
        Trace(trace_key="http.request:r-1@2026-01-01T00:00:00.000Z", ids=["http.request:r-1"],
              started_ms=now, last_seen_ms=now, hop_count=1,
              hops=[Hop("api.received", "gw", "apigw", now, "success", "r1-new")])])
    status, _, body = get(api, "/api/traces/r-1")
    assert status == 300
    links = [m["href"] for m in orjson.loads(body)["matches"]]
    assert len(links) == 2
    for href in links:
        status, _, body = get(api, href)
        assert status == 200, body
        assert orjson.loads(body)["trace_key"] == urllib.parse.unquote(href.rsplit("/", 1)[1])


def test_deadletters_newest_first_filtered_and_summarised(api, store):
    """GET /api/deadletters: the CLI's filters, on the store the API serves (SQLite here;
    the store queries run on every engine in tests/integration/test_deadletters_read.py)."""
    from collector.event import DeadLetter

    now = int(time.time() * 1000)
    store.write_deadletters([
        DeadLetter("parse_error: not JSON", "/var/log/a.log", 3, "{x", ingested_ms=now - 2000,
                   input="app"),
        DeadLetter("line_too_long: more than 4096 bytes", "orders:1:7", 0, "y",
                   ingested_ms=now - 1000, input="orders")])
    status, _, body = get(api, "/api/deadletters?since=1h")
    doc = orjson.loads(body)
    assert status == 200 and doc["count"] == 2
    assert [d["source"] for d in doc["deadletters"]] == ["orders:1:7", "/var/log/a.log:3"]
    status, _, body = get(api, "/api/deadletters?reason=parse_error&input=app&limit=5")
    assert [d["raw"] for d in orjson.loads(body)["deadletters"]] == ["{x"]
    status, _, body = get(api, "/api/deadletters?summary=true")
    assert orjson.loads(body) == {"summary": [
        {"reason": "line_too_long", "input": "orders", "count": 1},
        {"reason": "parse_error", "input": "app", "count": 1}]}
    for bad in ("since=yesterday", "limit=0", "summary=yes", "stage=parse", "input=a&input=b"):
        assert get(api, f"/api/deadletters?{bad}")[0] == 400, bad
    assert get(api, "/api/deadletters", token=None)[0] == 401


def test_deadletters_list_cuts_each_raw_to_4_kib(api, store):
    """Review Q: each raw came whole (up to 64 KiB), so limit=1000 answered up to 64 MB."""
    from collector.event import DeadLetter

    now = int(time.time() * 1000)
    store.write_deadletters([DeadLetter("parse_error: big", "/var/log/big.log", n + 1,
                                        f"{n}" + "x" * 70_000, ingested_ms=now - 1000)
                             for n in range(3)])
    status, _, body = get(api, "/api/deadletters?since=1h&limit=1000")
    docs = orjson.loads(body)["deadletters"]
    assert status == 200 and len(body) < 3 * 5000
    assert [(d["source"], len(d["raw"]), d["raw_truncated"]) for d in docs] == [
        (f"/var/log/big.log:{n + 1}", 4096, True) for n in range(3)]
