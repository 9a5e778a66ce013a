"""HTTP receiver for shippers: NDJSON, an Elasticsearch ``_bulk`` endpoint, Splunk HEC.

Any shipper can point an output it already has at midwatch:

- ``POST /ingest``: NDJSON, one message per line (a shipper envelope, or a bare line);
- ``POST /_bulk`` and ``/<index>/_bulk``: the Elasticsearch bulk API as Filebeat, Elastic
  Agent, Logstash, Fluent Bit (``es``) and Vector (``elasticsearch``) send it (action lines
  ``index``/``create`` with their document); ``GET /`` answers like an Elasticsearch 8 node
  so their version check passes. The answer lists every ``index``/``create`` item as
  created: a document that is no shipper's envelope or that no parser reads is kept as an
  event or dead letter, never refused. midwatch keeps log events and performs no
  ``delete`` or ``update``: those items get Elasticsearch's per-item error (status 400 and
  a reason, ``errors: true``), so a shipper does not believe they happened (Filebeat,
  Logstash and Vector take a 4xx item as final; Fluent Bit's ``es`` output re-sends a whole
  chunk in which no item got 200/201, so one of only ``update``/``upsert`` items is retried
  until its ``Retry_Limit``);
- ``POST /services/collector/event`` (and ``/services/collector``): Splunk HEC events,
  concatenated JSON objects, ``Authorization: Splunk <token>``; ``GET
  /services/collector/health``.

Every message goes through ``collector.shipping``, one ``Delivery`` for all requests: a
record a request leaves open (a stack trace the shipper's batch cut) stays open for the next
request of its source, which continues it as the file input would. At-least-once all the
same: the open record is stored as it stands (``Delivery.provisional``) before the answer,
and the record once closed overwrites it (same event ID). A request the store does not take
drops what its sources hold: its retry starts them afresh. A source quiet for
``multiline_timeout`` has its record closed. The answer
is sent only once the store acknowledged the request's events (at-least-once): while the
writer's queue stays full the answer is 429 (``_bulk``, ``/ingest``: the shippers' retry
status) or 503 (HEC's "server is busy"), with Retry-After, and nothing is kept; when the
store does not acknowledge in ``ack_timeout``, 503: the shipper's retry then overwrites
(IDs are deterministic: a bulk action's ``_id``, Filebeat's offset, or the line's hash).
Messages are parsed in a worker process (``parse_worker``, as files are:
``collector.inputs.remote_delivery``); if it dies the request is answered 503 with
Retry-After and a new worker parses the retry. Bodies are limited to ``max_body_bytes`` (also after gzip), 413 beyond. Tokens: ``Bearer``
(or HEC's ``Splunk``) with the ``ingest`` scope; without tokens only loopback may listen.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass

import orjson

from collector.config import ApiToken, api_tokens, check_exposure, tls_files
from collector.config import Config as MidwatchConfig
from collector.config_values import Section
from collector.httpserver import Handler, HttpError, Server, authorize
from collector.inputs import acked, hec_answers, http_bodies
from collector.inputs.base import ChunkQueue
from collector.inputs.decode_check import InvalidBytesNote
from collector.inputs.hec_answers import HecError
from collector.inputs.http_bodies import BodyError, Request, SourceTexts, bulk_answer
from collector.inputs.otlp import OtlpInput, gunzip
from collector.inputs.parse_worker import WorkerFailed
from collector.inputs.remote_delivery import RemoteDelivery
from collector.inputs.worker_slot import EncodesEvents, worker_slot
from collector.metrics import Registry
from collector.parse import Output, ParseStats
from collector.parsers._base import ParseContext
from collector.shipping import IDLE_CLOSE_S, Delivery

# Waiting for room in the writer's queue before answering "busy".
OFFER_TIMEOUT_S = 1.0
ES_INFO = {"name": "midwatch", "cluster_name": "midwatch", "tagline": "You Know, for Search",
           "version": {"number": "8.15.0", "build_flavor": "default",
                       "minimum_wire_compatibility_version": "7.17.0",
                       "minimum_index_compatibility_version": "7.0.0"}}
# Filebeat/Elastic Agent (libbeat's licenser) and Logstash's output read GET /_license when
# they connect and refuse a node without an active license ("could not connect to a
# compatible version of Elasticsearch"), whatever the version GET / gave.
ES_LICENSE = {"license": {"uid": "6d1d1f1e-0000-4000-8000-6d6964776174", "type": "basic",
                          "status": "active", "issue_date_in_millis": 0,
                          "issued_to": "midwatch", "issuer": "midwatch",
                          "start_date_in_millis": -1}}
_HEC_PATHS = ("/services/collector/event", "/services/collector")


def hec(body: bytes) -> list[SourceTexts]:
    """HEC events: JSON objects one after another, with or without whitespace between;
    refused with Splunk's code (``hec_answers``) as Splunk refuses them."""
    text = body.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    out: list[bytes] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            if not out:
                raise HecError(hec_answers.NO_DATA, "the request has no event")
            return [SourceTexts("http:hec", out)]
        start = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise HecError(hec_answers.INVALID_DATA_FORMAT,
                           f"event {len(out) + 1}: not JSON: {exc.msg} at character "
                           f"{exc.pos}", event=len(out)) from None
        if not isinstance(obj, dict) or "event" not in obj:
            raise HecError(hec_answers.EVENT_REQUIRED,
                           f"event {len(out) + 1}: an event object needs \"event\"",
                           event=len(out))
        if obj["event"] in ("", None):
            raise HecError(hec_answers.EVENT_BLANK, f"event {len(out) + 1}: \"event\" is blank",
                           event=len(out))
        out.append(text[start:pos].encode())


