"""What the notifier contract tests share: a notification to send and each vendor's
documented request schema (PagerDuty Events API v2, Opsgenie Alert API v2, Slack Block Kit),
checked by the fake receiver of ``conftest.py``."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from collector.store.paging import outbox_for
from collector.store.sqlite import SQLiteStore
from rules.delivery import Delivery
from rules.notify.base import Notification
from rules.outbox import Policy

PD_SEVERITIES = {"critical", "error", "warning", "info"}
PD_KEY = "0123456789abcdef0123456789abcdef"


def note(action: str = "firing", summary: str = "o2c: 12.0% of 200 messages failed") -> Notification:
    return Notification(
        action=action, rule="o2c-failures", key="a1b2c3d4e5f6a1b2c3d4e5f6", severity="critical",
        labels={"flow": "o2c", "platform": "mulesoft"},
        annotations={"summary": summary, "description": "Connection refused by sap-host",
                     "runbook_url": "https://runbooks.example.com/o2c"},
        value=0.12, starts_ms=1_709_546_400_000, at_ms=1_709_546_700_000,
        expires_ms=1_709_561_100_000, message_ids=("order-4711", "order-4712"),
        trace_url="https://midwatch.example.com/api/traces?flow=o2c",
        generator_url="https://midwatch.example.com/rules/o2c-failures")


def json_body(body: bytes, problems: list[str]) -> dict:
    try:
        doc = json.loads(body)
    except ValueError:
        problems.append("body is not JSON")
        return {}
    if not isinstance(doc, dict):
        problems.append("body is not a JSON object")
        return {}
    return doc


def iso_time(text: object) -> bool:
    try:
        datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def pagerduty_schema(path: str, headers: dict, body: bytes) -> list[str]:
    p: list[str] = []
    if path != "/v2/enqueue":
        p.append(f"path {path} is not /v2/enqueue")
    if not headers.get("Content-Type", "").startswith("application/json"):
        p.append("Content-Type must be application/json")
    doc = json_body(body, p)
    extra = set(doc) - {"routing_key", "event_action", "dedup_key", "payload", "images", "links",
                        "client", "client_url"}
    if extra:
        p.append(f"unknown fields {sorted(extra)}")
    if not isinstance(doc.get("routing_key"), str) or len(doc.get("routing_key", "")) != 32:
        p.append("routing_key must be the 32-character integration key")
    action = doc.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        p.append(f"event_action {action!r}")
    if action != "trigger" and not doc.get("dedup_key"):
        p.append("acknowledge/resolve need dedup_key")
    if len(doc.get("dedup_key", "")) > 255:
        p.append("dedup_key longer than 255")
    if action == "trigger":
        pl = doc.get("payload") or {}
        extra = set(pl) - {"summary", "source", "severity", "timestamp", "component", "group",
                           "class", "custom_details"}
        if extra:
            p.append(f"unknown payload fields {sorted(extra)}")
        if not isinstance(pl.get("summary"), str) or not 0 < len(pl["summary"]) <= 1024:
            p.append("payload.summary must be 1..1024 characters")
        if not pl.get("source"):
            p.append("payload.source is required")
        if pl.get("severity") not in PD_SEVERITIES:
            p.append(f"payload.severity {pl.get('severity')!r}")
        if "timestamp" in pl and not iso_time(pl["timestamp"]):
            p.append("payload.timestamp must be ISO 8601")
        if "custom_details" in pl and not isinstance(pl["custom_details"], dict):
            p.append("custom_details must be an object")
        for link in doc.get("links", []):
            if set(link) - {"href", "text"} or not str(link.get("href", "")).startswith("http"):
                p.append(f"bad link {link}")
    return p


def opsgenie_schema(path: str, headers: dict, body: bytes) -> list[str]:
    p: list[str] = []
    if not headers.get("Authorization", "").startswith("GenieKey "):
        p.append("Authorization: GenieKey <key> is required")
    doc = json_body(body, p)
    if path == "/v2/alerts":
        allowed = {"message", "alias", "description", "responders", "visibleTo", "actions", "tags",
                   "details", "entity", "source", "priority", "user", "note"}
        if set(doc) - allowed:
            p.append(f"unknown fields {sorted(set(doc) - allowed)}")
        if not isinstance(doc.get("message"), str) or not 0 < len(doc["message"]) <= 130:
            p.append("message is required, at most 130 characters")
        for key, limit in (("alias", 512), ("description", 15000), ("entity", 512),
                           ("source", 100)):
            if key in doc and len(doc[key]) > limit:
                p.append(f"{key} longer than {limit}")
        tags = doc.get("tags", [])
        if len(tags) > 20 or any(len(t) > 50 for t in tags):
            p.append("at most 20 tags of at most 50 characters")
        if not all(isinstance(v, str) for v in doc.get("details", {}).values()):
            p.append("details values must be strings")
        if doc.get("priority", "P3") not in ("P1", "P2", "P3", "P4", "P5"):
            p.append(f"priority {doc.get('priority')!r}")
    elif path.startswith("/v2/alerts/") and path.endswith("/close?identifierType=alias"):
        if set(doc) - {"user", "source", "note"}:
            p.append("close takes user, source, note")
    else:
        p.append(f"unexpected path {path}")
    return p


def slack_schema(path: str, headers: dict, body: bytes) -> list[str]:
    p: list[str] = []
    doc = json_body(body, p)
    if not isinstance(doc.get("text"), str) or not doc["text"]:
        p.append("text (the notification fallback) is required with blocks")
    blocks = doc.get("blocks", [])
    if len(blocks) > 50:
        p.append("more than 50 blocks")
    for b in blocks:
        kind = b.get("type")
        if kind == "header":
            t = b.get("text", {})
            if t.get("type") != "plain_text" or len(t.get("text", "")) > 150:
                p.append("header text must be plain_text of at most 150 characters")
        elif kind == "section":
            if len(b.get("text", {}).get("text", "")) > 3000:
                p.append("section text longer than 3000")
            fields = b.get("fields", [])
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                p.append("at most 10 fields of at most 2000 characters")
        elif kind == "context":
            if not 0 < len(b.get("elements", [])) <= 10:
                p.append("context needs 1..10 elements")
        elif kind == "actions":
            for e in b.get("elements", []):
                if e.get("type") != "button" or len(e["text"]["text"]) > 75 or len(e.get("url", "")) > 3000:
                    p.append("bad button")
        else:
            p.append(f"unexpected block type {kind!r}")
    return p


def delivery(tmp_path, notifiers, history: list[dict]) -> Delivery:
    """Outbox delivery over a fresh SQLite store, retrying fast (200-400 ms)."""
    store = SQLiteStore(tmp_path / "outbox.sqlite")
    store.setup()
    return Delivery(notifiers, outbox_for(store), history.extend, poll_s=0.05,
                    policy=Policy(first_backoff_ms=200, max_backoff_ms=400))


class Scripted:
    """A fake HTTP peer: answers each request with the next (status, headers, body) of
    ``answers`` (the last repeats), holding it ``delay_s`` first; records method, path,
    headers and body. A vendor's stateful fake overrides ``respond``."""

    def __init__(self, answers: list[tuple[int, dict, bytes]], delay_s: float = 0.0) -> None:
        self.answers, self.delay_s = list(answers), delay_s
        self.seen: list[tuple[str, str, dict, bytes]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    outer.seen.append((self.command, self.path, dict(self.headers), body))
                    status, headers, data = outer.respond(self.command, self.path, body)
                time.sleep(outer.delay_s)  # the peer being slow, not test synchronisation
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _any  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict, bytes]:
        """The answer to one request (called under ``lock``)."""
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


