"""Notifiers against local HTTP receivers that check each request against the vendor's
documented schema (PagerDuty Events API v2, Opsgenie Alert API v2, Slack Block Kit, the
midwatch webhook), plus retries, isolation between notifiers, and secrets kept out of output.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collector.store.paging import outbox_for
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import Secret, loads, make_secret
from midwatch.cli import main
from rules.delivery import Delivery
from rules.notify import opsgenie, pagerduty, slack, webhook
from rules.notify.base import Notification, SendError
from rules.outbox import Policy

PD_SEVERITIES = {"critical", "error", "warning", "info"}


class Receiver:
    """An HTTP server; ``validate(path, headers, body) -> list of problems`` decides 2xx/400."""

    def __init__(self, validate: Callable[[str, dict, bytes], list[str]], *, ok_status: int = 202,
                 ok_body: bytes = b"{}", delay_s: float = 0.0, fail_status: int | None = None):
        self.requests: list[tuple[str, dict, bytes, float]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((self.path, dict(self.headers), body, time.monotonic()))
                time.sleep(delay_s)
                if fail_status:
                    self._answer(fail_status, b'{"message": "unavailable"}')
                    return
                problems = validate(self.path, dict(self.headers), body)
                if problems:
                    self._answer(400, json.dumps({"errors": problems}).encode())
                else:
                    self._answer(ok_status, ok_body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(b) for _, _, b, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(validate, **kw) -> Receiver:
        made.append(Receiver(validate, **kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _note(action: str = "firing", summary: str = "o2c: 12.0% of 200 messages failed") -> Notification:
    return Notification(
        action=action, rule="o2c-failures", key="a1b2c3d4e5f6a1b2c3d4e5f6", severity="critical",
        labels={"flow": "o2c", "platform": "mulesoft"},
        annotations={"summary": summary, "description": "Connection refused by sap-host",
                     "runbook_url": "https://runbooks.example.com/o2c"},
        value=0.12, starts_ms=1_709_546_400_000, at_ms=1_709_546_700_000,
        expires_ms=1_709_561_100_000, message_ids=("order-4711", "order-4712"),
        trace_url="https://midwatch.example.com/api/traces?flow=o2c",
        generator_url="https://midwatch.example.com/rules/o2c-failures")


def _json(body: bytes, problems: list[str]) -> dict:
    try:
        doc = json.loads(body)
    except ValueError:
        problems.append("body is not JSON")
        return {}
    if not isinstance(doc, dict):
        problems.append("body is not a JSON object")
        return {}
    return doc


def _iso(text: object) -> bool:
    try:
        datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------ PagerDuty Events API v2

def pagerduty_schema(path: str, headers: dict, body: bytes) -> list[str]:
    p: list[str] = []
    if path != "/v2/enqueue":
        p.append(f"path {path} is not /v2/enqueue")
    if not headers.get("Content-Type", "").startswith("application/json"):
        p.append("Content-Type must be application/json")
    doc = _json(body, p)
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
        if "timestamp" in pl and not _iso(pl["timestamp"]):
            p.append("payload.timestamp must be ISO 8601")
        if "custom_details" in pl and not isinstance(pl["custom_details"], dict):
            p.append("custom_details must be an object")
        for link in doc.get("links", []):
            if set(link) - {"href", "text"} or not str(link.get("href", "")).startswith("http"):
                p.append(f"bad link {link}")
    return p


PD_KEY = "0123456789abcdef0123456789abcdef"


def test_contract_pagerduty_trigger_and_resolve(receivers):
    r = receivers(pagerduty_schema, ok_body=b'{"status":"success","message":"Event processed"}')
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(PD_KEY, "env:PD"), f"{r.url}/v2/enqueue"))
    pd.send(_note(summary="x" * 3000))
    pd.send(_note("resolved"))
    trigger, resolve = r.bodies()
    assert len(trigger["payload"]["summary"]) == 1024
    assert trigger["dedup_key"] == resolve["dedup_key"] == "a1b2c3d4e5f6a1b2c3d4e5f6"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["custom_details"]["sample_message_ids"] == ["order-4711", "order-4712"]
    assert [link["text"] for link in trigger["links"]] == ["Message traces", "Runbook"]
    assert resolve == {"routing_key": PD_KEY, "dedup_key": "a1b2c3d4e5f6a1b2c3d4e5f6",
                       "event_action": "resolve"}


def test_contract_pagerduty_rejection_is_not_retried(receivers):
    r = receivers(pagerduty_schema)
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret("short", "env:PD"), f"{r.url}/v2/enqueue"))
    with pytest.raises(SendError) as exc:
        pd.send(_note())
    assert not exc.value.retryable
    assert "HTTP 400" in str(exc.value) and "32-character" in str(exc.value)


# ------------------------------------------------------------------ Opsgenie Alert API v2

def opsgenie_schema(path: str, headers: dict, body: bytes) -> list[str]:
    p: list[str] = []
    if not headers.get("Authorization", "").startswith("GenieKey "):
        p.append("Authorization: GenieKey <key> is required")
    doc = _json(body, p)
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


def test_contract_opsgenie_create_and_close_by_alias(receivers):
    r = receivers(opsgenie_schema, ok_body=b'{"result":"Request will be processed","took":0.1}')
    key = Secret("og-key-1234", "env:OG")
    og = opsgenie.Opsgenie("og", opsgenie.Options(key, r.url, tags=("midwatch",),
                                                  priorities=tuple(opsgenie.PRIORITIES.items())))
    og.send(_note(summary="s" * 500))
    og.send(_note("resolved"))
    (p1, h1, _, _), (p2, _, _, _) = r.requests
    create = r.bodies()[0]
    assert p1 == "/v2/alerts" and h1["Authorization"] == "GenieKey og-key-1234"
    assert p2 == "/v2/alerts/a1b2c3d4e5f6a1b2c3d4e5f6/close?identifierType=alias"
    assert len(create["message"]) == 130 and create["alias"] == "a1b2c3d4e5f6a1b2c3d4e5f6"
    assert create["priority"] == "P1"
    assert create["details"]["sample_message_ids"] == "order-4711, order-4712"
    assert "flow:o2c" in create["tags"] and "midwatch" in create["tags"]


def test_opsgenie_config_picks_the_eu_endpoint(monkeypatch):
    from rules.config import load_notifiers

    monkeypatch.setenv("OG_KEY", "abcd-1234")
    doc = loads("notifiers:\n  og: {type: opsgenie, api_key: '${OG_KEY}', region: eu,"
                " priorities: {warning: P4}}\n")
    og = load_notifiers(doc)["og"]
    assert og.options.base_url == "https://api.eu.opsgenie.com"
    assert dict(og.options.priorities)["warning"] == "P4"


# ------------------------------------------------------------------ Slack incoming webhook

def slack_schema(path: str, headers: dict, body: bytes) -> list[str]:
    p: list[str] = []
    doc = _json(body, p)
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


def test_contract_slack_blocks(receivers):
    r = receivers(slack_schema, ok_status=200, ok_body=b"ok")
    labels = {f"label{i}": "v" * 2500 for i in range(12)}
    note = _replace_labels(_note(), labels)
    s = slack.Slack("slack", slack.Options(Secret(f"{r.url}/services/T0/B0/xyz", "env:SLACK")))
    s.send(note)
    s.send(_note("resolved"))
    first, resolved = r.bodies()
    assert first["blocks"][0]["text"]["text"].startswith(":rotating_light: [CRITICAL] o2c-failures")
    assert len(first["blocks"][1]["fields"]) == 10
    assert "order-4711" in first["blocks"][-2]["elements"][0]["text"]
    assert resolved["text"].startswith("[RESOLVED] o2c-failures")


def _replace_labels(n: Notification, labels: dict) -> Notification:
    from dataclasses import replace

    return replace(n, labels=labels)


# ------------------------------------------------------------------ generic webhook

def test_contract_webhook_signature_and_headers(receivers):
    def schema(path, headers, body):
        p = []
        doc = _json(body, p)
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
    hook.send(_note())
    hook.send(_note("resolved"))
    fired, resolved = r.bodies()
    assert fired["action"] == "firing" and fired["ends_at"] is None
    assert resolved["ends_at"] == "2024-03-04T10:05:00.000Z"


# ------------------------------------------------------------------ dispatch: retries, isolation

def _delivery(tmp_path, notifiers, history: list[dict]) -> Delivery:
    store = SQLiteStore(tmp_path / "outbox.sqlite")
    store.setup()
    return Delivery(notifiers, outbox_for(store), history.extend, poll_s=0.05,
                    policy=Policy(first_backoff_ms=200, max_backoff_ms=400))


def test_one_notifier_down_does_not_delay_another(receivers, tmp_path):
    down = receivers(pagerduty_schema, fail_status=503, delay_s=0.3)
    up = receivers(slack_schema, ok_status=200, ok_body=b"ok")
    history: list[dict] = []
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(PD_KEY, "env:PD"), f"{down.url}/v2/enqueue"))
    sl = slack.Slack("slack", slack.Options(Secret(f"{up.url}/hook", "env:S")))
    d = _delivery(tmp_path, [pd, sl], history)
    d.start()
    start = time.monotonic()
    for i in range(3):
        d.submit(["pd", "slack"], replace(_note(), labels={"flow": f"f{i}"}, key=f"k{i}"))
    d.flush()
    deadline = time.monotonic() + 5
    while len(up.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(up.requests) == 3
    assert up.requests[-1][3] - start < 0.5  # while PagerDuty is still on its first attempts
    while len(down.requests) < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    d.stop(timeout_s=10)
    states = sorted((h["notifier"], h["state"], h["attempts"]) for h in history)
    assert states[-3:] == [("slack", "notified", 1)] * 3
    # Each page is retried, not given up: the third attempt on is reported for the self-alert.
    assert ("pd", "notify_retry", 3) in states
    assert all("HTTP 503" in h["error"] for h in history if h["notifier"] == "pd")


# ------------------------------------------------------------------ secrets

def test_secrets_never_in_output(tmp_path, monkeypatch, capsys, caplog, receivers):
    pd_key = "deadbeefdeadbeefdeadbeefdeadbeef"
    slack_url = "https://hooks.slack.com/services/T000/B000/supersecrettoken"
    monkeypatch.setenv("PD_KEY", pd_key)
    monkeypatch.setenv("SLACK_URL", slack_url)
    (tmp_path / "pw").write_text("smtp-password-42\n")
    (tmp_path / "r.yaml").write_text("rules: [{name: a, type: threshold, above: 1}]\n")
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}
rules: {{paths: [{tmp_path}/r.yaml], notify: [pd, slack, mail]}}
notifiers:
  pd: {{type: pagerduty, routing_key: "${{PD_KEY}}"}}
  slack: {{type: slack, url: "${{SLACK_URL}}"}}
  mail: {{type: email, host: smtp.example.com, from: a@example.com, to: [b@example.com],
         username: midwatch, password: "file:{tmp_path}/pw"}}
""")
    assert main(["rules", "list", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "Secret(env:notifiers.pd.routing_key)" in out and "smtp.example.com" in out
    # A receiver that echoes the request back in its error, as some APIs do.
    echo = receivers(lambda path, headers, body: [body.decode()])
    make_secret(pd_key, "env:PD_KEY")
    pd = pagerduty.PagerDuty("pd", pagerduty.Options(Secret(pd_key, "env:PD"), f"{echo.url}/v2/enqueue"))
    history: list[dict] = []
    d = _delivery(tmp_path, [pd], history)
    d.start()
    caplog.set_level(logging.INFO)
    d.submit(["pd"], _note())
    d.flush()
    deadline = time.monotonic() + 10
    while not history and time.monotonic() < deadline:
        time.sleep(0.01)
    d.stop()
    assert history[0]["state"] == "notify_failed" and "***" in history[0]["error"]
    everything = out + capsys.readouterr().err + caplog.text + json.dumps(history)
    for secret in (pd_key, slack_url, "supersecrettoken", "smtp-password-42"):
        assert secret not in everything


def test_literal_secret_in_yaml_is_refused(tmp_path, capsys):
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text("rules: {paths: []}\nnotifiers:\n  pd: {type: pagerduty, routing_key: abc123}\n")
    assert main(["rules", "validate", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}:3:25: notifiers.pd.routing_key: secrets must not be written in YAML" in err
    assert "abc123" not in err
