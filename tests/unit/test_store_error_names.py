"""Errors of an OpenSearch store name OpenSearch and ``store.opensearch`` (the section the
person edits), and TLS against a plain-HTTP node says so instead of blaming the CA file
(new-user walk-through of issue 28).

Contract test: the 401 comes from a fake HTTP peer answering as a secured cluster does
(``security_exception``); no secured cluster may be started for unit tests."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from collector.store.base import StoreError
from collector.store.elasticsearch import ElasticsearchStore

DENIED = json.dumps({"error": {"type": "security_exception", "reason": "unable to authenticate "
                               "user [admin] for REST request [/]"}, "status": 401}).encode()


class _Denying(http.server.BaseHTTPRequestHandler):
    def _deny(self) -> None:
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("WWW-Authenticate", 'Basic realm="OpenSearch Security"')
        self.send_header("Content-Length", str(len(DENIED)))
        self.end_headers()
        self.wfile.write(DENIED)

    do_GET = do_HEAD = do_POST = do_PUT = _deny

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peer():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Denying)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _ping_error(url: str, product: str, attempts: int = 1) -> str:
    store = ElasticsearchStore(url, product=product, basic_auth=("admin", "wrong"),
                               retry_attempts=attempts)
    try:
        with pytest.raises(StoreError) as caught:
            store.ping()
    finally:
        store.close()
    return str(caught.value)


def test_wrong_credentials_name_the_opensearch_section(peer):
    message = _ping_error(f"http://127.0.0.1:{peer}", "opensearch")
    assert message == (f"OpenSearch at http://127.0.0.1:{peer} rejected the credentials (401): "
                       "check store.opensearch api_key or username/password")


def test_https_to_a_plain_http_node_says_it_is_plain_http(peer):
    message = _ping_error(f"https://127.0.0.1:{peer}", "elasticsearch", attempts=6)
    assert message.startswith(f"TLS with Elasticsearch at https://127.0.0.1:{peer} failed: ")
    assert "does not speak TLS" in message and "http://" in message
    assert "ca_certs" not in message
    assert "gave up" not in message  # a retry cannot help: failed at the first attempt


def test_a_refused_search_says_why_not_only_its_type():
    """Walk-through: OpenSearch refused the demo's certificate rules with
    "search_phase_execution_exception" and nothing else; the shard's own cause (root_cause,
    else the first failed shard's) is what a person can act on."""
    from collector.store.elasticsearch import _item_reason

    item = {"status": 400, "error": {
        "type": "search_phase_execution_exception", "reason": "", "phase": "query",
        "root_cause": [{"type": "too_many_buckets_exception",
                        "reason": "Trying to create too many buckets. Must be less than or "
                                  "equal to: [65535] but was [65536]."}],
        "failed_shards": [{"shard": 0, "reason": {"type": "too_many_buckets_exception"}}]}}
    assert _item_reason(item) == (
        "search_phase_execution_exception: too_many_buckets_exception: Trying to create too "
        "many buckets. Must be less than or equal to: [65535] but was [65536].")
    shards_only = {"error": {"type": "search_phase_execution_exception",
                             "reason": "all shards failed", "failed_shards": [
                                 {"reason": {"type": "illegal_argument_exception",
                                             "reason": "field is not aggregatable"}}]}}
    assert _item_reason(shards_only) == (
        "search_phase_execution_exception: all shards failed: illegal_argument_exception: "
        "field is not aggregatable")
    assert _item_reason({"error": {"type": "x", "reason": "y"}}) == "x: y"
    # OpenSearch 2.19 as it answered the demo's certificate rules: empty root_cause and
    # failed_shards, the cause in caused_by
    opensearch = {"error": {"root_cause": [], "type": "search_phase_execution_exception",
                            "reason": "", "phase": "fetch", "grouped": True, "failed_shards": [],
                            "caused_by": {"type": "too_many_buckets_exception",
                                          "reason": "Trying to create too many buckets."}}}
    assert _item_reason(opensearch) == ("search_phase_execution_exception: "
                                        "too_many_buckets_exception: Trying to create too many "
                                        "buckets.")
