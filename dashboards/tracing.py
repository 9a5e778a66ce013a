"""The tracing tool the journeys are exported to, as a Grafana datasource, and the Traces
board's link that opens a journey there in Grafana Explore.

``exporters: otlp:`` sends every finished journey as an OTel trace whose root span carries
``midwatch.trace_key`` and whose service is the flow (``collector.exporters.spans``). The board
cannot compute the OTel trace ID (a hash of the key) in a data link, so the link searches for
the root span by that attribute instead: a Jaeger search (service = the flow, tag
``midwatch.trace_key``) or a Tempo TraceQL query. It is an internal link (``internal``: the
datasource and the query), Grafana's own way of opening Explore, so no Explore URL layout
(which changed between Grafana 9, 10 and 11) is hard-coded.

Configured in the main config file::

    ui:
      tracing:
        type: jaeger             # or tempo
        url: http://jaeger:16686 # as Grafana's server reaches it
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from collector.config_values import Section

TRACING_UID = "midwatch-tracing"
TYPES = ("jaeger", "tempo")
_KEYS = ("type", "url", "name")
_FIELD = re.compile(r"\$\{__data\.fields\.([A-Za-z_.]+)\}")


@dataclass(frozen=True, slots=True)
class TracingSource:
    type: str
    url: str
    name: str = "midwatch journeys"

    def grafana(self) -> dict:
        """The datasource as both the provisioning file and ``POST /api/datasources`` take it."""
        return {"name": self.name, "uid": TRACING_UID, "type": self.type, "access": "proxy",
                "url": self.url, "jsonData": {}}

    def explore_query(self) -> dict:
        """The Explore query that finds a board row's journey (row fields as data-link
        variables)."""
        if self.type == "jaeger":
            return {"refId": "A", "queryType": "search", "service": "${__data.fields.flow}",
                    "tags": 'midwatch.trace_key="${__data.fields.trace_key}"'}
        return {"refId": "A", "queryType": "traceql",
                "query": '{ span.midwatch.trace_key = "${__data.fields.trace_key}" }'}

    def explore_link(self) -> dict:
        """A panel data link opening the row's journey in Grafana Explore."""
        return {"title": f"Open the journey in Grafana Explore ({self.type})", "url": "",
                "internal": {"datasourceUid": TRACING_UID, "datasourceName": self.name,
                             "query": self.explore_query()}}


class InternalLink:
    """A data link builder for the foundation SDK (which models URL links only): its
    ``build()`` is serialized through ``to_json`` like the SDK's own models."""

    def __init__(self, doc: dict):
        self.doc = doc

    def build(self) -> InternalLink:
        return self

    def to_json(self) -> dict:
        return self.doc


def tracing_from(section: Section) -> TracingSource | None:
    """``ui.tracing`` of the config (file:line errors), or None when not configured."""
    if not section.has("tracing"):
        return None
    s = section.sub("tracing", _KEYS)
    kind = s.choice("type", TYPES, "jaeger")
    url = s.text("url", required=True) or ""
    if not url.startswith(("http://", "https://")):
        raise s.error("url", f"expected an http(s) URL, got {url!r}",
                      "the Jaeger query or Tempo address as Grafana reaches it, e.g. "
                      "http://jaeger:16686")
    return TracingSource(kind, url.rstrip("/"), s.text("name", "midwatch journeys") or "")


def interpolate(query: dict, row: dict[str, str]) -> dict:
    """``query`` with the ``${__data.fields.X}`` variables of a board row filled in, as
    Grafana does when the link is clicked (used to replay the link against the real tool)."""
    return {key: _FIELD.sub(lambda m: str(row[m.group(1)]), value) if isinstance(value, str)
            else value for key, value in query.items()}


def jaeger_search_params(query: dict) -> dict[str, str]:
    """What Grafana's Jaeger datasource sends to ``GET /api/traces`` for a search query:
    the service, and the logfmt ``tags`` as a JSON object."""
    pairs = re.findall(r'([\w.]+)="((?:[^"\\]|\\.)*)"', query.get("tags", ""))
    tags = {key: re.sub(r"\\(.)", r"\1", value) for key, value in pairs}
    return {"service": query["service"], "tags": json.dumps(tags)}
