"""What every notifier shares: the notification, HTTP sending and its errors.

Retries, ordering and the per-notifier workers live with the outbox (``rules.delivery``):
a failed send is a record waiting in the store, not a thread sleeping in memory.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import orjson
import urllib3

from collector.event import ms_to_iso
from collector.logsetup import mask_secrets as redact
from rules.notify.transport import DIRECT, Transport, proxy_for

USER_AGENT = "midwatch-notifier/1"
SEVERITIES = ("critical", "error", "warning", "info")
# A Retry-After longer than this is taken as this: a wrong or hostile header must not park
# pages for days (the record still expires after ``notification_expiry``).
RETRY_AFTER_MAX_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert to send: ``action`` is ``firing`` or ``resolved``."""

    action: str
    rule: str
    key: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    starts_ms: int
    at_ms: int
    # When a receiver that expires alerts (Alertmanager) should consider it over unless
    # sent again; the engine re-sends before then.
    expires_ms: int
    description: str = ""
    message_ids: tuple[str, ...] = ()
    trace_url: str | None = None
    generator_url: str | None = None

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or f"{self.rule} {self.action}: {self.labels}"

    def links(self) -> list[dict[str, str]]:
        out = []
        if self.trace_url:
            out.append({"href": self.trace_url, "text": "Message traces"})
        if self.annotations.get("runbook_url"):
            out.append({"href": self.annotations["runbook_url"], "text": "Runbook"})
        return out

    def iso(self, ms: int) -> str:
        return ms_to_iso(ms)


class SendError(Exception):
    """A send failed; ``retryable`` when trying again later may succeed (5xx, 429, network);
    ``refused`` when the receiver certainly did not take it (it answered with an error, or
    was never reached). Otherwise (a timeout or a broken connection after the request went
    out) it may have arrived, so the outbox will not cancel the alert's resolve against it."""

    def __init__(self, message: str, *, retryable: bool, refused: bool = False,
                 owed: tuple[str, ...] | None = None, lost: tuple[str, ...] = (),
                 retry_after_ms: int | None = None):
        # Vendors sometimes echo keys or URLs back in error bodies.
        super().__init__(redact(message))
        self.retryable = retryable
        self.refused = refused
        # A send to several recipients (e-mail) that some took: ``owed`` are those a retry
        # must still reach (the others would get a second copy), ``lost`` those refused for
        # good. None: the whole send is owed again.
        self.owed = owed
        self.lost = lost
        self.retry_after_ms = retry_after_ms  # the receiver's Retry-After: not sooner


class Notifier(Protocol):
    name: str
    kind: str

    def send(self, n: Notification) -> bytes | Unconfirmed | None:
        """Deliver (the receiver's answer, when it gives one; ``Unconfirmed`` when it took the
        request but could not say whether it worked) or raise SendError. A notifier
        whose SendError names ``owed`` recipients also takes ``send(n, owed=...)``: the retry
        goes to those only."""


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Http:
    """Pooled urllib3 clients with timeouts (direct, or through the proxy ``transport`` or
    the environment names for a URL); a response outside 2xx raises SendError."""

    def __init__(self, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 10.0,
                 transport: Transport | None = None):
        transport = self.transport = transport or DIRECT
        self.kwargs: dict[str, Any] = {
            "num_pools": 4, "maxsize": 2, "retries": False,
            "timeout": urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            **({"ca_certs": transport.ca_file} if transport.ca_file else {})}
        self.pools: dict[str | None, urllib3.PoolManager] = {}
        self.lock = threading.Lock()

    def _pool(self, url: str) -> urllib3.PoolManager:
        proxy = proxy_for(url, self.transport.proxy)
        with self.lock:  # one pool per proxy (at most: none, HTTP_PROXY, HTTPS_PROXY)
            if proxy not in self.pools:
                self.pools[proxy] = (urllib3.ProxyManager(proxy, **self.kwargs) if proxy
                                     else urllib3.PoolManager(**self.kwargs))
            return self.pools[proxy]

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None,
             *, what: str, raw: bytes | None = None) -> bytes:
        data = raw if raw is not None else orjson.dumps(body)
        resp = self.request("POST", url, {"Content-Type": "application/json", **(headers or {})},
                            what=what, body=data)
        if 200 <= resp.status < 300:
            return resp.data
        if 300 <= resp.status < 400:
            # Not followed: a client following 301/302 re-sends a POST as a GET, which loses
            # the page while the receiver answers 200; and a redirect may lead the
            # credentials elsewhere. Failed at once, with where it points.
            where = urllib.parse.urlsplit(urllib.parse.urljoin(url, resp.headers.get("Location", "")))
            raise SendError(f"{what} answered HTTP {resp.status}, a redirect to "
                            f"{where.scheme}://{host_port(where)}/...: not followed, set the "
                            "notifier's URL to where it points", retryable=False, refused=True)
        reason = truncate(resp.data.decode("utf-8", "replace").strip(), 300)
        raise SendError(f"{what} answered HTTP {resp.status}: {reason}",
                        retryable=resp.status == 429 or resp.status >= 500, refused=True,
                        retry_after_ms=retry_after_ms(resp.headers.get("Retry-After")))

    def request(self, method: str, url: str, headers: dict[str, str], *, what: str,
                body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        """The response to one request, whatever its status; SendError when there is none."""
        hdrs = {"User-Agent": USER_AGENT, **headers}
        try:
            return self._pool(url).request(method, url, body=body, headers=hdrs)
        except urllib3.exceptions.HTTPError as exc:
            # urllib3 messages hold the URL, which for Slack and webhooks is a credential.
            raise SendError(f"{what}: cannot connect ({type(exc).__name__})", retryable=True,
                            refused=isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
                            ) from None  # (no connection, so nothing sent; incl. refused, DNS)


def host_port(url: urllib.parse.SplitResult) -> str:
    """``host[:port]`` of a URL, never its userinfo (``user:password@``, a credential that
    ``mask_secrets`` does not recognise)."""
    host = url.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = url.port
    except ValueError:  # not a number: leave it out
        port = None
    return f"{host}:{port}" if port is not None else host


def retry_after_ms(value: str | None, now_s: float | None = None) -> int | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as milliseconds from now, at most
    ``RETRY_AFTER_MAX_MS``; None when absent or unreadable (a garbage header is ignored, never
    an exception in the send)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone takes "²" and other digits
        # Capped before converting: a header of hundreds of digits is no float or int to build.
        return RETRY_AFTER_MAX_MS if len(value) > 9 else min(int(value) * 1000, RETRY_AFTER_MAX_MS)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now_s is None else now_s)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0, int(seconds * 1000)), RETRY_AFTER_MAX_MS)


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A send the receiver accepted for later processing (HTTP 202) whose outcome it could
    not tell us: not retried (it may well have worked), but recorded as ``notify_unconfirmed``
    in the alert history, not as delivered."""

    why: str


def history_doc(n: Notification, state: str, at_ms: int, notifier: str) -> dict:
    """One notification's alert-history document, as the Alerts board reads it."""
    return {
        "@timestamp": ms_to_iso(at_ms), "rule": n.rule, "state": state, "action": n.action,
        "severity": n.severity, "value": n.value, "labels": n.labels, "dedup_key": n.key,
        "summary": n.summary, "notifier": notifier,
    }
