"""The OTLP/HTTP (protobuf) exporter: final-state journeys to Jaeger, Tempo or any collector.

Ingestion must never wait for a tracing backend, so ``offer`` only snapshots the trace into a
bounded queue and returns; when the queue is full the trace is dropped and its spans counted
as dropped. One thread builds the spans and posts them, retrying a refused or failed request
with backoff like the store writer does, and counting what it gives up on as failed.

It remembers which spans of a journey it already sent (for ``remember`` journeys, least
recently exported forgotten first) and sends only the new ones when the journey changes: later
hops join the same trace, and the root span is sent again only when what it shows changed
(status or IDs: ``spans.root_state``).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass

import urllib3

from collector.config_values import Section
from collector.exporters import spans
from collector.metrics import Registry
from collector.trace import Trace
from collector.yamlconf import Secret

log = logging.getLogger("midwatch.exporter")

CONTENT_TYPE = "application/x-protobuf"
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    endpoint: str  # the full URL, e.g. http://127.0.0.1:4318/v1/traces
    headers: tuple[tuple[str, Secret], ...] = ()
    timeout_ms: int = 5000
    queue_traces: int = 10_000
    batch_traces: int = 200
    max_attempts: int = 5
    backoff_ms: int = 200
    remember: int = 100_000
    name: str = "otlp"


class OtlpExporter:
    def __init__(self, settings: OtlpSettings, registry: Registry | None = None):
        self.settings = settings
        self.queue: queue.Queue[Trace] = queue.Queue(maxsize=settings.queue_traces)
        self.http = urllib3.PoolManager(
            num_pools=1, maxsize=1,
            timeout=urllib3.Timeout(total=settings.timeout_ms / 1000), retries=False)
        # trace key -> (root state, span IDs sent); insertion order is the LRU order.
        self.sent: dict[str, tuple[bytes, frozenset[bytes]]] = {}
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._run, name=f"exporter-{settings.name}",
                                       daemon=True)
        self.expose_metrics(registry or Registry())

    def expose_metrics(self, registry: Registry) -> None:
        """Spans sent, dropped (queue full) and failed (peer refused) in ``/metrics``."""
        self.spans = registry.counter("midwatch_exporter_spans_total",
                                      "Spans an exporter sent, dropped or failed to send.",
                                      ("exporter", "result"))

    # ------------------------------------------------------------------ ingest side

    def offer(self, traces: list[Trace]) -> None:
        """Queue the traces that reached a final state; never waits."""
        for t in traces:
            if t.status not in spans.FINAL_STATUSES:
                continue
            # The correlator keeps changing its Trace objects: queue a snapshot.
            snap = dataclasses.replace(t, ids=list(t.ids), hops=list(t.hops))
            try:
                self.queue.put_nowait(snap)
                self.idle.clear()
            except queue.Full:
                self.spans.inc(self.settings.name, "dropped", by=1 + len(t.hops))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop."""
        self.flush(timeout_s)
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)
        self.http.clear()

    def flush(self, timeout_s: float) -> bool:
        """Wait until the queue is sent (or given up on); False when time ran out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.queue.empty() and self.idle.wait(0.05):
                return True
            self.idle.wait(0.05)
        return False

    # ------------------------------------------------------------------ worker

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                first = self.queue.get(timeout=0.2)
            except queue.Empty:
                self.idle.set()
                continue
            batch = [first]
            while len(batch) < self.settings.batch_traces:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._export(batch)
            except Exception:  # a bug here must not end exporting for good
                log.exception("exporting traces failed", extra={"exporter": self.settings.name})
            if self.queue.empty():
                self.idle.set()

    def _export(self, batch: list[Trace]) -> None:
        request, count, marks = spans.Batch(), 0, {}
        for t in batch:
            # A journey queued twice in one batch: the second sends only what the first did not.
            state = spans.root_state(t)
            shown, done = marks.get(t.trace_key) or self.sent.get(t.trace_key, (b"", frozenset()))
            skip = done if shown == state else done - {spans.root_span_id(t.trace_key)}
            new = request.add(t, skip)
            if new:
                count += len(new)
                marks[t.trace_key] = (state, done | set(new))
        if not count:
            return
        if self._post(request.serialize()):
            self.spans.inc(self.settings.name, "sent", by=count)
            for key, mark in marks.items():
                self.sent.pop(key, None)
                self.sent[key] = mark
            while len(self.sent) > self.settings.remember:
                del self.sent[next(iter(self.sent))]
        else:
            self.spans.inc(self.settings.name, "failed", by=count)

    def _post(self, body: bytes) -> bool:
        s = self.settings
        headers = {"Content-Type": CONTENT_TYPE,
                   **{name: value.reveal() for name, value in s.headers}}
        for attempt in range(1, s.max_attempts + 1):
            problem = None
            try:
                resp = self.http.request("POST", s.endpoint, body=body, headers=headers)
                if 200 <= resp.status < 300:
                    return True
                problem = f"HTTP {resp.status}"
                if resp.status not in _RETRY_STATUSES:
                    break
            except urllib3.exceptions.HTTPError as exc:
                problem = type(exc).__name__
            if attempt < s.max_attempts and self.stopping.wait(s.backoff_ms * 2 ** (attempt - 1)
                                                               / 1000):
                break
        log.warning("OTLP export refused; spans dropped", extra={
            "exporter": s.name, "endpoint": s.endpoint, "error": problem})
        return False


# --- configuration and construction: the ``otlp`` entry of ``collector.exporters.EXPORTERS`` ---

KEYS = ("endpoint", "headers", "timeout", "queue_traces", "batch_traces", "max_attempts",
        "remember")


def parse(s: Section) -> OtlpSettings:
    endpoint = s.text("endpoint", required=True)
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise s.error("endpoint", f"expected an http(s) URL, got {endpoint!r}",
                      "e.g. http://127.0.0.1:4318/v1/traces")
    if not url.path.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    raw_headers = s.raw("headers") or {}
    names = tuple(str(k) for k in raw_headers) if isinstance(raw_headers, dict) else ()
    headers = Section(s.doc, (*s.path, "headers"), raw_headers, names)
    return OtlpSettings(
        endpoint=endpoint,
        headers=tuple((name, headers.secret(name)) for name in names),
        timeout_ms=s.duration_ms("timeout", "5s", minimum_ms=100),
        queue_traces=s.number("queue_traces", 10_000, minimum=1),
        batch_traces=s.number("batch_traces", 200, minimum=1),
        max_attempts=s.number("max_attempts", 5, minimum=1),
        remember=s.number("remember", 100_000, minimum=0))


def build(settings: OtlpSettings) -> OtlpExporter:
    return OtlpExporter(settings)
