"""RabbitMQ: queue depth, ready/unacked, consumers, publish/deliver rates and dead-letter
queues through the management HTTP API (``/api/overview``, ``/api/queues``).

Readings per queue (labels ``rabbitmq.vhost``, ``rabbitmq.queue``, ``rabbitmq.dlq``,
``rabbitmq.consumers``): ``rabbitmq.queue_messages`` (depth), ``rabbitmq.queue_ready``,
``rabbitmq.queue_unacked``, ``rabbitmq.queue_consumers``, ``rabbitmq.queue_publish_per_min``,
``rabbitmq.queue_deliver_per_min`` and ``rabbitmq.queue_growth`` (depth change since the
previous run). The consumer count is also a label so "growing while nobody consumes" is one
filter. Per broker: ``rabbitmq.messages`` and ``rabbitmq.publish_per_min``. Rates are whole
messages per minute (the stored value is a whole number; per second would round to 0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from collector.config_values import Section
from collector.probes import httpget
from collector.probes.config import http_url, regex
from collector.probes.reading import Growth, Reading
from collector.yamlconf import Secret

KEYS = ("url", "username", "password", "vhost", "queues", "dead_letter_pattern", "max_queues",
        "ca_file", "verify_tls")
PLATFORM = "rabbitmq"
DEFAULT_INTERVAL = "30s"
DEFAULT_DLQ_PATTERN = r"(?i)(^|[._-])(dlq|dlx|dead[._-]?letters?)($|[._-])"
_COLUMNS = ("name,vhost,messages,messages_ready,messages_unacknowledged,consumers,"
            "message_stats.publish_details.rate,message_stats.deliver_get_details.rate")


@dataclass(frozen=True, slots=True)
class Settings:
    url: str
    username: str | None
    password: Secret | None
    vhost: str | None
    queues: tuple[str, ...]
    dead_letter_pattern: re.Pattern
    max_queues: int
    ca_file: str | None
    verify_tls: bool


def parse(s: Section, config) -> Settings:
    url = http_url(s, "http://127.0.0.1:15672").rstrip("/")  # a base for API paths
    return Settings(url, s.text("username"), s.secret("password"), s.text("vhost"),
                    s.str_list("queues"), regex(s, "dead_letter_pattern", DEFAULT_DLQ_PATTERN),
                    s.number("max_queues", 500, minimum=1),
                    s.text("ca_file"), s.flag("verify_tls", True))


class Probe:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.target = settings.url
        self.http = httpget.pool(settings.ca_file, settings.verify_tls)
        self.headers = httpget.auth_headers(settings.username, settings.password)
        self.growth = Growth()

    def run(self, timeout_s: float) -> list[Reading]:
        s = self.settings
        overview = httpget.get_json(self.http, f"{s.url}/api/overview", self.headers, timeout_s)
        where = f"/{quote(s.vhost, safe='')}" if s.vhost else ""
        # Deepest queues first, so the cap drops the quiet ones.
        page = httpget.get_json(
            self.http, f"{s.url}/api/queues{where}?page=1&page_size={s.max_queues}"
            f"&sort=messages&sort_reverse=true&columns={_COLUMNS}", self.headers, timeout_s)
        queues = page.get("items", []) if isinstance(page, dict) else page
        wanted = set(s.queues)
        readings = _broker(overview)
        for q in queues:
            if not wanted or q["name"] in wanted:
                readings += self._queue(q)
        return readings

    def _queue(self, q: dict) -> list[Reading]:
        name, vhost = q["name"], q.get("vhost", "/")
        consumers = int(q.get("consumers") or 0)
        labels = {"rabbitmq.vhost": vhost, "rabbitmq.queue": name,
                  "rabbitmq.dlq": "true" if self.settings.dead_letter_pattern.search(name)
                  else "false",
                  "rabbitmq.consumers": str(consumers)}
        stats = q.get("message_stats") or {}
        depth = int(q.get("messages") or 0)
        out = [
            Reading("rabbitmq.queue_messages", depth, labels),
            Reading("rabbitmq.queue_ready", int(q.get("messages_ready") or 0), labels),
            Reading("rabbitmq.queue_unacked", int(q.get("messages_unacknowledged") or 0), labels),
            Reading("rabbitmq.queue_consumers", consumers, labels),
            Reading("rabbitmq.queue_publish_per_min", _per_min(stats, "publish_details"), labels),
            Reading("rabbitmq.queue_deliver_per_min", _per_min(stats, "deliver_get_details"),
                    labels),
        ]
        grown = self.growth.delta((vhost, name), depth)
        if grown is not None:
            out.append(Reading("rabbitmq.queue_growth", grown, labels))
        return out

    def close(self) -> None:
        self.http.clear()


def _broker(overview: object) -> list[Reading]:
    if not isinstance(overview, dict):
        raise httpget.ProbeError(f"/api/overview answered {type(overview).__name__}, not an object")
    labels = {"rabbitmq.cluster": str(overview.get("cluster_name", ""))}
    totals = overview.get("queue_totals") or {}
    return [Reading("rabbitmq.messages", int(totals.get("messages") or 0), labels),
            Reading("rabbitmq.publish_per_min",
                    _per_min(overview.get("message_stats") or {}, "publish_details"), labels)]


def _per_min(stats: dict, key: str) -> int:
    return round(float((stats.get(key) or {}).get("rate") or 0.0) * 60)
