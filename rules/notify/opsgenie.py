"""Opsgenie Alert API v2: create by alias, close by alias, each confirmed.

Opsgenie answers a valid create or close with 202 and processes it later; a 202 is not a
page. The outcome is at ``GET /v2/alerts/requests/{requestId}`` (404 until processed), so
each send asks there a few times (``CONFIRM_WAITS_S``, about 6 s in all): ``isSuccess`` true
is delivered; false is a failed send, retried (the create is deduplicated by alias, so a
retry never makes a second alert), except a close whose alert does not exist (nothing open,
nothing to close); no answer in time, or the status API failing, is ``Unconfirmed``
("accepted, unconfirmed" in the alert history), not retried.

Limits (docs.opsgenie.com alert API): ``message`` at most 130 characters, ``alias`` 512,
``description`` 15000, at most 20 tags of 50 characters, ``details`` values are strings;
priority P1 (highest) to P5. EU accounts use api.eu.opsgenie.com.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from collector.config_values import Section
from collector.yamlconf import Secret
from rules.notify import transport
from rules.notify.base import Http, Notification, SendError, Unconfirmed, truncate
from rules.notify.transport import DIRECT, Transport

KEYS = ("type", "api_key", "region", "url", "responders", "tags", "priorities", *transport.KEYS)
BASE_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
PRIORITIES = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"}
# Waits before each look at a request's status: Opsgenie usually processes within a second.
CONFIRM_WAITS_S = (0.2, 0.4, 0.8, 1.6, 3.2)
# After a send left unconfirmed because the status API failed, the next ones look once only
# for this long (or until it answers again): a status API that is down must not hold every
# queued page ~6 s (200 pages: 20 minutes).
CONFIRM_QUIET_S = 60.0
NOTHING_TO_CLOSE = "Alert does not exist"


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

    def __init__(self, name: str, options: Options, http: Http | None = None,
                 confirm_waits_s: Sequence[float] | None = None):
        self.name, self.options = name, options
        self.http = http or Http(transport=options.transport)
        self.confirm_waits_s = tuple(CONFIRM_WAITS_S if confirm_waits_s is None
                                     else confirm_waits_s)
        self.quiet_until = 0.0  # monotonic: look once only until then

    def send(self, n: Notification) -> bytes | Unconfirmed:
        headers = {"Authorization": f"GenieKey {self.options.api_key.reveal()}"}
        what = f"Opsgenie ({self.name})"
        if n.action == "resolved":
            answer = self.http.post(close_url(n, self.options),
                                    {"source": "midwatch", "note": "resolved by midwatch"},
                                    headers, what=what)
        else:
            answer = self.http.post(f"{self.options.base_url}/v2/alerts",
                                    create(n, self.options), headers, what=what)
        return self._confirm(answer, n.action, headers, what)

    def _confirm(self, answer: bytes, action: str, headers: dict[str, str],
                 what: str) -> bytes | Unconfirmed:
        """The processed outcome of the request Opsgenie accepted with ``answer``."""
        request_id = _field(answer, "requestId")
        if not request_id:
            return Unconfirmed(f"{what} accepted the request without a requestId")
        url = f"{self.options.base_url}/v2/alerts/requests/{urllib.parse.quote(request_id)}"
        last = "not processed yet"
        failing = False  # the last look got no usable answer from the status API
        waits = self.confirm_waits_s
        if time.monotonic() < self.quiet_until:
            waits = waits[:1]
        for wait_s in waits:
            time.sleep(wait_s)  # pacing the status look-ups, not synchronising threads
            try:
                resp = self.http.request("GET", url, headers, what=what)
            except SendError as exc:
                last, failing = str(exc), True
                continue
            status, body = resp.status, resp.data
            data = _field(body, "data")
            if status != 404 and (status != 200 or not isinstance(data, dict)):
                last = f"status API answered HTTP {status}: {truncate(body.decode('utf-8', 'replace'), 200)}"
                failing = True
                continue
            # The status API answers again: the next sends look as long as they need.
            self.quiet_until, failing = 0.0, False
            if status == 404:  # "Request not found. It might not be processed, yet."
                continue
            if data.get("isSuccess") is True:
                return body
            outcome = str(data.get("status") or "failed")
            if action == "resolved" and outcome == NOTHING_TO_CLOSE:
                return body  # never opened (or closed already): nothing left open
            raise SendError(f"{what} processed request {request_id} and failed: {outcome}",
                            retryable=True, refused=True)
        if failing:  # only a failing status API, not a slow one, shortens the next looks
            self.quiet_until = time.monotonic() + CONFIRM_QUIET_S
        return Unconfirmed(f"{what} accepted request {request_id}; its outcome is unknown "
                           f"after {sum(waits):.1f} s ({last})")


def _field(body: bytes, name: str) -> object:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return doc.get(name) if isinstance(doc, dict) else None


NOTIFIER = Opsgenie
