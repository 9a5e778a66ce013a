"""``open_store``: the ``store:`` config section, its errors and its secrets."""

from __future__ import annotations

import base64

import pytest

from collector.store import open_store
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import ConfigError, loads


def _open(text: str):
    doc = loads(text, "midwatch.yaml")
    return open_store(doc.data.get("store"), doc)


def test_default_is_sqlite_at_var(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store(None)
    assert isinstance(store, SQLiteStore)
    assert store.path.as_posix() == "var/midwatch.sqlite"
    store.close()


def test_sqlite_path(tmp_path):
    store = _open(f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path}/x.sqlite\n")
    assert store.path == tmp_path / "x.sqlite"
    store.close()


def test_elasticsearch_with_secrets_from_env(monkeypatch):
    monkeypatch.setenv("ES_PW", "s3cret-value")
    store = _open(
        "store:\n  kind: elasticsearch\n  elasticsearch:\n"
        "    url: http://127.0.0.1:9200\n    index_prefix: prod-mw\n"
        "    username: midwatch\n    password: ${ES_PW}\n    request_timeout: 5s\n"
    )
    assert isinstance(store, ElasticsearchStore)
    assert store.names.events == "prod-mw-events"
    client = store._client  # the wiring is only visible on the client itself
    assert client._request_timeout == 5.0
    expected = base64.b64encode(b"midwatch:s3cret-value").decode()
    assert client._headers["authorization"] == f"Basic {expected}"
    assert "s3cret-value" not in repr(store.__dict__)
    store.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("store:\n  knid: sqlite\n", "midwatch.yaml:2:3: store.knid: unknown key (did you mean 'kind'?)"),
        ("store:\n  kind: mongo\n", "midwatch.yaml:2:3: store.kind: unknown store kind 'mongo'"),
        ("store:\n  kind: elasticsearch\n  elasticsearch:\n    url: 127.0.0.1:9200\n",
         "midwatch.yaml:4:5: store.elasticsearch.url: expected an http(s) URL"),
        ("store:\n  kind: elasticsearch\n  elasticsearch:\n    url: http://h:9200\n"
         "    api_key: abc123\n",
         "midwatch.yaml:5:5: store.elasticsearch.api_key: secrets must not be written in YAML"),
        ("store:\n  kind: elasticsearch\n  elasticsearch:\n    url: http://h:9200\n"
         "    username: u\n", "store.elasticsearch.password: password is missing"),
        ("store:\n  kind: elasticsearch\n  elasticsearch:\n    url: http://h:9200\n"
         "    index_prefix: Bad Prefix\n", "store.elasticsearch.index_prefix: index prefix"),
        # A URL the client cannot parse (a port typed with one digit too many) is the url's
        # error, at its line: it was reported as the index_prefix's (new-team walk).
        ("store:\n  kind: elasticsearch\n  elasticsearch:\n    url: http://127.0.0.1:92000\n"
         "    index_prefix: walk\n",
         "midwatch.yaml:4:5: store.elasticsearch.url: not a usable URL: Could not parse URL "
         "'http://127.0.0.1:92000'"),
        ("store:\n  kind: opensearch\n  opensearch:\n    url: http://os:65536\n",
         "midwatch.yaml:4:5: store.opensearch.url: not a usable URL"),
        ("store:\n  kind: elasticsearch\n  elasticsearch:\n    url: http://h:9200\n"
         "    request_timeout: soon\n", "store.elasticsearch.request_timeout: expected a duration"),
    ],
)
def test_config_errors_name_file_line_and_key(text: str, message: str):
    with pytest.raises(ConfigError) as err:
        _open(text)
    assert message in str(err.value)
    assert "abc123" not in str(err.value)


# An Elastic Cloud ID: "<deployment name>:" + base64("<host>$<es uuid>$<kibana uuid>").
CLOUD_ID = "prod:" + base64.b64encode(b"eu-west-1.aws.found.io$abc123$def456").decode()


def test_opensearch_kind_and_elastic_cloud(monkeypatch):
    store = _open("store:\n  kind: opensearch\n  opensearch:\n    url: https://search.example:9200\n")
    assert isinstance(store, ElasticsearchStore) and store.url == "https://search.example:9200"
    store.close()
    monkeypatch.setenv("ES_KEY", "a2V5OnNlY3JldA==")
    store = _open(f"store:\n  kind: elasticsearch\n  elasticsearch:\n    cloud_id: {CLOUD_ID}\n"
                  "    api_key: ${ES_KEY}\n")
    assert store.url == "Elastic Cloud deployment prod (https://abc123.eu-west-1.aws.found.io:443)"
    assert store._client._headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="
    store.close()


@pytest.mark.parametrize(("section", "message"), [
    ("    cloud_id: prod\n    api_key: ${ES_KEY}\n",
     "midwatch.yaml:4:5: store.elasticsearch.cloud_id: not an Elastic Cloud ID"),
    (f"    cloud_id: {CLOUD_ID}\n", "store.elasticsearch.api_key: Elastic Cloud needs credentials"),
    (f"    cloud_id: {CLOUD_ID}\n    url: http://h:9200\n    api_key: ${{ES_KEY}}\n",
     "store.elasticsearch.cloud_id: cloud_id and url are both set"),
])
def test_elastic_cloud_errors(section, message, monkeypatch):
    monkeypatch.setenv("ES_KEY", "k")
    with pytest.raises(ConfigError) as err:
        _open("store:\n  kind: elasticsearch\n  elasticsearch:\n" + section)
    assert message in str(err.value)


def test_cloud_id_is_an_elasticsearch_key_only():
    with pytest.raises(ConfigError) as err:
        _open(f"store:\n  kind: opensearch\n  opensearch:\n    cloud_id: {CLOUD_ID}\n")
    assert "store.opensearch.cloud_id: unknown key" in str(err.value)


@pytest.mark.parametrize("text, line, message", [
    # no kind: SQLite by default, and the engine's settings were silently not used
    ("store:\n  elasticsearch: {url: 'http://127.0.0.1:9210'}\n", 2,
     "store.elasticsearch: store.kind is not set, so the store is SQLite and this section is "
     "not used (add kind: elasticsearch)"),
    # kind switched, section not renamed: "url: expected an http(s) URL, got None" at 1:1
    ("store:\n  kind: opensearch\n  elasticsearch: {url: 'http://127.0.0.1:9220'}\n", 3,
     "store.elasticsearch: kind: opensearch reads store.opensearch, not this section (rename "
     "it to opensearch:, or set kind: elasticsearch)"),
])
def test_an_engine_section_the_kind_does_not_read_is_an_error(text, line, message):
    """New-user walk-through of issue 28: both configs ran, or failed, without saying why."""
    with pytest.raises(ConfigError) as caught:
        _open(text)
    assert caught.value.line == line
    assert str(caught.value).endswith(message)
