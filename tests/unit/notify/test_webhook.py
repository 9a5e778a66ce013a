"""The midwatch webhook: HMAC signature and configured headers."""

from __future__ import annotations

import hashlib
import hmac

from notify_support import (
    json_body,
    note,
)

from collector.yamlconf import Secret
from rules.notify import webhook


def test_contract_webhook_signature_and_headers(receivers):
    def schema(path, headers, body):
        p = []
        doc = json_body(body, p)
        want = "sha256=" + hmac.new(b"s3cret-hmac", body, hashlib.sha256).hexdigest()
        if headers.get("X-Midwatch-Signature") != want:
            p.append("bad signature")
        if headers.get("X-Team") != "integration":
            p.append("custom header missing")
        for key in ("version", "action", "rule", "dedup_key", "severity", "labels",
                    "annotations", "starts_at", "message_ids", "links"):
            if key not in doc:
                p.append(f"{key} missing")
        return p

    r = receivers(schema, ok_status=200)
    hook = webhook.Webhook("hook", webhook.Options(f"{r.url}/alerts", Secret("s3cret-hmac", "env:H"),
                                                   (("X-Team", "integration"),)))
    hook.send(note())
    hook.send(note("resolved"))
    fired, resolved = r.bodies()
    assert fired["action"] == "firing" and fired["ends_at"] is None
    assert resolved["ends_at"] == "2024-03-04T10:05:00.000Z"
