"""What every notifier shares: the notification, HTTP sending, retries and worker queues.

Each configured notifier gets its own thread and bounded queue. The rule engine only enqueues
(never blocks), so a PagerDuty outage retrying with backoff delays neither the next rule
evaluation nor the Slack message for the same alert. Every attempt's outcome is written to
the alert history, which is how "was on-call paged?" gets answered afterwards.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import urllib3

from collector.event import ms_to_iso
from collector.logsetup import mask_secrets as redact

log = logging.getLogger("midwatch.rules.notify")

USER_AGENT = "midwatch-notifier/1"
SEVERITIES = ("critical", "error", "warning", "info")


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
    """A send failed; ``retryable`` when trying again later may succeed (5xx, 429, network)."""

    def __init__(self, message: str, *, retryable: bool):
        # Vendors sometimes echo keys or URLs back in error bodies.
        super().__init__(redact(message))
        self.retryable = retryable


class Notifier(Protocol):
    name: str
    kind: str

    def send(self, n: Notification) -> None:
        """Deliver or raise SendError."""


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Http:
    """A pooled urllib3 client with timeouts; a response outside 2xx raises SendError."""

    def __init__(self, *, connect_timeout_s: float = 5.0, read_timeout_s: float = 10.0,
                 ca_certs: str | None = None):
        kwargs: dict[str, Any] = {"ca_certs": ca_certs} if ca_certs else {}
        self.pool = urllib3.PoolManager(
            num_pools=4, maxsize=2, retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s), **kwargs)

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None,
             *, what: str, raw: bytes | None = None) -> bytes:
        data = raw if raw is not None else orjson.dumps(body)
        hdrs = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        try:
            resp = self.pool.request("POST", url, body=data, headers=hdrs)
        except urllib3.exceptions.HTTPError as exc:
            # urllib3 messages hold the URL, which for Slack and webhooks is a credential.
            raise SendError(f"{what}: cannot connect ({type(exc).__name__})",
                            retryable=True) from None
        if 200 <= resp.status < 300:
            return resp.data
        reason = truncate(resp.data.decode("utf-8", "replace").strip(), 300)
        raise SendError(f"{what} answered HTTP {resp.status}: {reason}",
                        retryable=resp.status == 429 or resp.status >= 500)


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 60.0

    def delays(self) -> list[float]:
        return [min(self.first_backoff_s * 2**i, self.max_backoff_s)
                for i in range(self.attempts - 1)]


@dataclass(slots=True)
class _Job:
    notification: Notification
    enqueued_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)


class Worker:
    """One notifier's thread and bounded queue; a full queue drops the newest and records it."""

    def __init__(self, notifier: Notifier, record: Callable[[list[dict]], None], *,
                 retry: Retry, queue_size: int):
        self.notifier = notifier
        self.record = record
        self.retry = retry
        self.queue: queue.Queue[_Job] = queue.Queue(maxsize=queue_size)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"notify-{notifier.name}",
                                       daemon=True)

    def submit(self, n: Notification) -> bool:
        try:
            self.queue.put_nowait(_Job(n))
            return True
        except queue.Full:
            log.error("notifier %s: queue full, dropped %s %s", self.notifier.name, n.action,
                      n.rule)
            self._record(n, "notify_dropped", 0, "queue full: the notifier is far behind")
            return False

    def _run(self) -> None:
        while not (self.stopping.is_set() and self.queue.empty()):
            try:
                job = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(job.notification)

    def _deliver(self, n: Notification) -> None:
        delays = [] if self.stopping.is_set() else self.retry.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                self.notifier.send(n)
            except SendError as exc:
                if exc.retryable and delays and not self.stopping.is_set():
                    log.warning("notifier %s: %s; retrying", self.notifier.name, exc)
                    if not self.stopping.wait(delays.pop(0)):
                        continue
                log.error("notifier %s: giving up on %s %s after %d attempt(s): %s",
                          self.notifier.name, n.action, n.rule, attempt, exc)
                self._record(n, "notify_failed", attempt, str(exc))
                return
            except Exception as exc:  # a notifier bug must not kill its worker
                log.exception("notifier %s failed", self.notifier.name)
                self._record(n, "notify_failed", attempt, redact(f"{type(exc).__name__}: {exc}"))
                return
            self._record(n, "notified", attempt, None)
            return

    def _record(self, n: Notification, state: str, attempts: int, error: str | None) -> None:
        doc = history_doc(n, state, time.time_ns() // 1_000_000, self.notifier.name)
        doc["notifier_type"], doc["attempts"] = self.notifier.kind, attempts
        if error:
            doc["error"] = error
        try:
            self.record([doc])
        except Exception as exc:
            log.error("cannot record %s of %s in alert history: %s", state, n.rule, exc)


def history_doc(n: Notification, state: str, at_ms: int, notifier: str) -> dict:
    """One notification's alert-history document, as the Alerts board reads it."""
    return {
        "@timestamp": ms_to_iso(at_ms), "rule": n.rule, "state": state, "action": n.action,
        "severity": n.severity, "value": n.value, "labels": n.labels, "dedup_key": n.key,
        "summary": n.summary, "notifier": notifier,
    }


class Dispatcher:
    """Routes notifications to the named notifiers' workers."""

    def __init__(self, notifiers: Sequence[Notifier], record: Callable[[list[dict]], None], *,
                 retry: Retry = Retry(), queue_size: int = 1000):
        self.workers = {n.name: Worker(n, record, retry=retry, queue_size=queue_size)
                        for n in notifiers}

    def start(self) -> None:
        for w in self.workers.values():
            w.thread.start()

    def submit(self, names: Sequence[str], n: Notification) -> None:
        for name in names:
            self.workers[name].submit(n)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (one attempt each, no more backoff), within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for w in self.workers.values():
            w.stopping.set()
        for w in self.workers.values():
            if w.thread.is_alive():
                w.thread.join(max(0.0, deadline - time.monotonic()))
