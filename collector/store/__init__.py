"""Stores: where events, traces, dead letters and alert state live (see ``base.Store``).

``open_store`` turns the ``store:`` section of a config file into a store, with errors that
name the file, line and key. Backends load lazily so that the SQLite path never imports the
Elasticsearch client.

    store:
      kind: elasticsearch            # or opensearch, or sqlite (the default)
      sqlite: {path: ./var/midwatch.sqlite}
      elasticsearch:
        url: https://es.example:9200
        index_prefix: midwatch
        api_key: ${MIDWATCH_ES_API_KEY}      # secrets only from ${ENV} or file:
        username: midwatch
        password: file:/run/secrets/es-password
        ca_certs: /etc/midwatch/ca.pem
        verify_certs: true
        request_timeout: 30s
        compress: false                      # gzip (level 1) bulk requests
        # cloud_id: ${MIDWATCH_ES_CLOUD_ID}  # Elastic Cloud, instead of url (with api_key)
      opensearch:                    # kind: opensearch; the same keys but cloud_id
        url: https://search.example:9200

``kind: elasticsearch`` serves Elasticsearch 8.x and 9.x, ``kind: opensearch`` OpenSearch 2.x
and 3.x (Amazon OpenSearch Service too): one store, the dialect picked by ``engines`` at the
first request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from collector.config_values import Section
from collector.store.base import Store
from collector.yamlconf import Doc, KeyPath, did_you_mean

DEFAULT_SQLITE_PATH = "./var/midwatch.sqlite"
_KINDS = ("sqlite", "elasticsearch", "opensearch")
_SECTION_KEYS = ("kind", "sqlite", "elasticsearch", "opensearch")
_SQLITE_KEYS = ("path",)
_OPENSEARCH_KEYS = (
    "url", "index_prefix", "api_key", "username", "password", "ca_certs", "verify_certs",
    "request_timeout", "compress",
)
_ES_KEYS = (*_OPENSEARCH_KEYS, "cloud_id")


def open_store(section: dict | None, doc: Doc | None = None, path: KeyPath = ("store",)) -> Store:
    """The configured store (not yet set up: call ``setup()``). Read through ``Section`` like
    every other section, so its errors read the same; without a ``doc`` (a mapping built in
    code, not read from a file) errors name ``<config>`` and credentials are taken as given."""
    s = Section(doc if doc is not None else Doc(section, "<config>"), path, section,
                _SECTION_KEYS)
    kind = s.text("kind", "sqlite")
    if kind not in _KINDS:
        raise s.error("kind", f"unknown store kind {kind!r}", did_you_mean(str(kind), _KINDS)
                      or "expected sqlite, elasticsearch or opensearch")
    _check_engine_sections(s, kind)
    if kind == "sqlite":
        sub = s.sub("sqlite", _SQLITE_KEYS)
        from collector.store.sqlite import SQLiteStore

        return SQLiteStore(sub.text("path") or DEFAULT_SQLITE_PATH)
    sub = s.sub(kind, _ES_KEYS if kind == "elasticsearch" else _OPENSEARCH_KEYS)
    return _open_elasticsearch(sub, kind, from_file=doc is not None)


def _check_engine_sections(s: Section, kind: str) -> None:
    """An engine's section the kind does not read is a mistake, not a spare: without ``kind``
    the store would silently be a local SQLite file, and after switching the kind the error
    would be a missing url. A ``sqlite:`` section beside an engine's, or an explicit
    ``kind: sqlite``, is fine (the example config has both sections)."""
    for other in ("elasticsearch", "opensearch"):
        if other == kind or not s.has(other) or s.has(kind):
            continue
        if not s.has("kind"):
            raise s.error(other, "store.kind is not set, so the store is SQLite and this "
                          "section is not used", f"add kind: {other}")
        if kind != "sqlite":  # kind: sqlite named on purpose may keep an engine's for later
            raise s.error(other, f"kind: {kind} reads store.{kind}, not this section",
                          f"rename it to {kind}:, or set kind: {other}")


def _open_elasticsearch(sub: Section, kind: str, *, from_file: bool) -> Store:
    def secret(key: str) -> Any:
        return sub.secret(key) if from_file else sub.raw(key)

    url, cloud_id = sub.raw("url"), sub.raw("cloud_id")
    if cloud_id is not None:
        _check_cloud(sub)
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise sub.error("url", f"expected an http(s) URL, got {url!r}",
                        "e.g. http://127.0.0.1:9200"
                        + (", or cloud_id for Elastic Cloud" if kind == "elasticsearch" else ""))
    if from_file and isinstance(url, str) and _url_password(url) and (
            (*sub.path, "url") not in sub.doc.from_env):
        raise sub.error("url", "a password in the URL is a secret written in YAML",
                        "write the URL without it and set username + password: ${ENV_VAR} "
                        "or file:/path/to/secret (or the whole url: ${ENV_VAR})")
    username, password = sub.raw("username"), sub.raw("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise sub.error(missing, f"{missing} is missing",
                        "basic auth needs both username and password")
    verify = sub.flag("verify_certs", True)
    timeout_s = sub.duration_ms("request_timeout", "30s") / 1000
    from collector.store.elasticsearch import ElasticsearchStore

    index_prefix = _index_prefix(sub)
    try:
        return ElasticsearchStore(
            url,
            cloud_id=None if cloud_id is None else str(cloud_id),
            product=kind,
            index_prefix=index_prefix,
            api_key=secret("api_key"),
            basic_auth=(str(username), secret("password")) if username is not None else None,
            ca_certs=sub.raw("ca_certs"),
            verify_certs=verify,
            request_timeout=timeout_s,
            compress=sub.flag("compress", False),
        )
    except ValueError as exc:  # the client's: a URL it cannot parse (a port over 65535)
        raise sub.error("url", f"not a usable URL: {exc}",
                        "e.g. http://127.0.0.1:9200") from None


def _url_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:  # the client names what is wrong with the URL
        return False


def _index_prefix(sub: Section) -> str:
    from collector.store import es_mappings

    index_prefix = str(sub.raw("index_prefix", es_mappings.DEFAULT_PREFIX))
    try:
        es_mappings.index_names(index_prefix)
    except ValueError as exc:
        raise sub.error("index_prefix", str(exc)) from None
    return index_prefix


def configured_index_prefix(doc: Doc) -> str | None:
    """The index prefix the config's Elasticsearch or OpenSearch store writes under (None for
    SQLite), checked as ``open_store`` checks it, without connecting or reading secrets: the
    boards built from a config must read what ``midwatch run`` of that config writes."""
    section = doc.data.get("store") if isinstance(doc.data, dict) else None
    s = Section(doc, ("store",), section, _SECTION_KEYS)
    kind = s.text("kind", "sqlite")
    if kind not in ("elasticsearch", "opensearch"):
        return None
    return _index_prefix(s.sub(kind, _ES_KEYS if kind == "elasticsearch" else _OPENSEARCH_KEYS))


def _check_cloud(sub: Section) -> None:
    """Elastic Cloud: ``cloud_id`` names the deployment (``name:base64(host[:port]$es-uuid$
    kibana-uuid)``, from the deployment's page); it replaces ``url`` and is used with an API
    key. Decoded here as the client will decode it, so a bad one fails at its line."""
    from collector.store.engines import cloud_address

    if sub.raw("url") is not None:
        raise sub.error("cloud_id", "cloud_id and url are both set",
                        "keep one: cloud_id for Elastic Cloud, url for any other cluster")
    try:
        cloud_address(str(sub.raw("cloud_id")))
    except ValueError as exc:
        raise sub.error("cloud_id", f"not an Elastic Cloud ID ({exc})",
                        "copy it from the deployment's page: <name>:<base64 text>") from None
    if sub.raw("api_key") is None and sub.raw("username") is None:
        raise sub.error("api_key", "Elastic Cloud needs credentials",
                        "set api_key (an API key with write access to the index prefix)")
