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
from collections.abc import Iterable, Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from collector.trace import Hop, Trace

FINAL_STATUSES = frozenset({"completed", "failed", "stuck", "acknowledged", "rejected"})
_ERROR_STATUSES = frozenset({"failed", "stuck", "rejected"})
SCOPE = InstrumentationScope(name="midwatch")
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


def _value(value: object) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def _attrs(pairs: Iterable[tuple[str, object]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in pairs if v is not None and v != ""]


def root_span(t: Trace) -> Span:
    end = t.ended_ms if t.ended_ms is not None else t.last_seen_ms
    error = t.status in _ERROR_STATUSES
    return Span(
        trace_id=trace_id(t.trace_key), span_id=root_span_id(t.trace_key),
        name=f"{t.flow} message", kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=t.started_ms * _MS, end_time_unix_nano=max(end, t.started_ms) * _MS,
        attributes=_attrs([
            ("midwatch.trace_key", t.trace_key), ("midwatch.flow", t.flow),
            ("midwatch.status", t.status), ("midwatch.partner", t.partner),
            ("midwatch.ids", list(t.ids)), ("midwatch.hop_count", t.hop_count),
            ("midwatch.error_count", t.error_count), ("midwatch.retry_count", t.retry_count),
            ("midwatch.sla_ms", t.sla_ms), ("midwatch.sla_breached", t.sla_breached),
            ("midwatch.dead_lettered", t.dead_lettered)]),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK,
                      message=t.status if error else ""))


def hop_span(t: Trace, hop: Hop, previous_ms: int) -> Span:
    failed = hop.outcome == "failure"
    return Span(
        trace_id=trace_id(t.trace_key), span_id=hop_span_id(t.trace_key, hop),
        parent_span_id=root_span_id(t.trace_key),
        name=hop.stage or hop.action or hop.platform, kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=min(previous_ms, hop.timestamp_ms) * _MS,
        end_time_unix_nano=hop.timestamp_ms * _MS,
        attributes=_attrs([
            ("midwatch.platform", hop.platform), ("midwatch.stage", hop.stage),
            ("midwatch.service", hop.service), ("midwatch.outcome", hop.outcome),
            ("midwatch.action", hop.action), ("midwatch.event_id", hop.event_id),
            ("error.type", hop.error_class), ("midwatch.error_message", hop.error_message)]),
        status=Status(code=Status.STATUS_CODE_ERROR if failed else Status.STATUS_CODE_UNSET,
                      message=hop.error_message or "" if failed else ""))


def spans(t: Trace, skip: frozenset[bytes] = frozenset()) -> list[tuple[str, Span]]:
    """(service name, span) for the root and every hop, leaving out span IDs in ``skip``."""
    out = []
    if root_span_id(t.trace_key) not in skip:
        out.append((t.flow, root_span(t)))
    previous = t.started_ms
    for hop in t.hops:
        if hop_span_id(t.trace_key, hop) not in skip:
            out.append((hop.service or hop.platform, hop_span(t, hop, previous)))
        previous = hop.timestamp_ms
    return out


def request(items: Sequence[tuple[str, Span]]) -> ExportTraceServiceRequest:
    """One export request, spans grouped by their service's resource."""
    by_service: dict[str, list[Span]] = {}
    for service, span in items:
        by_service.setdefault(service, []).append(span)
    return ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=Resource(attributes=_attrs([("service.name", service)])),
                      scope_spans=[ScopeSpans(scope=SCOPE, spans=group)])
        for service, group in by_service.items()])
