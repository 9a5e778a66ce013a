"""Which search engine a store talks to, and a client that speaks to each in its own dialect.

The store is written once against the Elasticsearch 9 Python client (``ElasticsearchStore``,
and every module beside it). What differs between the engines midwatch supports is only on
the wire, so it is handled in the transport, below every API call:

- Elasticsearch 9.x: as the client sends it (``compatible-with=9`` media types).
- Elasticsearch 8.x refuses ``compatible-with=9`` (406); it is sent ``compatible-with=8``,
  which 8.x understands and 9.x also accepts, the REST compatibility Elastic documents.
  Chosen over a second client (the ``elasticsearch8`` package pins elastic-transport < 9,
  which the 9.x client cannot run on, so they cannot be installed side by side).
- OpenSearch 2.x/3.x: plain ``application/json``/``x-ndjson`` (it knows no Elasticsearch
  media types), without the ``include_source_on_error`` bulk parameter (Elasticsearch
  8.18+ only; OpenSearch answers 400 for a parameter it does not know). OpenSearch sends no
  ``X-Elastic-Product`` header, which the client insists on; the transport adds it once it
  has identified the node itself. Chosen over ``opensearch-py`` because a second client API
  would need a second store (and outbox, lease, report) for the same requests.

The engine is identified on the first request, with ``GET /_nodes/_local`` (the
integ-test-zip Elasticsearch has no ``GET /``): Elasticsearch answers with an
``X-Elastic-Product`` header, OpenSearch without. Connecting thus stays free of I/O until
the store's first call, and a node that is down fails there with the store's usual message.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import elastic_transport
from elastic_transport.client_utils import parse_cloud_id
from elasticsearch import Elasticsearch

from collector.store.base import StoreError

ELASTICSEARCH = "elasticsearch"
OPENSEARCH = "opensearch"
# The versions CI runs the store, rule and board suites against (README "Stores").
TESTED = {ELASTICSEARCH: ((8, 19), (9, 5)), OPENSEARCH: ((2, 19), (3, 3))}

_JSON = "application/json"
_COMPAT_RE = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+); compatible-with=\d+")
_ES_ONLY_PARAMS = re.compile(r"(?<=[?&])include_source_on_error=[^&]*&?")


@dataclass(frozen=True, slots=True)
class Engine:
    product: str  # ELASTICSEARCH or OPENSEARCH
    version: str  # as the node reports it, e.g. "8.19.9"

    @property
    def major_minor(self) -> tuple[int, int]:
        parts = [int(p) for p in re.findall(r"\d+", self.version)[:2]]
        return (parts + [0, 0])[0], (parts + [0, 0])[1]

    @property
    def name(self) -> str:
        return f"{'OpenSearch' if self.product == OPENSEARCH else 'Elasticsearch'} {self.version}"

    def tested(self) -> bool:
        low, high = TESTED[self.product]
        return low <= self.major_minor <= high

    def untested_warning(self) -> str:
        """"" when CI tests this version, else a warning naming the tested range (doctor):
        outside it midwatch may work, but nothing has checked that it does."""
        if self.tested():
            return ""
        ranges = "; ".join(
            f"{'OpenSearch' if product == OPENSEARCH else 'Elasticsearch'} "
            f"{low[0]}.{low[1]}" + ("" if low == high else f" to {high[0]}.{high[1]}")
            for product, (low, high) in TESTED.items())
        return f"; WARNING: {self.name} is outside the tested versions ({ranges})"


def engine_of(version_doc: dict, elastic_product: str | None) -> Engine:
    """The engine from a ``_nodes/_local`` answer and its ``X-Elastic-Product`` header."""
    versions = [n.get("version", "?") for n in (version_doc.get("nodes") or {}).values()]
    version = versions[0] if versions else "?"
    return Engine(ELASTICSEARCH if elastic_product == "Elasticsearch" else OPENSEARCH, version)


def rewrite_headers(engine: Engine, headers: Any) -> dict:
    """The request's media types as ``engine`` accepts them."""
    out = dict(headers) if isinstance(headers, Mapping) else {}
    if engine.product == ELASTICSEARCH and engine.major_minor[0] >= 9:
        return out
    for name in ("accept", "content-type", "Accept", "Content-Type"):
        value = out.get(name)
        if value:
            if engine.product == OPENSEARCH:
                out[name] = _COMPAT_RE.sub(r"application/\1", value)
            else:
                out[name] = _COMPAT_RE.sub(
                    r"application/vnd.elasticsearch+\1; compatible-with=8", value)
    return out


def rewrite_target(engine: Engine, target: str) -> str:
    if engine.product != OPENSEARCH or "include_source_on_error" not in target:
        return target
    return _ES_ONLY_PARAMS.sub("", target).rstrip("?&")