OPSGENIE_ACCEPTED = {"result": "Request will be processed", "took": 0.302}
OPSGENIE_NOT_YET = {"message": "Request not found. It might not be processed, yet.",
                    "took": 0.002}


def opsgenie_processed(action: str, ok: bool, status: str) -> dict:
    return {"data": {"success": ok, "action": action, "processedAt": "2017-05-24T14:24:20.844Z",
                     "integrationId": "c9cec2cb-e782-4ebb-bc1d-1b2fa703cf03", "isSuccess": ok,
                     "status": status, "alertId": "8743a1b2" if ok else "",
                     "alias": "a1b2c3d4e5f6a1b2c3d4e5f6" if ok else ""},
            "took": 0.019, "requestId": "ec7e1d8e-1c75-442e-a271-731070a7fa4d"}


class FakeOpsgenie(Scripted):
    """Opsgenie's Alert API v2 as documented: accepts every create/close with 202 and a fresh
    requestId; the status endpoint answers 404 ``not_yet`` times per request, then the next
    of ``outcomes`` (a (status, body) pair; the last one repeats)."""

    def __init__(self, outcomes: list[tuple[int, dict]], not_yet: int = 1) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.looks: dict[str, int] = {}
        self.outcomes, self.not_yet = outcomes, not_yet
        super().__init__([])

    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict, bytes]:
        if method == "POST":
            self.posts.append((path, json.loads(body)))
            rid = f"req-{len(self.posts)}"
            return 202, {}, json.dumps({**OPSGENIE_ACCEPTED, "requestId": rid}).encode()
        rid = path.rsplit("/", 1)[1]
        seen = self.looks[rid] = self.looks.get(rid, 0) + 1
        if seen <= self.not_yet:
            return 404, {}, json.dumps({**OPSGENIE_NOT_YET, "requestId": rid}).encode()
        status, doc = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return status, {}, json.dumps(doc).encode()
