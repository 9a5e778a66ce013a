"""The ``exporters:`` section: where finished journeys are sent besides the store.

    exporters:
      otlp:
        endpoint: http://127.0.0.1:14318/v1/traces   # OTLP/HTTP protobuf; /v1/traces added if absent
        headers: {Authorization: ${TEMPO_AUTH}}       # secrets only, from ${ENV} or file:
        timeout: 5s
        queue_traces: 10000      # journeys waiting to be sent; beyond, dropped and counted
        batch_traces: 200
        max_attempts: 5
        remember: 100000         # journeys whose sent spans are remembered (later hops join)

Without the section nothing is exported. Errors name the file, line and key.
"""

from __future__ import annotations

import urllib.parse

from collector.config_values import Section
from collector.exporters.otlp import OtlpSettings

_KEYS = ("otlp",)
_OTLP_KEYS = ("endpoint", "headers", "timeout", "queue_traces", "batch_traces", "max_attempts",
              "remember")


def load_exporters(config) -> list[OtlpSettings]:
    raw = config.section("exporters")
    top = Section(raw.doc, raw.path, raw.data, _KEYS)
    if not top.has("otlp"):
        return []
    s = top.sub("otlp", _OTLP_KEYS)
    endpoint = s.text("endpoint", required=True)
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise s.error("endpoint", f"expected an http(s) URL, got {endpoint!r}",
                      "e.g. http://127.0.0.1:4318/v1/traces")
    if not url.path.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    raw_headers = s.raw("headers") or {}
    names = tuple(str(k) for k in raw_headers) if isinstance(raw_headers, dict) else ()
    headers = Section(s.doc, (*s.path, "headers"), raw_headers, names)
    return [OtlpSettings(
        endpoint=endpoint,
        headers=tuple((name, headers.secret(name)) for name in names),
        timeout_ms=s.duration_ms("timeout", "5s", minimum_ms=100),
        queue_traces=s.number("queue_traces", 10_000, minimum=1),
        batch_traces=s.number("batch_traces", 200, minimum=1),
        max_attempts=s.number("max_attempts", 5, minimum=1),
        remember=s.number("remember", 100_000, minimum=0))]


def with_exporters(config, store):
    """(store, exporters): the store wrapped so that written journeys reach the configured
    exporters, which run as workers of the service; the store as is when none is configured."""
    from collector.exporters.otlp import OtlpExporter
    from collector.exporters.store import ExportingStore

    exporters = [OtlpExporter(s) for s in load_exporters(config)]
    return (ExportingStore(store, exporters) if exporters else store), exporters
