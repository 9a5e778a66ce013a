"""OTLP/HTTP receiver: ``POST /v1/traces`` and ``/v1/logs``, protobuf or JSON, gzip or not.

Runs its own listener (default 127.0.0.1:4318, the OTLP/HTTP port) rather than sharing the
trace API's: exporters are configured with a bare endpoint, the two take different loads,
and either can be firewalled alone. Answers follow the OTLP/HTTP specification:

- 200 with an empty ``Export*ServiceResponse`` in the request's encoding, only after the
  store acknowledged the request's events (so a 200 means stored; on timeout 503 with
  Retry-After, and the exporter's retry overwrites, because span and log event IDs are
  derived from trace and span IDs, not arrival);
- 400 with a ``google.rpc.Status`` for a body that does not decode;
- 413 for a body (or its gzip expansion) over the limits, and for a request whose shape is
  over the per-request limits (records, attributes, depth, strings, values: see
  ``collector.otlp_limits``), checked before it is decoded into objects, with the limit
  named; 415 for other content types or encodings; 404 for other paths (``/v1/metrics`` is
  not taken).

Log records the OTel Collector's ``filelog`` receiver made of a file's lines are parsed as
that file (``collector.shipping``), framed across requests as the ``http`` input frames its
messages (``framed``): a stack trace sent one record per line over several requests is one
event; a source's open record is stored as it stands before the answer and overwritten once
closed (``multiline_timeout`` after its source's last line, or when its next record begins).

Protobuf is turned into the OTLP/JSON dict shape with ``MessageToDict`` (IDs come out base64,
which the ``otlp-json`` parser's shared ``events_from_export`` accepts beside hex).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from google.protobuf.json_format import MessageToDict, MessageToJson
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from collector.config import DEFAULT_OTLP_LISTEN, ApiToken, api_tokens, check_exposure, tls_files
from collector.config import Config as MidwatchConfig
from collector.config_values import Section
from collector.event import DeadLetter
from collector.httpserver import Handler, HttpError, Server, authorize
from collector.inputs import acked
from collector.inputs.base import Chunk, ChunkQueue, now_ms
from collector.inputs.parse_worker import ParseWorker
from collector.inputs.remote_delivery import RemoteDelivery
from collector.inputs.request_guard import RequestGuard, crashed_request, digest
from collector.metrics import Registry
from collector.normalize import normalize
from collector.otlp_limits import (
    DEFAULT,
    JsonValues,
    LimitExceeded,
    Limits,
    NotOtlp,
    check_json,
    check_json_bytes,
    check_protobuf,
)
from collector.parse import Output, ParseStats, dead_letter_raw
from collector.parsers._base import ParseContext, ParseError
from collector.parsers.otlp_json import events_from_export
from collector.shipping import IDLE_CLOSE_S, Delivery

log = logging.getLogger("midwatch.inputs.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_SIGNALS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest,
                   trace_service_pb2.ExportTraceServiceResponse),
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest,
                 logs_service_pb2.ExportLogsServiceResponse),
}
_INVALID_ARGUMENT = 3  # google.rpc.Code


GUNZIP_PIECE = 1024 * 1024


def gunzip(body: bytes, limit: int, inspect: Callable[[bytes], None] | None = None,
           key: str = "max_decompressed_bytes") -> bytes:
    """Decompress at most ``limit`` bytes; a larger expansion is refused, never held, naming
    ``key``, the caller's setting that raises the limit.

    Every member of a multi-member gzip body is read (RFC 1952 allows them, and dropping
    all but the first while answering 200 lost data silently); bytes after the last member
    that are not gzip are a 400. The expansion comes out 1 MiB at a time and ``inspect``
    sees each piece, so a limit on what the pieces hold stops a bomb before all of it is
    inflated."""
    parts: list[bytes] = []
    size = 0
    rest = body
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while not inflater.eof:
            try:
                part = inflater.decompress(rest, min(GUNZIP_PIECE, limit + 1 - size))
            except zlib.error as exc:
                raise HttpError(400, f"body is not valid gzip: {exc}") from None
            size += len(part)
            if size > limit:
                raise HttpError(413, f"body expands beyond the limit of {limit} bytes "
                                     f"({key})")
            if inspect is not None:
                inspect(part)
            parts.append(part)
            rest = inflater.unconsumed_tail
            if not part and not rest:
                raise HttpError(400, "body is not valid gzip: it ends inside a member")
        rest = inflater.unused_data
    return parts[0] if len(parts) == 1 else b"".join(parts)


def decode(path: str, content_type: str, body: bytes, limits: Limits = DEFAULT) -> dict:
    """The request as the OTLP/JSON dict shape; HttpError 400 when it does not decode, and
    ``LimitExceeded`` when its shape is over ``limits`` (checked before it is built)."""
    request_type, _ = _SIGNALS[path]
    if content_type == PROTOBUF:
        try:
            check_protobuf(path, body, limits)
            return MessageToDict(request_type.FromString(body))
        except (DecodeError, NotOtlp) as exc:
            raise HttpError(400, f"not a valid {request_type.__name__}: {exc}") from None
    check_json_bytes(body, limits)
    try:
        obj = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise HttpError(400, f"expected a JSON object ({request_type.__name__})")
    check_json(obj, limits)
    return obj


def map_events(obj: dict, ctx: ParseContext, source: str) -> Output:
    """Spans and log records as normalized events. A record that cannot be mapped or
    normalized is dead-lettered and the others are kept."""
    dead: Output = []
    try:
        events = events_from_export(obj, ctx)
    except ParseError as exc:
        events = exc.events
        dead.append(DeadLetter(reason=f"parser_crash: otlp: {exc.reason}"[:500], source=source,
                               line=0, raw=dead_letter_raw(obj, ctx), ingested_ms=ctx.now_ms))
    except Exception as exc:  # noqa: BLE001 - one bad request must not stop the receiver
        return [DeadLetter(reason=f"parser_crash: otlp: {type(exc).__name__}: {exc}"[:500],
                           source=source, line=0, raw=dead_letter_raw(obj, ctx), ingested_ms=ctx.now_ms)]
    out: Output = []
    for ev in events:
        try:
            out.append(normalize(ev, ctx))
        except Exception as exc:  # noqa: BLE001 - as above, for one event
            out.append(DeadLetter(reason=f"parser_crash: normalize: {type(exc).__name__}: "
                                         f"{exc}"[:500], source=source, line=0,
                                  raw=dead_letter_raw(ev.message, ctx), ingested_ms=ctx.now_ms))
    return out + dead


def encode(message: Message, content_type: str) -> bytes:
    if content_type == PROTOBUF:
        return message.SerializeToString()
    return MessageToJson(message, indent=None).encode()


class OtlpInput:
    def __init__(self, cfg: Config, ctx: ParseContext,
                 api_tokens: tuple[ApiToken, ...] = (), state_dir: str | None = None):
        self.name = cfg.name
        # Requests in flight, noted beside the checkpoints: no crash loop on a retried
        # request that kills the process (collector.inputs.request_guard).
        self.guard = RequestGuard(state_dir, cfg.name) if state_dir is not None else None
        self.cfg = cfg
        self.ctx = ctx
        self.limits = Limits(max_records=cfg.max_records, max_attributes=cfg.max_attributes,
                             max_depth=cfg.max_depth, max_string_bytes=cfg.max_string_bytes,
                             max_values=cfg.max_values)
        # Where the listener asks for tokens, the API's ``ingest`` tokens are good here too:
        # one token per exporter, whichever endpoint it is pointed at.
        self.tokens = cfg.tokens + tuple(t for t in api_tokens if "ingest" in t.scopes
                                         ) if cfg.tokens else ()
        self.out: ChunkQueue | None = None
        self._stopped = threading.Event()
        self.frame_across_requests(ctx, ParseStats())
        tls = (cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None
        self.server = Server(cfg.listen, _handler(self),
                             request_timeout_s=cfg.request_timeout_ms / 1000, tls=tls)

    def frame_across_requests(self, ctx: ParseContext, stats: ParseStats,
                              worker: ParseWorker | None = None) -> None:
        """One ``Delivery`` for all requests: a record a request leaves open (a stack trace
        the shipper's batch cut, one log record per line) stays open for the next request of
        its source. Requests are parsed one at a time (``framed``); in ``worker`` when given
        (``collector.inputs.remote_delivery``)."""
        self._ctx = dataclasses.replace(ctx)
        self.delivery: Delivery | RemoteDelivery = (
            Delivery(self._ctx, stats, keep_lines=True) if worker is None
            else RemoteDelivery(worker, self._ctx, keep_lines=True))
        self._parsing = threading.Lock()

    def framed(self, read: Callable[[Delivery | RemoteDelivery, float],
                                    tuple[Output, set[str], int]],
               nbytes: int, offer_timeout_s: float) -> acked.AckResult:
        """Parse one request's shipped lines with ``read`` (``Delivery.request``: given the
        delivery and ``multiline_timeout``; the items, the sources fed and the messages
        read) and wait until the store has their events, and the records they leave open
        as they stand (``Delivery.provisional``): the record once closed overwrites them
        (same event ID). Sources quiet for ``multiline_timeout`` have their records closed
        first. A request the store does not take drops what its sources hold: its retry
        starts them afresh."""
        delivery = self.delivery
        with self._parsing:
            self._ctx.now_ms = now_ms()
            items, touched, records = read(delivery, self.cfg.multiline_timeout_ms / 1000)
            if not items:
                return acked.AckResult.STORED
            # Handed over in the order parsed, still under the lock: a record one request
            # closes must reach the store after its provisional event from the one before.
            stored = None if self._stopped.is_set() else acked.hand_over(
                self.out, self.name, items, records, nbytes, offer_timeout_s)
            if stored is None:
                delivery.forget(touched)
                return acked.AckResult.FULL
        if stored.wait(self.cfg.ack_timeout_ms / 1000):
            return acked.AckResult.STORED
        with self._parsing:
            delivery.forget(touched)
        return acked.AckResult.TIMEOUT

    @property
    def port(self) -> int:
        return self.server.port

    def run(self, out: ChunkQueue) -> None:
        self.out = out
        host, port = self.server.server_address[:2]  # the port bound, where 0 was asked
        log.info(f"{self.cfg.type} input listening", extra={
            "input": self.name, "protocol": "https" if self.cfg.tls_cert else "http",
            "listen": f"[{host}]:{port}" if ":" in host else f"{host}:{port}"})
        self.server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting; requests in progress still get their answer."""
        if not self._stopped.is_set():
            self._stopped.set()
            threading.Thread(target=self.server.shutdown, daemon=True).start()

    def commit(self) -> None:
        """Acknowledgement is the HTTP response itself; nothing to persist."""

    def close(self) -> None:
        self.server.server_close()

    def accept(self, path: str, obj: dict, nbytes: int) -> bool:
        """Queue the request's events and wait for the store; False on timeout."""
        ctx = dataclasses.replace(self.ctx, now_ms=now_ms())
        if path != "/v1/logs":
            return self.store(map_events(obj, ctx, f"otlp:{path}"), nbytes)

        # The OTel Collector's filelog records are a platform's lines: parsed as the file
        # they came from (collector.shipping), not mapped as OTel logs, and framed across
        # requests (a stack trace sent one record per line over several exports).
        def parse(delivery: Delivery) -> Output:
            rest, lines = delivery.export(obj, f"otlp:{path}")
            return map_events(rest, ctx, f"otlp:{path}") + lines

        def read(delivery: Delivery | RemoteDelivery, idle_s: float
                 ) -> tuple[Output, set[str], int]:
            assert isinstance(delivery, Delivery), "OTLP parses in the collector's process"
            return (*delivery.request(idle_s, parse), 1)

        outcome = self.framed(read, nbytes, self.cfg.ack_timeout_ms / 1000)
        return outcome is acked.AckResult.STORED

    def store(self, items: Output, nbytes: int) -> bool:
        """Queue events or dead letters and wait for the store; False on timeout."""
        if not items:
            return True
        stored = threading.Event()
        timeout_s = self.cfg.ack_timeout_ms / 1000
        chunk = Chunk(self.name, items, len(items), nbytes, ack=stored.set)
        if self.out is None or self._stopped.is_set() or not self.out.offer(chunk, timeout_s):
            return False
        return stored.wait(timeout_s)


