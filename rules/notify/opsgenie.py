"""Opsgenie Alert API v2: create by alias, close by alias.

Limits (docs.opsgenie.com alert API): ``message`` at most 130 characters, ``alias`` 512,
``description`` 15000, at most 20 tags of 50 characters, ``details`` values are strings;
priority P1 (highest) to P5. EU accounts use api.eu.opsgenie.com.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from collector.config_values import Section
from collector.yamlconf import Secret
from rules.notify import transport
from rules.notify.base import Http, Notification, truncate
from rules.notify.transport import DIRECT, Transport

KEYS = ("type", "api_key", "region", "url", "responders", "tags", "priorities", *transport.KEYS)
BASE_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}


@dataclass(frozen=True, slots=True)
class Options:
    api_key: Secret
    base_url: str
    responders: tuple[dict, ...] = ()
    tags: tuple[str, ...] = ()
    priorities: tuple[tuple[str, str], ...] = tuple(PRIORITIES.items())
    transport: Transport = DIRECT


def parse(s: Section) -> Options:
    key = s.secret("api_key")
    if key is None:
        raise s.error("api_key", "is required", "api_key: ${OPSGENIE_API_KEY}")
    region = s.choice("region", tuple(BASE_URLS), "us")
    responders = s.raw("responders", [])
    if not isinstance(responders, list) or not all(
            isinstance(r, dict) and r.get("type") in ("team", "user", "escalation", "schedule")
            for r in responders):
        raise s.error("responders", "expected a list of {type: team|user|escalation|schedule, "
                      "name: ...}")
    prio = dict(PRIORITIES)
    raw = s.raw("priorities", {})
    if not isinstance(raw, dict) or any(v not in ("P1", "P2", "P3", "P4", "P5")
                                        for v in raw.values()):
        raise s.error("priorities", "expected severity: P1..P5", "e.g. {warning: P4}")
    prio.update(raw)
    return Options(key, s.text("url", BASE_URLS[region]).rstrip("/"), tuple(responders),
                   s.str_list("tags"), tuple(prio.items()), transport.parse(s))


def create(n: Notification, o: Options) -> dict:
    tags = [*o.tags, f"rule:{n.rule}", f"severity:{n.severity}",
            *(f"{k}:{v}" for k, v in sorted(n.labels.items()))]
    details = {k: str(v) for k, v in sorted(n.labels.items())}
    details.update(rule=n.rule, value=str(n.value))
    if n.message_ids:
        details["sample_message_ids"] = ", ".join(n.message_ids)
    for link in n.links():
        details[link["text"]] = link["href"]
    description = "\n\n".join(x for x in (n.annotations.get("description", ""),
                                          "\n".join(f"{k}: {v}" for k, v in details.items())) if x)
    body: dict = {
        "message": truncate(n.summary, 130),
        "alias": n.key,
        "description": truncate(description, 15000),
        "tags": [truncate(t, 50) for t in tags][:20],
        "details": details,
        "entity": truncate(n.labels.get("flow", n.rule), 512),
        "source": "midwatch",
        "priority": dict(o.priorities)[n.severity],
    }
    if o.responders:
        body["responders"] = list(o.responders)
    return body


def close_url(n: Notification, o: Options) -> str:
    return f"{o.base_url}/v2/alerts/{urllib.parse.quote(n.key, safe='')}/close?identifierType=alias"


class Opsgenie:
    kind = "opsgenie"

    def __init__(self, name: str, options: Options, http: Http | None = None):
        self.name, self.options = name, options
        self.http = http or Http(transport=options.transport)

    def send(self, n: Notification) -> bytes:
        headers = {"Authorization": f"GenieKey {self.options.api_key.reveal()}"}
        what = f"Opsgenie ({self.name})"
        if n.action == "resolved":
            return self.http.post(close_url(n, self.options),
                                  {"source": "midwatch", "note": "resolved by midwatch"}, headers,
                                  what=what)
        return self.http.post(f"{self.options.base_url}/v2/alerts", create(n, self.options),
                              headers, what=what)


NOTIFIER = Opsgenie