class EngineTransport(elastic_transport.Transport):
    """A transport that identifies the node on first use and then speaks its dialect."""

    def __init__(self, *args: Any, expect: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.engine: Engine | None = None
        self._expect = expect
        self._lock = threading.Lock()

    def identify(self, headers: Any = None, **options: Any) -> Engine:
        """The engine, asked once with the client's own headers (its credentials) and the
        triggering request's timeout and retry options (the store's retries are its own)."""
        with self._lock:
            if self.engine is None:
                asked = {k: v for k, v in (headers.items() if isinstance(headers, Mapping) else ())
                         if k.lower() not in ("accept", "content-type")}
                resp = super().perform_request(
                    "GET", "/_nodes/_local?filter_path=nodes.*.version",
                    headers={**asked, "accept": _JSON}, **options,
                )
                product = resp.meta.headers.get("x-elastic-product")
                if resp.meta.status == 401:
                    # Wrong credentials: not known yet; the request itself then fails
                    # with the store's message about them.
                    return Engine(ELASTICSEARCH, "9")
                if resp.meta.status == 403 and product:
                    # A key without the monitor privilege (Elastic Cloud): the product is
                    # known; Elastic Cloud still answers ``GET /`` with the version. Without
                    # it compatible-with=8 suits both 8.x and 9.x.
                    engine = Engine(ELASTICSEARCH, self._root_version(asked, **options))
                elif not 200 <= resp.meta.status < 300:
                    raise UnsupportedEngine(
                        f"cannot tell which engine answers: GET /_nodes/_local answered "
                        f"{resp.meta.status}: {str(resp.body)[:200]}")
                else:
                    engine = engine_of(resp.body if isinstance(resp.body, dict) else {},
                                       product)
                if self._expect is not None and engine.product != self._expect:
                    other = "opensearch" if engine.product == OPENSEARCH else "elasticsearch"
                    raise UnsupportedEngine(
                        f"the node is {engine.name}, not {self._expect}; set store.kind: {other}")
                self.engine = engine
            return self.engine

    def _root_version(self, headers: dict, **options: Any) -> str:
        """The version ``GET /`` names (``version.number``), or "?" when it is refused too."""
        resp = super().perform_request("GET", "/", headers={**headers, "accept": _JSON},
                                       **options)
        body = resp.body if isinstance(resp.body, dict) else {}
        version = (body.get("version") or {}).get("number") if resp.meta.status == 200 else None
        return str(version or "?")

    def perform_request(self, method: str, target: str, **kwargs: Any
                        ) -> elastic_transport.TransportApiResponse:
        engine = self.engine or self.identify(
            kwargs.get("headers"),
            **{k: v for k, v in kwargs.items() if k in ("request_timeout", "max_retries",
                                                        "retry_on_timeout", "retry_on_status")})
        kwargs["headers"] = rewrite_headers(engine, kwargs.get("headers"))
        resp = super().perform_request(method, rewrite_target(engine, target), **kwargs)
        if engine.product == OPENSEARCH:
            # Identified above: tell the client's product check what we already know.
            headers = elastic_transport.HttpHeaders(resp.meta.headers)
            headers["x-elastic-product"] = "Elasticsearch"
            resp = elastic_transport.TransportApiResponse(
                dataclasses.replace(resp.meta, headers=headers), resp.body)
        return resp


def cloud_address(cloud_id: str) -> str:
    """The URL an Elastic Cloud ID names, decoded as the client will decode it:
    ``<name>:base64(<host>[:<port>]$<es uuid>$<kibana uuid>)`` is
    ``https://<es uuid>.<host>:<port>`` (port 443 unless the host names one). ValueError when
    it is not a Cloud ID or names no Elasticsearch."""
    found = parse_cloud_id(cloud_id)
    if found.es_address is None:
        raise ValueError("the Cloud ID names no Elasticsearch (nothing after the first '$')")
    host, port = found.es_address
    return f"https://{host}:{port}"


class UnsupportedEngine(StoreError):
    """The node is not the engine the config names, or did not say what it is."""


def client(url: str | None = None, *, expect: str | None = None, **kwargs: Any) -> Elasticsearch:
    """An Elasticsearch client for ``url`` (or ``cloud_id=``) that talks to Elasticsearch 8
    or 9, or OpenSearch 2 or 3; ``expect`` refuses the other product at the first call."""

    class _Transport(EngineTransport):
        def __init__(self, *args: Any, **kw: Any):
            super().__init__(*args, expect=expect, **kw)

    return Elasticsearch(url, transport_class=_Transport, **kwargs)


def engine_of_client(es: Elasticsearch) -> Engine:
    """The engine behind ``es``; a plain client (no EngineTransport) is taken as ES 9."""
    transport = es.transport
    if not isinstance(transport, EngineTransport):
        return Engine(ELASTICSEARCH, "9")
    if transport.engine is None:
        # Any request identifies the node first, with the client's credentials; its own
        # answer does not matter (a key may lack the monitor privilege).
        es.options(ignore_status=tuple(range(400, 600))).cluster.health(timeout="1s")
    return transport.engine or transport.identify()


def delete_prefix(es: Elasticsearch, prefix: str) -> list[str]:
    """Delete every index and index template whose name starts with ``prefix``; the indices
    deleted. By concrete names: a wildcard delete needs ``action.destructive_requires_name:
    false``, which a company's cluster rarely sets. For what owns its prefix outright (the
    demo's ``midwatch-demo-``, the tests' unique names), never for a configured deployment."""
    found = es.indices.get(index=f"{prefix}*", expand_wildcards="all", allow_no_indices=True)
    names = sorted(found.body if hasattr(found, "body") else found)
    if names:
        es.indices.delete(index=",".join(names), ignore_unavailable=True)
    # Every template under the prefix, also those of stores given a longer one ("<prefix>mw"):
    # left behind they pile up in the cluster state (a thousand after a few local test runs).
    templates = es.options(ignore_status=404).indices.get_index_template(name=f"{prefix}*")
    for template in templates.body.get("index_templates", []):
        es.options(ignore_status=404).indices.delete_index_template(name=template["name"])
    return names
