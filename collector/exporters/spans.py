"""A midwatch trace as one OTel trace: a root span for the message, a child span per hop.

IDs are derived from the trace key and the hop's event ID (BLAKE2b), so exporting the same
journey again yields the same trace and span IDs: the tracing backend files it under the same
trace instead of a new one, and later hops join it as more spans of that trace. Each hop's span
covers the wait since the previous hop, so the backend's timeline reads like the explorer's
waterfall. Resource ``service.name`` is the hop's service (else its platform), and the root's is
the flow, so a backend's service list shows the systems a message passed through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

from collector.trace import Hop, Trace

FINAL_STATUSES = frozenset({"completed", "failed", "stuck", "acknowledged", "rejected"})
_ERROR_STATUSES = frozenset({"failed", "stuck", "rejected"})
_MS = 1_000_000  # nanoseconds


def _digest(text: str, size: int) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).digest()


def trace_id(trace_key: str) -> bytes:
    """16 bytes from the trace key: the same journey always gets the same OTel trace ID."""
    return _digest("midwatch.trace\x1f" + trace_key, 16)


def root_span_id(trace_key: str) -> bytes:
    return _digest("midwatch.root\x1f" + trace_key, 8)


def hop_span_id(trace_key: str, hop: Hop) -> bytes:
    return _digest(f"midwatch.hop\x1f{trace_key}\x1f{hop.event_id}\x1f{hop.timestamp_ms}", 8)


def _set(target: AnyValue, value: object) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, list | tuple):
        for item in value:
            _set(target.array_value.values.add(), item)
    else:
        target.string_value = str(value)


def _attrs(span: Span, pairs: Iterable[tuple[str, object]]) -> None:
    attributes = span.attributes
    for key, value in pairs:
        if value is not None and value != "":
            kv = attributes.add()
            kv.key = key
            _set(kv.value, value)


def _fill(span: Span, t: Trace, span_id: bytes, name: str, start_ms: int, end_ms: int) -> None:
    span.trace_id = trace_id(t.trace_key)
    span.span_id = span_id
    span.name = name
    span.kind = Span.SPAN_KIND_INTERNAL
    span.start_time_unix_nano = start_ms * _MS
    span.end_time_unix_nano = end_ms * _MS


def _root(span: Span, t: Trace) -> None:
    end = t.ended_ms if t.ended_ms is not None else t.last_seen_ms
    _fill(span, t, root_span_id(t.trace_key), f"{t.flow} message", t.started_ms,
          max(end, t.started_ms))
    _attrs(span, [
        ("midwatch.trace_key", t.trace_key), ("midwatch.flow", t.flow),
        ("midwatch.status", t.status), ("midwatch.partner", t.partner),
        ("midwatch.ids", list(t.ids)), ("midwatch.hop_count", t.hop_count),
        ("midwatch.error_count", t.error_count), ("midwatch.retry_count", t.retry_count),
        ("midwatch.sla_ms", t.sla_ms), ("midwatch.sla_breached", t.sla_breached),
        ("midwatch.dead_lettered", t.dead_lettered)])
    if t.status in _ERROR_STATUSES:
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = t.status
    else:
        span.status.code = Status.STATUS_CODE_OK


def _hop(span: Span, t: Trace, hop: Hop, span_id: bytes, previous_ms: int) -> None:
    _fill(span, t, span_id, hop.stage or hop.action or hop.platform,
          min(previous_ms, hop.timestamp_ms), hop.timestamp_ms)
    span.parent_span_id = root_span_id(t.trace_key)
    _attrs(span, [
        ("midwatch.platform", hop.platform), ("midwatch.stage", hop.stage),
        ("midwatch.service", hop.service), ("midwatch.outcome", hop.outcome),
        ("midwatch.action", hop.action), ("midwatch.event_id", hop.event_id),
        ("error.type", hop.error_class), ("midwatch.error_message", hop.error_message)])
    if hop.outcome == "failure":
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = hop.error_message or ""


class Batch:
    """One export request being built: spans are added in place, grouped by the resource
    of their service (building nested messages in place costs half of building and copying
    them, and this runs for every span exported)."""

    def __init__(self) -> None:
        self.request = ExportTraceServiceRequest()
        self._scopes: dict[str, ScopeSpans] = {}

    def _spans(self, service: str):
        scope = self._scopes.get(service)
        if scope is None:
            resource = self.request.resource_spans.add()
            kv = resource.resource.attributes.add()
            kv.key = "service.name"
            kv.value.string_value = service
            scope = self._scopes[service] = resource.scope_spans.add()
            scope.scope.name = "midwatch"
        return scope.spans

    def add(self, t: Trace, skip: frozenset[bytes] = frozenset()) -> list[bytes]:
        """Add the root and every hop of ``t`` whose span ID is not in ``skip``; the IDs
        added."""
        added = []
        root = root_span_id(t.trace_key)
        if root not in skip:
            _root(self._spans(t.flow).add(), t)
            added.append(root)
        previous = t.started_ms
        for hop in t.hops:
            span_id = hop_span_id(t.trace_key, hop)
            if span_id not in skip:
                _hop(self._spans(hop.service or hop.platform).add(), t, hop, span_id, previous)
                added.append(span_id)
            previous = hop.timestamp_ms
        return added
