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
        # cloud_id: ${MIDWATCH_ES_CLOUD_ID}  # Elastic Cloud, instead of url (with api_key)
      opensearch:                    # kind: opensearch; the same keys but cloud_id
        url: https://search.example:9200

``kind: elasticsearch`` serves Elasticsearch 8.x and 9.x, ``kind: opensearch`` OpenSearch 2.x
and 3.x (Amazon OpenSearch Service too): one store, the dialect picked by ``engines`` at the
first request.
"""

from __future__ import annotations

from typing import Any

from collector.store.base import Store
from collector.yamlconf import ConfigError, Doc, KeyPath, did_you_mean, parse_duration_ms

DEFAULT_SQLITE_PATH = "./var/midwatch.sqlite"
_KINDS = ("sqlite", "elasticsearch", "opensearch")
_SECTION_KEYS = ("kind", "sqlite", "elasticsearch", "opensearch")
_SQLITE_KEYS = ("path",)
_OPENSEARCH_KEYS = (
    "url", "index_prefix", "api_key", "username", "password", "ca_certs", "verify_certs",
    "request_timeout",
)
_ES_KEYS = (*_OPENSEARCH_KEYS, "cloud_id")


def _fail(doc: Doc | None, path: KeyPath, message: str, hint: str | None = None) -> ConfigError:
    if doc is not None:
        return doc.error(path, message, hint)
    key = ".".join(map(str, path))
    return ConfigError("<config>", None, key, message, hint=hint)


def _mapping(section: Any, doc: Doc | None, path: KeyPath, allowed: tuple[str, ...]) -> dict:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise _fail(doc, path, f"expected a mapping, got {type(section).__name__}")
    for key in section:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed) or f"expected one of {', '.join(allowed)}"
            raise _fail(doc, (*path, key), "unknown key", hint)
    return section


def _secret(doc: Doc | None, path: KeyPath, value: Any) -> Any:
    return doc.secret(path, value) if doc is not None else value


def open_store(section: dict | None, doc: Doc | None = None, path: KeyPath = ("store",)) -> Store:
    """The configured store (not yet set up: call ``setup()``)."""
    cfg = _mapping(section, doc, path, _SECTION_KEYS)
    kind = cfg.get("kind", "sqlite")
    if kind not in _KINDS:
        raise _fail(doc, (*path, "kind"), f"unknown store kind {kind!r}",
                    did_you_mean(str(kind), _KINDS) or "expected sqlite, elasticsearch or opensearch")
    if kind == "sqlite":
        sub = _mapping(cfg.get("sqlite"), doc, (*path, "sqlite"), _SQLITE_KEYS)
        from collector.store.sqlite import SQLiteStore

        return SQLiteStore(sub.get("path") or DEFAULT_SQLITE_PATH)
    return _open_elasticsearch(cfg, doc, path, kind)


def _open_elasticsearch(cfg: dict, doc: Doc | None, path: KeyPath, kind: str) -> Store:
    es_path = (*path, kind)
    sub = _mapping(cfg.get(kind), doc, es_path,
                   _ES_KEYS if kind == "elasticsearch" else _OPENSEARCH_KEYS)
    url, cloud_id = sub.get("url"), sub.get("cloud_id")
    if cloud_id is not None:
        _check_cloud(doc, es_path, sub)
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _fail(doc, (*es_path, "url"), f"expected an http(s) URL, got {url!r}",
                    "e.g. http://127.0.0.1:9200"
                    + (", or cloud_id for Elastic Cloud" if kind == "elasticsearch" else ""))
    username, password = sub.get("username"), sub.get("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise _fail(doc, (*es_path, missing), f"{missing} is missing",
                    "basic auth needs both username and password")
    verify = sub.get("verify_certs", True)
    if not isinstance(verify, bool):
        raise _fail(doc, (*es_path, "verify_certs"), f"expected true or false, got {verify!r}")
    timeout_s = 30.0
    if "request_timeout" in sub:
        try:
            timeout_s = parse_duration_ms(sub["request_timeout"]) / 1000
        except ValueError as exc:
            raise _fail(doc, (*es_path, "request_timeout"), str(exc)) from None
    from collector.store.elasticsearch import ElasticsearchStore

    try:
        return ElasticsearchStore(
            url,
            cloud_id=None if cloud_id is None else str(cloud_id),
            product=kind,
            index_prefix=str(sub.get("index_prefix", "midwatch")),
            api_key=_secret(doc, (*es_path, "api_key"), sub.get("api_key")),
            basic_auth=(
                (str(username), _secret(doc, (*es_path, "password"), password))
                if username is not None else None
            ),
            ca_certs=sub.get("ca_certs"),
            verify_certs=verify,
            request_timeout=timeout_s,
        )
    except ValueError as exc:
        raise _fail(doc, (*es_path, "index_prefix"), str(exc)) from None


def _check_cloud(doc: Doc | None, path: KeyPath, sub: dict) -> None:
    """Elastic Cloud: ``cloud_id`` names the deployment (``name:base64(host$es-uuid$kibana-uuid)``,
    from the deployment's page); it replaces ``url`` and is used with an API key."""
    import base64
    import binascii

    cloud_id = sub["cloud_id"]
    if sub.get("url") is not None:
        raise _fail(doc, (*path, "cloud_id"), "cloud_id and url are both set",
                    "keep one: cloud_id for Elastic Cloud, url for any other cluster")
    name, _, encoded = str(cloud_id).partition(":")
    try:
        host = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        host = ""
    if not name or host.count("$") < 1:
        raise _fail(doc, (*path, "cloud_id"), "not an Elastic Cloud ID",
                    "copy it from the deployment's page: <name>:<base64 text>")
    if sub.get("api_key") is None and sub.get("username") is None:
        raise _fail(doc, (*path, "api_key"), "Elastic Cloud needs credentials",
                    "set api_key (an API key with write access to the index prefix)")
