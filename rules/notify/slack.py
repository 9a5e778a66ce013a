"""Slack incoming webhook: Block Kit blocks plus ``text`` as the notification fallback.

Block Kit limits (api.slack.com/reference/block-kit): header text 150 characters, section
text 3000, at most 10 section fields of 2000 each, at most 50 blocks, a button's URL 3000.
The webhook URL is a credential (it carries the token), so it comes from ${ENV} or file: and
never appears in errors.

An incoming webhook answers 200 ``ok``, and its refusals with 4xx and a code as the body
(``invalid_payload``, ``no_service``, ``channel_is_archived`` 410, ``action_prohibited`` 403,
``too_many_requests`` 429): those fail or retry in ``Http.post``. A URL of Slack's Web API or
a workflow webhook answers 200 with JSON ``{"ok": false, "error": ...}`` when it did not post:
that is a failed send too, not a delivered page. A 2xx with any other body (a captive proxy's
or a wrong URL's HTML page, an empty answer) did not come from Slack: a failed send, retried
(the network may be fixed), not a page counted as delivered that nobody saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from collector.config_values import Section
from collector.yamlconf import Secret, UnsetSecret
from rules.digest import digest_title
from rules.notify import transport
from rules.notify.base import Http, Notification, SendError, truncate
from rules.notify.transport import DIRECT, Transport

KEYS = ("type", "url", *transport.KEYS)
BUTTON_URL_MAX = 3000
_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}
# Slack API error codes after which trying again later may work.
_TRANSIENT = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                        "service_unavailable", "request_timeout"})


@dataclass(frozen=True, slots=True)
class Options:
    url: Secret
    transport: Transport = DIRECT


def parse(s: Section) -> Options:
    url = s.secret("url")
    if url is None:
        raise s.error("url", "is required", "url: ${SLACK_WEBHOOK_URL}")
    if not isinstance(url, UnsetSecret) and not url.reveal().startswith("https://"):
        raise s.error("url", "a Slack webhook URL starts with https://")
    return Options(url, transport.parse(s))


def message(n: Notification) -> dict:
    state = "RESOLVED" if n.action == "resolved" else n.severity.upper()
    title = f"{_EMOJI[n.action]} [{state}] {n.rule}"
    fields = [{"type": "mrkdwn", "text": truncate(f"*{k}*\n{v}", 2000)}
              for k, v in sorted(n.labels.items())][:9]
    fields.append({"type": "mrkdwn", "text": f"*value*\n{n.value}"})
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(n.summary, 3000)},
         "fields": fields},
    ]
    if n.annotations.get("description"):
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": truncate(n.annotations["description"], 3000)}})
    # A button takes a URL of at most 3000 characters; a longer one made Slack refuse the
    # whole message (invalid_blocks), so it is named instead.
    links = n.links()
    buttons = [link for link in links if len(link["href"]) <= BUTTON_URL_MAX]
    notes = [f"{link['text']}: not shown, its URL ({len(link['href'])} characters) is longer "
             f"than Slack's {BUTTON_URL_MAX}" for link in links if link not in buttons]
    if n.message_ids:
        notes.insert(0, "Sample messages: " + ", ".join(n.message_ids))
    if notes:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": truncate(text, 3000)} for text in notes]})
    if buttons:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": link["text"]},
             "url": link["href"]} for link in buttons]})
    return {"text": truncate(f"[{state}] {n.rule}: {n.summary}", 3000), "blocks": blocks}


def digest_message(notes: list[Notification], group: dict[str, str]) -> dict:
    """One post listing a group's alerts (``group_by``): a section per action, one line per
    alert (severity, rule, labels outside the group, value, summary), cut at Slack's limits."""
    title = digest_title(notes, group)
    blocks: list[dict] = [{"type": "header", "text": {
        "type": "plain_text", "text": truncate(title, 150)}}]
    for action in ("firing", "resolved"):
        lines = [f"{_EMOJI[action]} *{n.severity.upper() if action == 'firing' else 'RESOLVED'}* "
                 f"{n.rule} {_labels_outside(n, group)} value {n.value}: {n.summary}"
                 for n in notes if n.action == action]
        if lines:
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": _fitted(lines, 3000)}})
    return {"text": truncate(title, 3000), "blocks": blocks}


def _fitted(lines: list[str], limit: int) -> str:
    """Whole lines up to ``limit`` characters, then how many did not fit (not a cut line)."""
    out: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        more = f"… and {len(lines) - i} more"
        line = truncate(line, limit - len(more) - 1)
        if size + len(line) + 1 + len(more) > limit and i < len(lines) - 1:
            return "\n".join([*out, more])
        out.append(line)
        size += len(line) + 1
    return truncate("\n".join(out), limit)


def _labels_outside(n: Notification, group: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(n.labels.items()) if k not in group)


class Slack:
    kind = "slack"

    def __init__(self, name: str, options: Options, http: Http | None = None):
        self.name, self.options = name, options
        self.http = http or Http(transport=options.transport)

    def send(self, n: Notification) -> bytes:
        return self._post(message(n))

    def send_digest(self, digest_id: str, group: dict[str, str],
                    notes: list[Notification]) -> bytes:
        return self._post(digest_message(notes, group))

    def _post(self, doc: dict) -> bytes:
        what, url = f"Slack ({self.name})", self.options.url.reveal()
        return posted(self.http.post(url, doc, what=what), what, url)


def posted(answer: bytes, what: str, url: str) -> bytes:
    """``answer`` when it says the message was posted (``ok``, or JSON ``"ok": true``);
    SendError when a 2xx says it was not, or is not Slack's answer at all. ``url`` (the
    webhook's, a credential) is masked out of what the error quotes."""
    if answer.strip() == b"ok":  # an incoming webhook's
        return answer
    try:
        doc = orjson.loads(answer) if answer.lstrip().startswith(b"{") else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("ok") is True:
        return answer
    if isinstance(doc, dict) and doc.get("ok") is False:
        error = str(doc.get("error") or "unknown error")
        raise SendError(f"{what} answered 200 but did not post: {truncate(error, 200)}",
                        retryable=error in _TRANSIENT, refused=True)
    # Something other than Slack answered (a proxy, a portal, a wrong host): it took nothing
    # for Slack, and a later try may get through.
    raise SendError(f"{what} answered 2xx but not as Slack does (\"ok\" or {{\"ok\": true}}): "
                    "a proxy, portal or wrong URL answered, not Slack; check the notifier's url "
                    f"and any proxy in between. Body: {_excerpt(answer, url)!r}",
                    retryable=True, refused=True)


def _excerpt(answer: bytes, url: str, limit: int = 80) -> str:
    """The first ``limit`` characters of an answer, whitespace runs folded, with the webhook
    URL and its last path segment (the token: a portal may echo either back) masked first,
    so a cut never leaves part of a token."""
    text = " ".join(answer.decode("utf-8", "replace").split())
    token = url.rstrip("/").rsplit("/", 1)[-1]
    for secret in (url, token):
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return truncate(text, limit) if text else "(empty body)"


NOTIFIER = Slack
