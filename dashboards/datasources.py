"""The three Elasticsearch datasources the boards query: events, traces and alert history.

Index names come from ``collector.store.es_mappings`` so a prefix change moves boards and
store together. Events use Grafana's daily index pattern (``[prefix-events-]YYYY.MM.DD``), so a
query over the last hour touches today's index only instead of every day kept. ``esVersion``
and the top-level ``database`` are deliberately absent: Grafana 10+ asks the cluster for its
version and reads the index from ``jsonData.index``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.settings import BoardSettings

EVENTS_UID = "midwatch-events"
TRACES_UID = "midwatch-traces"
ALERTS_UID = "midwatch-alerts"
# Grafana's default: shards each search may query at once.
MAX_CONCURRENT_SHARD_REQUESTS = 5
MIN_INTERVAL = "10s"


@dataclass(frozen=True, slots=True)
class EsDatasource:
    uid: str
    name: str
    # Which store index the datasource reads (``events``/``traces``/``alerts``), for field checks.
    store_index: str
    index: str
    time_field: str
    interval: str | None = None  # Grafana's index pattern interval: Daily, Hourly, ... or none
    # Only events are log lines; Grafana's logs view reads message and level from these.
    log_fields: bool = False

    def json_data(self) -> dict:
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
        return data

    def grafana(self, url: str) -> dict:
        """The datasource as both the provisioning file and ``POST /api/datasources`` take it."""
        return {
            "name": self.name,
            "uid": self.uid,
            "type": "elasticsearch",
            "access": "proxy",
            "url": url,
            "jsonData": self.json_data(),
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
    )


def by_uid(settings: BoardSettings) -> dict[str, EsDatasource]:
    return {ds.uid: ds for ds in datasources(settings)}