def _handler(receiver: OtlpInput) -> type[Handler]:
    cfg = receiver.cfg

    class OtlpHandler(Handler):
        def route(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            if path not in _SIGNALS:
                raise HttpError(404, f"no such endpoint {path}; OTLP/HTTP takes /v1/traces "
                                     f"and /v1/logs")
            if method != "POST":
                raise HttpError(405, "use POST", {"Allow": "POST"})
            if receiver.tokens:
                authorize(self.headers.get("Authorization"), receiver.tokens, "ingest")
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type not in (PROTOBUF, JSON):
                raise HttpError(415, f"unsupported content type {content_type or '(none)'}; "
                                     f"send {PROTOBUF} or {JSON}")
            encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("identity", "gzip"):
                raise HttpError(415, f"unsupported content encoding {encoding}; send gzip or "
                                     f"none")
            body = self.read_body(cfg.max_body_bytes)
            guard = receiver.guard
            if guard is None:
                self._take(path, content_type, encoding, body)
                return
            key = digest(body)
            if not guard.begin(key):
                dead = crashed_request(body, content_type, f"otlp:{path}", receiver.ctx)
                self._stored(path, content_type, receiver.store([dead], len(body)))
                return
            try:
                self._take(path, content_type, encoding, body)
            finally:
                guard.end(key)

        def _take(self, path: str, content_type: str, encoding: str, body: bytes) -> None:
            try:
                if encoding == "gzip":
                    counter = JsonValues(receiver.limits) if content_type == JSON else None
                    body = gunzip(body, cfg.max_decompressed_bytes, counter)
                obj = decode(path, content_type, body, receiver.limits)
            except HttpError as exc:
                if exc.status != 400:
                    raise
                self._status(400, exc.message, content_type)
                return
            except LimitExceeded as exc:
                raise HttpError(413, str(exc)) from None
            self._stored(path, content_type, receiver.accept(path, obj, len(body)))

        def _stored(self, path: str, content_type: str, stored: bool) -> None:
            if not stored:
                raise HttpError(503, "the store has not acknowledged in time; retry",
                                {"Retry-After": "5"})
            _, response_type = _SIGNALS[path]
            self.send(200, encode(response_type(), content_type), content_type)

        def _status(self, code: int, message: str, content_type: str) -> None:
            status = Status(code=_INVALID_ARGUMENT, message=message)
            self.send(code, encode(status, content_type), content_type)

    return OtlpHandler


# --- configuration and construction: the ``otlp`` entry of ``collector.inputs.INPUTS`` ---

# Config keys beyond the common ``type`` and ``name``.
KEYS = ("listen", "tokens", "tls", "max_body_bytes", "max_decompressed_bytes", "ack_timeout",
        "request_timeout", "max_records", "max_attributes", "max_depth", "max_string_bytes",
        "max_values", "multiline_timeout")


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    listen: tuple[str, int] = ("127.0.0.1", 4318)
    tokens: tuple[ApiToken, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    max_decompressed_bytes: int = 32 * 1024 * 1024
    # How long a request waits for the store to acknowledge its events before 503.
    ack_timeout_ms: int = 10_000
    request_timeout_ms: int = 10_000
    # Work per request (collector.otlp_limits): over one, 413 naming it, nothing stored.
    max_records: int = 10_000
    max_attributes: int = 256
    max_depth: int = 64
    max_string_bytes: int = 1024 * 1024
    max_values: int = 1_000_000
    # A file's record left open by a request (the OTel Collector's filelog lines) is closed
    # after its source was quiet this long (the file input's setting of the same name).
    multiline_timeout_ms: int = int(IDLE_CLOSE_S * 1000)
    type: str = "otlp"


def parse(s: Section, name: str) -> Config:
    listen = s.listen("listen", DEFAULT_OTLP_LISTEN)
    tokens = api_tokens(s)
    check_exposure(s, listen, tokens)
    cert, key = tls_files(s)
    return Config(
        name=name, listen=listen, tokens=tokens, tls_cert=cert, tls_key=key,
        max_body_bytes=s.size_bytes("max_body_bytes", "4MiB"),
        max_decompressed_bytes=s.size_bytes("max_decompressed_bytes", "32MiB"),
        ack_timeout_ms=s.duration_ms("ack_timeout", "10s", minimum_ms=100),
        request_timeout_ms=s.duration_ms("request_timeout", "10s", minimum_ms=100),
        max_records=s.number("max_records", 10_000, minimum=1),
        max_attributes=s.number("max_attributes", 256, minimum=1),
        max_depth=min(s.number("max_depth", 64, minimum=8), 200),
        max_string_bytes=s.size_bytes("max_string_bytes", "1MiB", minimum=1024),
        max_values=s.number("max_values", 1_000_000, minimum=100),
        multiline_timeout_ms=s.duration_ms("multiline_timeout", "2s", minimum_ms=10),
    )


def build(cfg: Config, ctx: ParseContext, config: MidwatchConfig,
          metrics: Registry) -> OtlpInput:
    """The running input; ``config`` supplies the sections it shares with others."""
    return OtlpInput(cfg, ctx, config.api.tokens, config.collector.checkpoint_dir)
