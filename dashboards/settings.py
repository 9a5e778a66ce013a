"""What a deployment changes about the boards: where the data lives and where its API answers.

Everything else on a board is fixed by code, so two builds with the same settings produce
byte-identical JSON (the committed ``deploy/grafana`` output is checked against a fresh build).
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.store.es_mappings import IndexNames, index_names
from collector.yamlconf import Doc
from dashboards.tracing import TracingSource, tracing_from

# docker-compose service names: the committed provisioning output works from a clone.
DEFAULT_ES_URL = "http://elasticsearch:9200"
DEFAULT_TRACE_API_URL = "http://localhost:8080"
# Where deploy/docker-compose.yml mounts deploy/grafana/dashboards inside the container.
DEFAULT_DASHBOARDS_PATH = "/var/lib/grafana/dashboards"
FOLDER_TITLE = "midwatch"
FOLDER_UID = "midwatch"
# Which Grafana datasource the boards are built for: the core Elasticsearch one, or the
# grafana-opensearch-datasource plugin (``dashboards.datasources``).
FLAVORS = ("elasticsearch", "opensearch")


@dataclass(frozen=True, slots=True)
class BoardSettings:
    index_prefix: str = "midwatch"
    es_url: str = DEFAULT_ES_URL
    trace_api_url: str = DEFAULT_TRACE_API_URL
    dashboards_path: str = DEFAULT_DASHBOARDS_PATH
    # The trace explorer as people's browsers reach it (``ui.external_url``); the trace key
    # column links to {explorer_url}/traces/{key}.
    explorer_url: str = DEFAULT_TRACE_API_URL
    flavor: str = "elasticsearch"
    # The OpenSearch version the plugin is told (``--engine-version``): it picks request
    # features by it. None: the lowest tested (``datasources.OPENSEARCH_VERSION``).
    engine_version: str | None = None
    # ``ui.tracing``: the Jaeger/Tempo datasource to provision and link journeys to.
    tracing: TracingSource | None = None

    @property
    def names(self) -> IndexNames:
        return index_names(self.index_prefix)


_UI_KEYS = ("external_url", "tracing")


def _ui(doc: Doc | None) -> Section | None:
    if doc is None or not isinstance(doc.data, dict):
        return None
    return Section(doc, ("ui",), doc.data.get("ui"), _UI_KEYS)


def tracing_source_from(doc: Doc | None) -> TracingSource | None:
    """``ui.tracing`` of a loaded config file, checked (file:line errors), or None."""
    s = _ui(doc)
    return tracing_from(s) if s is not None else None


def explorer_url_from(doc: Doc | None) -> str | None:
    """``ui.external_url`` of a loaded config file, checked (file:line errors), or None."""
    s = _ui(doc)
    if s is None:
        return None
    url = s.text("external_url")
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise s.error("external_url", f"expected an http(s) URL, got {url!r}",
                      "the explorer's address as browsers reach it, e.g. https://midwatch.example.com")
    return url.rstrip("/")