class HttpInput(OtlpInput, EncodesEvents):
    """Runs, stops and closes as the OTLP receiver does (both are a listener whose answer is
    the acknowledgement); only the endpoints and what they accept differ."""

    def __init__(self, cfg: Config, ctx: ParseContext, metrics: Registry | None = None):
        self.name = cfg.name
        self.cfg = cfg  # type: ignore[assignment] - the listener settings OtlpInput reads
        self.ctx = ctx
        self.stats = ParseStats()
        # Bodies not valid UTF-8, said of once per peer and path (the parse reads them with
        # U+FFFD in place of the bad bytes).
        self.invalid = InvalidBytesNote(cfg.name, "http", metrics)
        self.out: ChunkQueue | None = None
        self._stopped = threading.Event()
        # Parsing in a worker process (collector.inputs.remote_delivery), as files are.
        self.workers = worker_slot(ctx, cfg.name, cfg.parse_worker, metrics)
        self.frame_across_requests(ctx, self.stats,
                                   self.workers.worker if self.workers is not None else None)
        tls = (cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None
        self.server = Server(cfg.listen, _handler(self),
                             request_timeout_s=cfg.request_timeout_ms / 1000, tls=tls)

    def deliver(self, request: Request, nbytes: int) -> tuple[acked.AckResult, list[str] | None]:
        """Parse one request's messages and wait until the store has their events, and the
        records they leave open as they stand; with a ``_bulk`` request's item actions. The
        body goes to the parse worker whole (``http_bodies``): one round trip a request."""
        actions: list[str] | None = None

        def read(delivery: Delivery | RemoteDelivery, idle_s: float
                 ) -> tuple[Output, set[str], int]:
            nonlocal actions
            try:
                if isinstance(delivery, RemoteDelivery):
                    items, touched, actions, count = delivery.read_http(request, idle_s)
                else:
                    items, touched, actions, count = http_bodies.read(
                        delivery, request, idle_s, self._ctx.now_ms)
            except BodyError as exc:
                raise HttpError(exc.status, exc.message) from None
            return items, touched, count

        delivery = self.delivery
        try:
            return self.framed(read, nbytes, OFFER_TIMEOUT_S), actions
        except WorkerFailed as exc:
            self._restart(delivery, exc)
            raise HttpError(503, f"{exc}; a new one was started: retry",
                            {"Retry-After": "1"}) from None

    def _restart(self, failed: Delivery | RemoteDelivery, exc: WorkerFailed) -> None:
        """A new parse worker for the one that died (``WorkerSlot``: once, however many
        requests saw it die), and the delivery in it. What the dead one held open is gone,
        as after ``Delivery.forget``: those records' provisional events stay stored, and
        the shipper's retry sends the lines again."""
        assert self.workers is not None and isinstance(failed, RemoteDelivery)
        with self._parsing:
            if self.workers.replace(failed.worker, exc):
                self.delivery = RemoteDelivery(self.workers.worker, self._ctx, keep_lines=True)

    def close(self) -> None:
        super().close()
        if self.workers is not None:
            self.workers.close()


def _handler(receiver: HttpInput) -> type[Handler]:
    cfg = receiver.cfg

    class ShipperHandler(Handler):
        def setup(self) -> None:
            super().setup()
            # Shippers keep one connection and wait for each answer before the next request:
            # the answer's head and body are two writes, and Nagle's algorithm would hold the
            # body for the client's delayed ACK (40 ms a request on Linux).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def route(self, method: str) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if method in ("GET", "HEAD"):
                return self._get(path)
            if method != "POST":
                raise HttpError(405, "use POST", {"Allow": "GET, HEAD, POST"})
            splunk = path in _HEC_PATHS
            self._authorize(splunk)
            body = self.read_body(cfg.max_body_bytes)
            if self.headers.get("Content-Encoding", "").strip().lower() == "gzip":
                body = gunzip(body, cfg.max_body_bytes, key="max_body_bytes")
            peer = self.client_address[0]
            receiver.invalid.check(body, f"{peer} {path}",
                                   lambda: {"peer": peer, "path": path})
            if path == "/ingest":
                outcome, _ = receiver.deliver(("ndjson", body, ""), len(body))
                self._answer(outcome, 429, b'{"accepted":true}')
            elif path.endswith("/_bulk"):
                index = path.removesuffix("/_bulk").strip("/") or "midwatch"
                outcome, actions = receiver.deliver(("bulk", body, index), len(body))
                self._answer(outcome, 429, bulk_answer(actions or [], index))
            elif splunk:
                outcome, _ = receiver.deliver(("runs", hec(body), ""), len(body))
                self._answer(outcome, 503, orjson.dumps(hec_answers.body(hec_answers.SUCCESS)))
            else:
                raise HttpError(404, f"no such endpoint {path}; POST /ingest (NDJSON), "
                                     f"/_bulk (Elasticsearch) or /services/collector/event "
                                     f"(Splunk HEC)")

        def _get(self, path: str) -> None:
            if path == "/":
                self.send_json(200, ES_INFO, {"X-Elastic-Product": "Elasticsearch"})
            elif path in ("/_license", "/_xpack/license"):
                self.send_json(200, ES_LICENSE, {"X-Elastic-Product": "Elasticsearch"})
            elif path == "/services/collector/health":
                self.send_json(200, hec_answers.body(hec_answers.HEALTHY))
            else:
                raise HttpError(404, f"no such endpoint {path}")

        def _authorize(self, splunk: bool) -> None:
            if not cfg.tokens:
                return
            header = self.headers.get("Authorization") or ""
            if not splunk:
                authorize(header, cfg.tokens, "ingest")
                return
            # HEC clients know only their scheme; Splunk tells a missing token (2), another
            # scheme (3) and a wrong token (4, 403) apart.
            scheme, _, token = header.partition(" ")
            challenge = {"WWW-Authenticate": 'Splunk realm="midwatch"'}
            if scheme.lower() not in ("splunk", "bearer") and header.strip():
                raise HecError(hec_answers.INVALID_AUTHORIZATION,
                               "use Authorization: Splunk <token>", challenge)
            if not token.strip():
                raise HecError(hec_answers.TOKEN_REQUIRED,
                               "Authorization: Splunk <token> is missing", challenge)
            try:
                authorize(f"Bearer {token}", cfg.tokens, "ingest")
            except HttpError as exc:
                raise HecError(hec_answers.INVALID_TOKEN, exc.message) from None

        def _error(self, exc: HttpError) -> None:
            """Errors of the HEC endpoints in Splunk's form (``hec_answers``)."""
            path = getattr(self, "path", "").split("?", 1)[0].rstrip("/")
            if path not in _HEC_PATHS:
                return super()._error(exc)
            status, answer = hec_answers.answer(exc)
            self.send_json(status, answer, exc.headers)

        def _answer(self, outcome: acked.AckResult, busy_status: int, ok: bytes) -> None:
            if outcome is acked.AckResult.STORED:
                self.send(200, ok, "application/json")
            elif outcome is acked.AckResult.FULL:
                raise HttpError(busy_status, "midwatch is busy (its store is behind); retry",
                                {"Retry-After": "5"})
            else:
                raise HttpError(503, "the store has not acknowledged in time; retry",
                                {"Retry-After": "5"})

    return ShipperHandler


# --- configuration and construction: the ``http`` entry of ``collector.inputs.INPUTS`` ---

# Config keys beyond the common ``type`` and ``name``.
KEYS = ("listen", "tokens", "tls", "max_body_bytes", "ack_timeout", "request_timeout",
        "multiline_timeout", "parse_worker")


@dataclass(frozen=True, slots=True)
class Config:
    """NDJSON, Elasticsearch _bulk and Splunk HEC from shippers (see the module docstring)."""

    name: str
    listen: tuple[str, int] = ("127.0.0.1", 9280)
    tokens: tuple[ApiToken, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    ack_timeout_ms: int = 10_000
    request_timeout_ms: int = 30_000
    # A source's record left open by a request is closed after the source was quiet this
    # long (the file input's setting of the same name).
    multiline_timeout_ms: int = int(IDLE_CLOSE_S * 1000)
    # Parse in a child process (collector.inputs.remote_delivery), off the writer's GIL.
    parse_worker: bool = True
    type: str = "http"


def parse(s: Section, name: str) -> Config:
    listen = s.listen("listen", "127.0.0.1:9280")
    tokens = api_tokens(s)
    check_exposure(s, listen, tokens)
    cert, key = tls_files(s)
    return Config(
        name=name, listen=listen, tokens=tokens, tls_cert=cert, tls_key=key,
        max_body_bytes=s.size_bytes("max_body_bytes", "16MiB", minimum=1024),
        ack_timeout_ms=s.duration_ms("ack_timeout", "10s", minimum_ms=100),
        request_timeout_ms=s.duration_ms("request_timeout", "30s", minimum_ms=100),
        multiline_timeout_ms=s.duration_ms("multiline_timeout", "2s", minimum_ms=10),
        parse_worker=s.flag("parse_worker", True),
    )


def build(cfg: Config, ctx: ParseContext, config: MidwatchConfig,
          metrics: Registry) -> HttpInput:
    """The running input; ``config`` supplies the sections it shares with others."""
    return HttpInput(cfg, ctx, metrics)
