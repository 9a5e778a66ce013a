"""Prometheus Alertmanager API v2: ``POST /api/v2/alerts`` with a list of alerts.

Alertmanager groups, routes and deduplicates by labels, so each alert carries ``alertname``
(the rule), ``severity`` and its group labels. A firing alert is sent with ``endsAt`` in the
future (the engine re-sends before then, as Prometheus does); a resolve is the same alert with
``endsAt`` at the resolve time.

Alertmanager refuses, with 400 and for good, a label or annotation name outside
``[A-Za-z_][A-Za-z0-9_]*``: other characters are sent as ``_``, a leading digit gets ``_``
before it, and a name that becomes one already taken gets ``_`` after it until it is free
(both values arrive).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collector.config_values import Section
from collector.yamlconf import Secret
from rules.notify import transport
from rules.notify.base import Http, Notification
from rules.notify.transport import DIRECT, Transport

KEYS = ("type", "url", "bearer_token", *transport.KEYS)
_INVALID = re.compile(r"[^A-Za-z0-9_]")
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Options:
    url: str
    bearer_token: Secret | None = None
    transport: Transport = DIRECT


def parse(s: Section) -> Options:
    url = s.text("url", required=True)
    if not url.startswith(("http://", "https://")):
        raise s.error("url", f"expected an http(s) URL, got {url!r}", "e.g. http://127.0.0.1:9093")
    return Options(url.rstrip("/"), s.secret("bearer_token"), transport.parse(s))


def valid_names(pairs: dict[str, str]) -> dict[str, str]:
    """``pairs`` under names Alertmanager accepts: the valid ones as they are, then each
    other made valid, in name order (the same names every send)."""
    out = {k: v for k, v in pairs.items() if _VALID.fullmatch(k)}
    for k in sorted(k for k in pairs if k not in out):
        name = _INVALID.sub("_", k)
        name = name if _VALID.fullmatch(name) else f"_{name}"
        while name in out:
            name += "_"
        out[name] = pairs[k]
    return out


def alert(n: Notification) -> dict:
    labels = valid_names(n.labels)
    labels.update(alertname=n.rule, severity=n.severity)
    annotations = valid_names(n.annotations)
    if n.message_ids:
        annotations["message_ids"] = ", ".join(n.message_ids)
    if n.trace_url:
        annotations["trace_url"] = n.trace_url
    ends = n.at_ms if n.action == "resolved" else n.expires_ms
    body = {"labels": labels, "annotations": annotations, "startsAt": n.iso(n.starts_ms),
            "endsAt": n.iso(ends)}
    if n.generator_url:
        body["generatorURL"] = n.generator_url
    return body


class Alertmanager:
    kind = "alertmanager"

    def __init__(self, name: str, options: Options, http: Http | None = None):
        self.name, self.options = name, options
        self.http = http or Http(transport=options.transport)

    def send(self, n: Notification) -> bytes:
        headers = ({"Authorization": f"Bearer {self.options.bearer_token.reveal()}"}
                   if self.options.bearer_token else {})
        return self.http.post(f"{self.options.url}/api/v2/alerts", [alert(n)], headers,
                       what=f"Alertmanager ({self.name})")


NOTIFIER = Alertmanager
