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

from collector.config_values import Section
from collector.exporters import EXPORTERS


def load_exporters(config) -> list:
    """The settings of each configured exporter, read by its own module's ``parse``."""
    raw = config.section("exporters")
    if raw.data is None:  # the usual case: no plug-in scan (``collector.registry``) for it
        return []
    top = Section(raw.doc, raw.path, raw.data, tuple(EXPORTERS.paths()))
    return [EXPORTERS.get(name).parse(top.sub(name, EXPORTERS.get(name).KEYS))
            for name in EXPORTERS.paths() if top.has(name)]


def with_exporters(config, store):
    """(store, exporters): the store wrapped so that written journeys reach the configured
    exporters, which run as workers of the service; the store as is when none is configured."""
    from collector.exporters.store import ExportingStore

    exporters = [EXPORTERS.get(s.name).build(s) for s in load_exporters(config)]
    return (ExportingStore(store, exporters) if exporters else store), exporters
