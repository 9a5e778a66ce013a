"""PagerDuty Events API v2: trigger and resolve by ``dedup_key``.

Limits honoured (developer.pagerduty.com, Events API v2): ``payload.summary`` at most 1024
characters, ``dedup_key`` at most 255, ``severity`` one of critical/error/warning/info; the
answer to a good event is 202 ``{"status": "success", ...}``; a 2xx whose ``status`` says
otherwise is a failed send, not a page. A trigger sent twice (a retry after a timeout that
had arrived) is one incident: PagerDuty deduplicates by ``dedup_key``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from collector.config_values import Section
from collector.yamlconf import Secret
from rules.notify import transport
from rules.notify.base import Http, Notification, SendError, truncate
from rules.notify.transport import DIRECT, Transport

KEYS = ("type", "routing_key", "url", "source", "component", "group", "class", *transport.KEYS)
DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024


@dataclass(frozen=True, slots=True)
class Options:
    routing_key: Secret
    url: str = DEFAULT_URL
    source: str = "midwatch"
    component: str | None = None
    group: str | None = None
    event_class: str | None = None
    transport: Transport = DIRECT


def parse(s: Section) -> Options:
    key = s.secret("routing_key")
    if key is None:
        raise s.error("routing_key", "is required", "routing_key: ${PAGERDUTY_ROUTING_KEY}")
    return Options(key, s.text("url", DEFAULT_URL), s.text("source", "midwatch"),
                   s.text("component"), s.text("group"), s.text("class"), transport.parse(s))


def event(n: Notification, o: Options) -> dict:
    """The Events API v2 body for one notification."""
    body: dict = {"routing_key": o.routing_key.reveal(), "dedup_key": n.key}
    if n.action == "resolved":
        body["event_action"] = "resolve"
        return body
    details: dict = {"rule": n.rule, "labels": n.labels, "value": n.value}
    if n.annotations.get("description"):
        details["description"] = n.annotations["description"]
    if n.message_ids:
        details["sample_message_ids"] = list(n.message_ids)
    payload: dict = {
        "summary": truncate(n.summary, SUMMARY_MAX),
        "source": n.labels.get("flow") or o.source,
        "severity": n.severity,
        "timestamp": n.iso(n.starts_ms),
        "custom_details": details,
    }
    for key, value in (("component", o.component), ("group", o.group or n.labels.get("flow")),
                       ("class", o.event_class or n.rule)):
        if value:
            payload[key] = value
    body.update(event_action="trigger", payload=payload, client="midwatch")
    if n.generator_url:
        body["client_url"] = n.generator_url
    links = n.links()
    if links:
        body["links"] = links
    return body


class PagerDuty:
    kind = "pagerduty"

    def __init__(self, name: str, options: Options, http: Http | None = None):
        self.name, self.options = name, options
        self.http = http or Http(transport=options.transport)

    def send(self, n: Notification) -> bytes:
        what = f"PagerDuty ({self.name})"
        answer = self.http.post(self.options.url, event(n, self.options), what=what)
        try:
            status = orjson.loads(answer).get("status")
        except (orjson.JSONDecodeError, AttributeError):
            return answer  # not the Events API's JSON (a proxy's, a stand-in's): its 2xx stands
        if status not in (None, "success"):
            raise SendError(f"{what} answered 2xx with status {truncate(str(status), 100)}: "
                            f"{truncate(answer.decode('utf-8', 'replace'), 300)}",
                            retryable=True, refused=True)
        return answer


NOTIFIER = PagerDuty
