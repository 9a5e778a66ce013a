"""The Elasticsearch datasources the boards query: events, traces, alert history and dead letters.

Index names come from ``collector.store.es_mappings`` so a prefix change moves boards and
store together. Events use Grafana's daily index pattern (``[prefix-events-]YYYY.MM.DD``), so a
query over the last hour touches today's index only instead of every day kept. ``esVersion``
and the top-level ``database`` are deliberately absent: Grafana 10+ asks the cluster for its
version and reads the index from ``jsonData.index``.

The OpenSearch flavor provisions the ``grafana-opensearch-datasource`` plugin instead (Grafana's
Elasticsearch datasource refuses OpenSearch): it reads the index from ``jsonData.database``,
wants ``flavor``/``version``, and its Lucene query model is the Elasticsearch one plus
``queryType: lucene`` (``flavored``), so the same panels send the same searches.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from dashboards.settings import BoardSettings

EVENTS_UID = "midwatch-events"
TRACES_UID = "midwatch-traces"
ALERTS_UID = "midwatch-alerts"
DEADLETTERS_UID = "midwatch-deadletters"
# Grafana's default: shards each search may query at once.
MAX_CONCURRENT_SHARD_REQUESTS = 5
MIN_INTERVAL = "10s"
ES_TYPE = "elasticsearch"
OPENSEARCH_TYPE = "grafana-opensearch-datasource"
SEARCH_TYPES = (ES_TYPE, OPENSEARCH_TYPE)
# The plugin picks request features by the cluster version it is told (``jsonData.version``):
# the one the user names (``BoardSettings.engine_version``), else the lowest tested.
OPENSEARCH_VERSION = "2.19.4"


@dataclass(frozen=True, slots=True)
class EsDatasource:
    uid: str
    name: str
    # Which store index the datasource reads (``events``/``traces``/``alerts``/``deadletter``),
    # for field checks.
    store_index: str
    index: str
    time_field: str
    interval: str | None = None  # Grafana's index pattern interval: Daily, Hourly, ... or none
    # Only events are log lines; Grafana's logs view reads message and level from these.
    log_fields: bool = False

    def json_data(self, flavor: str = "elasticsearch", version: str | None = None) -> dict:
        data: dict = {
            "index": self.index,
            "timeField": self.time_field,
            "maxConcurrentShardRequests": MAX_CONCURRENT_SHARD_REQUESTS,
            # The smallest date_histogram bucket Grafana's "auto" interval picks.
            "timeInterval": MIN_INTERVAL,
        }
        if self.log_fields:
            data["logMessageField"] = "message"
            data["logLevelField"] = "log.level"
        if self.interval:
            data["interval"] = self.interval
        if flavor == "opensearch":
            data["database"] = data.pop("index")
            data |= {"flavor": "opensearch", "version": version or OPENSEARCH_VERSION,
                     "pplEnabled": False}
        return data

    def grafana(self, url: str, flavor: str = "elasticsearch", version: str | None = None) -> dict:
        """The datasource as both the provisioning file and ``POST /api/datasources`` take it."""
        return {
            "name": self.name,
            "uid": self.uid,
            "type": OPENSEARCH_TYPE if flavor == "opensearch" else ES_TYPE,
            "access": "proxy",
            "url": url,
            "jsonData": self.json_data(flavor, version),
        }


def datasources(settings: BoardSettings) -> tuple[EsDatasource, ...]:
    names = settings.names
    return (
        EsDatasource(EVENTS_UID, "midwatch events", "events", f"[{names.events}-]YYYY.MM.DD",
                     "@timestamp", interval="Daily", log_fields=True),
        # A trace is "in the range" when it was last active in it: stuck and in-flight
        # messages started long ago must still show up.
        EsDatasource(TRACES_UID, "midwatch traces", "traces", names.traces, "last_seen"),
        EsDatasource(ALERTS_UID, "midwatch alerts", "alerts", names.alerts, "@timestamp"),
        # Daily like events; ``@timestamp`` is when midwatch read (or failed to store) the record.
        EsDatasource(DEADLETTERS_UID, "midwatch dead letters", "deadletter",
                     f"[{names.deadletter}-]YYYY.MM.DD", "@timestamp", interval="Daily"),
    )


def provisioned(settings: BoardSettings) -> list[dict]:
    """Every datasource midwatch provisions, as Grafana takes them: the four store indices,
    and the tracing tool the journeys are exported to when ``ui.tracing`` is configured."""
    out = [ds.grafana(settings.es_url, settings.flavor, settings.engine_version)
           for ds in datasources(settings)]
    if settings.tracing is not None:
        out.append(settings.tracing.grafana())
    return out


def by_uid(settings: BoardSettings) -> dict[str, EsDatasource]:
    return {ds.uid: ds for ds in datasources(settings)}


def flavored(doc: dict, flavor: str) -> dict:
    """A board built for the Elasticsearch datasource, for ``flavor``'s datasource: for
    OpenSearch every reference to one of ours names the plugin, and every query the plugin
    runs says it is Lucene (the plugin's other language, PPL, is not used)."""
    if flavor != "opensearch":
        return doc
    out = copy.deepcopy(doc)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("datasource")
            if isinstance(ref, dict) and ref.get("type") == ES_TYPE:
                ref["type"] = OPENSEARCH_TYPE
                if "refId" in node:
                    node["queryType"] = "lucene"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out
