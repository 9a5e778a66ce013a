"""The exporter writes OTLP protobuf by hand (collector.exporters.spans): decoded with the
generated OpenTelemetry classes, every field must be what the journey says, and the bytes must
be canonical (what the generated classes themselves would serialize)."""

import dataclasses

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.exporters import spans
from collector.trace import Hop, Trace

LONG = "Ä" * 150  # two bytes a character: lengths past one varint byte


def _journey() -> Trace:
    hops = [
        Hop("received", "orders-api", "mule", 1_000, "success", "e1", action="receive"),
        Hop(None, None, "kafka", 1_500, "success", "e2", action="publish"),
        Hop("posted", "sap", "boomi", 4_000, "failure", "e3", error_class="Timeout",
            error_message=LONG),
    ]
    return Trace(trace_key="order:4711", ids=["order:4711", "x" * 200, "kafka:7"],
                 started_ms=900, last_seen_ms=4_000, flow="orders", partner=None,
                 status="failed", ended_ms=4_000, hop_count=3, error_count=1, retry_count=300,
                 hops=hops, sla_ms=-5, sla_breached=True, dead_lettered=False)


def _decode(batch: spans.Batch) -> tuple[bytes, ExportTraceServiceRequest]:
    body = batch.serialize()
    return body, ExportTraceServiceRequest.FromString(body)


def _attrs(span: Span) -> dict:
    return {kv.key: MessageToDict(kv.value) for kv in span.attributes}


def test_every_field_decodes_to_the_journey_and_the_bytes_are_canonical():
    t = _journey()
    batch = spans.Batch()
    added = batch.add(t)
    body, request = _decode(batch)
    assert request.SerializeToString() == body
    assert len(added) == 4
    by_service = {rs.resource.attributes[0].value.string_value: rs for rs in request.resource_spans}
    assert list(by_service) == ["orders", "orders-api", "kafka", "sap"]
    assert {rs.scope_spans[0].scope.name for rs in request.resource_spans} == {"midwatch"}

    [root] = by_service["orders"].scope_spans[0].spans
    assert root.trace_id == spans.trace_id(t.trace_key)
    assert root.span_id == spans.root_span_id(t.trace_key) and not root.parent_span_id
    assert root.name == "orders message" and root.kind == Span.SPAN_KIND_INTERNAL
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (900_000_000, 4_000_000_000)
    assert _attrs(root) == {
        "midwatch.trace_key": {"stringValue": "order:4711"},
        "midwatch.flow": {"stringValue": "orders"},
        "midwatch.status": {"stringValue": "failed"},
        "midwatch.ids": {"arrayValue": {"values": [{"stringValue": i} for i in t.ids]}},
        "midwatch.hop_count": {"intValue": "3"}, "midwatch.error_count": {"intValue": "1"},
        "midwatch.retry_count": {"intValue": "300"}, "midwatch.sla_ms": {"intValue": "-5"},
        "midwatch.sla_breached": {"boolValue": True},
        "midwatch.dead_lettered": {"boolValue": False}}
    assert (root.status.code, root.status.message) == (Status.STATUS_CODE_ERROR, "failed")

    hops = [by_service[s].scope_spans[0].spans[0] for s in ("orders-api", "kafka", "sap")]
    assert [h.name for h in hops] == ["received", "publish", "posted"]
    assert all(h.parent_span_id == root.span_id and h.trace_id == root.trace_id for h in hops)
    assert [h.span_id for h in hops] == [spans.hop_span_id(t.trace_key, h) for h in t.hops]
    # each hop spans the wait since the previous one
    assert [(h.start_time_unix_nano // 10**6, h.end_time_unix_nano // 10**6) for h in hops] == \
        [(900, 1_000), (1_000, 1_500), (1_500, 4_000)]
    assert _attrs(hops[1]) == {"midwatch.platform": {"stringValue": "kafka"},
                               "midwatch.outcome": {"stringValue": "success"},
                               "midwatch.action": {"stringValue": "publish"},
                               "midwatch.event_id": {"stringValue": "e2"}}
    assert not hops[1].HasField("status")
    assert _attrs(hops[2])["midwatch.error_message"] == {"stringValue": LONG}
    assert _attrs(hops[2])["error.type"] == {"stringValue": "Timeout"}
    assert (hops[2].status.code, hops[2].status.message) == (Status.STATUS_CODE_ERROR, LONG)


def test_skipped_spans_are_left_out_and_an_ok_journey_has_an_ok_root():
    t = _journey()
    ok = dataclasses.replace(t, status="completed", ids=[], trace_key="k2")
    batch = spans.Batch()
    first = spans.hop_span_id(ok.trace_key, ok.hops[0])
    added = batch.add(ok, frozenset({first}))
    assert first not in added and len(added) == 3
    body, request = _decode(batch)
    assert request.SerializeToString() == body
    all_spans = [s for rs in request.resource_spans for s in rs.scope_spans[0].spans]
    root = next(s for s in all_spans if not s.parent_span_id)
    assert root.status.code == Status.STATUS_CODE_OK and not root.status.message
    ids = next(kv for kv in root.attributes if kv.key == "midwatch.ids")
    assert not ids.HasField("value")  # an empty list: the key alone, as the SDK writes it
    assert first not in {s.span_id for s in all_spans}


def test_the_root_is_sent_again_only_when_its_status_or_ids_change():
    """Review G item 8: the root's state held its end and counts, so every exported batch of
    a growing journey sent another copy of the root (one span ID, N copies in the backend)."""
    t = _journey()
    grown = dataclasses.replace(t, hops=t.hops[:1], hop_count=1, last_seen_ms=t.last_seen_ms
                                - 1000, ended_ms=None, error_count=0, retry_count=0)
    assert spans.root_state(grown) == spans.root_state(t)
    assert spans.root_state(dataclasses.replace(t, status="completed")) != spans.root_state(t)
    assert spans.root_state(dataclasses.replace(t, ids=[*t.ids, "message:m-2"])) \
        != spans.root_state(t)
