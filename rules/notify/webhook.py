"""Generic webhook: a documented JSON body, optional HMAC-SHA256 signature, custom headers.

The signature header is ``X-Midwatch-Signature: sha256=<hex HMAC of the exact body bytes>``
(the GitHub webhook convention), so a receiver verifies before parsing.

Every post carries ``Idempotency-Key``: the same for every send of one notification (or one
digest), by any process. A retry after a timeout that had in fact arrived, or a deposed
leader's late send, is then recognisable as a repeat by a receiver that keeps the keys it
saw; a plain 2xx is all midwatch can know of a generic receiver.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import orjson

from collector.config_values import Section
from collector.yamlconf import Secret, UnsetSecret
from rules.notify import transport
from rules.notify.base import Http, Notification
from rules.notify.transport import DIRECT, Transport

KEYS = ("type", "url", "secret", "headers", *transport.KEYS)
SIGNATURE_HEADER = "X-Midwatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
VERSION = "1"


@dataclass(frozen=True, slots=True)
class Options:
    url: str | Secret
    secret: Secret | None = None
    headers: tuple[tuple[str, str | Secret], ...] = ()
    transport: Transport = DIRECT


def parse(s: Section) -> Options:
    # A URL from ${ENV} or file: may carry a token (as Slack's do): kept as a secret.
    url = s.secret("url") if (*s.path, "url") in s.doc.from_env else s.text("url")
    if url is None or (not isinstance(url, UnsetSecret)
                       and not _reveal(url).startswith(("http://", "https://"))):
        raise s.error("url", "expected an http(s) URL")
    headers = s.raw("headers", {})
    if not isinstance(headers, dict):
        raise s.error("headers", "expected a mapping of header: value")
    hdrs = []
    for key, value in headers.items():
        path = (*s.path, "headers", key)
        # A header value from ${ENV} or file: is treated as a credential (tokens usually are).
        hdrs.append((str(key), s.doc.secret(path, value) if path in s.doc.from_env else str(value)))
    return Options(url, s.secret("secret"), tuple(hdrs), transport.parse(s))


def body(n: Notification) -> dict:
    return {
        "version": VERSION, "action": n.action, "rule": n.rule, "dedup_key": n.key,
        "severity": n.severity, "labels": n.labels, "annotations": n.annotations,
        "value": n.value, "starts_at": n.iso(n.starts_ms), "at": n.iso(n.at_ms),
        "ends_at": n.iso(n.at_ms) if n.action == "resolved" else None,
        "message_ids": list(n.message_ids), "links": n.links(),
    }


def digest_body(digest_id: str, group: dict[str, str], notes: list[Notification]) -> dict:
    """One post for a group's alerts (``group_by``), Alertmanager's webhook shape: ``status``
    is firing while any alert in it fires; ``digest`` is the same when the post is resent."""
    status = "firing" if any(n.action == "firing" for n in notes) else "resolved"
    return {"version": VERSION, "digest": digest_id, "status": status, "group": group,
            "alerts": [body(n) for n in notes]}


def sign(secret: str, data: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def _reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


class Webhook:
    kind = "webhook"

    def __init__(self, name: str, options: Options, http: Http | None = None):
        self.name, self.options = name, options
        self.http = http or Http(transport=options.transport)

    def send(self, n: Notification) -> bytes:
        return self._post(body(n), f"{n.key}\x1f{n.action}\x1f{n.at_ms}")

    def send_digest(self, digest_id: str, group: dict[str, str],
                    notes: list[Notification]) -> bytes:
        return self._post(digest_body(digest_id, group, notes), digest_id)

    def _post(self, doc: dict, identity: str) -> bytes:
        data = orjson.dumps(doc)
        headers = {k: _reveal(v) for k, v in self.options.headers}
        headers[IDEMPOTENCY_HEADER] = hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()
        if self.options.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.options.secret.reveal(), data)
        return self.http.post(_reveal(self.options.url), None, headers, raw=data,
                       what=f"webhook ({self.name})")


NOTIFIER = Webhook
