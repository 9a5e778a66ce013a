"""What `midwatch doctor` and `run` say when the store's URL cannot be reached: a misspelt
host named the key to correct, not "is it running? services.sh up" (new-team walk). Real
name resolution of a reserved name (RFC 6761 `.invalid`) and a real closed port."""

from __future__ import annotations

import socket

import pytest

from collector.store.base import StoreError
from collector.store.elasticsearch import ElasticsearchStore


def _ping_error(url: str) -> str:
    store = ElasticsearchStore(url, request_timeout=5, retry_attempts=1)
    try:
        with pytest.raises(StoreError) as caught:
            store.ping()
        return str(caught.value)
    finally:
        store.close()


def test_a_host_name_not_found_names_the_url_key():
    assert _ping_error("http://elasticsaerch.invalid:9200") == (
        "cannot reach Elasticsearch at http://elasticsaerch.invalid:9200: host name not found "
        "— check the host in store.elasticsearch.url (gave up after 1 attempts)")


def test_a_refused_connection_keeps_the_start_hint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _ping_error(f"http://127.0.0.1:{port}") == (
        f"cannot reach Elasticsearch at http://127.0.0.1:{port}: connection refused — is it "
        "running? `deploy/local/services.sh up` (gave up after 1 attempts)")
