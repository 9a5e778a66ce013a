"""Elasticsearch: cluster health and the size of midwatch's own indices.

Readings: ``es.cluster_status`` (0 green, 1 yellow, 2 red; label ``es.status``),
``es.unassigned_shards``, and per index of the prefix (label ``es.index``) ``es.index_bytes``
and ``es.index_docs``: the growth of the store is the first thing to watch for disk alarms.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config_values import Section
from collector.probes import httpget
from collector.probes.config import http_url
from collector.probes.reading import Reading
from collector.store.es_mappings import normalize_prefix
from collector.yamlconf import Secret

KEYS = ("url", "username", "password", "api_key", "index_prefix", "max_indices", "ca_file",
        "verify_tls")
PLATFORM = "midwatch"
DEFAULT_INTERVAL = "1m"
STATUS = {"green": 0, "yellow": 1, "red": 2}


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    username: str | None
    password: Secret | None
    api_key: Secret | None
    index_prefix: str
    max_indices: int
    ca_file: str | None
    verify_tls: bool


def parse(s: Section, config) -> Settings:
    url = http_url(s, "http://127.0.0.1:9200").rstrip("/")  # a base for API paths
    try:
        prefix = normalize_prefix(s.text("index_prefix", "midwatch"))
    except ValueError as exc:
        raise s.error("index_prefix", str(exc)) from None
    return Settings(url, s.text("username"), s.secret("password"), s.secret("api_key"), prefix,
                    s.number("max_indices", 500, minimum=1), s.text("ca_file"),
                    s.flag("verify_tls", True))


class Probe:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.target = settings.url
        self.http = httpget.pool(settings.ca_file, settings.verify_tls)
        self.headers = httpget.auth_headers(settings.username, settings.password,
                                            settings.api_key)

    def run(self, timeout_s: float) -> list[Reading]:
        s = self.settings
        health = httpget.get_json(self.http, f"{s.url}/_cluster/health", self.headers, timeout_s)
        status = str(health.get("status", "red"))
        cluster = {"es.cluster": str(health.get("cluster_name", ""))}
        out = [Reading("es.cluster_status", STATUS.get(status, 2), {**cluster, "es.status": status},
                       ok=status != "red", error=None if status != "red" else "cluster is red"),
               Reading("es.unassigned_shards", int(health.get("unassigned_shards") or 0), cluster)]
        indices = httpget.get_json(
            self.http, f"{s.url}/_cat/indices/{s.index_prefix}-*?format=json&bytes=b"
            "&h=index,docs.count,store.size&s=store.size:desc&expand_wildcards=open",
            self.headers, timeout_s)
        for row in indices[: s.max_indices]:
            labels = {**cluster, "es.index": row["index"]}
            out.append(Reading("es.index_bytes", int(row.get("store.size") or 0), labels))
            out.append(Reading("es.index_docs", int(row.get("docs.count") or 0), labels))
        return out

    def close(self) -> None:
        self.http.clear()
