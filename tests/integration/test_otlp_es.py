"""Real OpenTelemetry SDK exporters -> the OTLP/HTTP receiver -> the real Elasticsearch."""

from __future__ import annotations

import urllib.request

import es_support
import orjson
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from service_runner import Running, es_config


def spans_via_sdk(endpoint: str, service: str, n: int) -> list[str]:
    """Record ``n`` spans with the SDK, send them with its protobuf exporter (gzip)."""
    recorded = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    tracer = provider.get_tracer("midwatch-tests")
    for i in range(n):
        with tracer.start_as_current_span("POST /orders", attributes={"order.id": f"o-{i}"}):
            pass
    spans = recorded.get_finished_spans()
    exporter = OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip, timeout=10)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    return [format(s.context.span_id, "016x") for s in spans]


def post_json(endpoint: str, body: dict) -> int:
    req = urllib.request.Request(endpoint, data=orjson.dumps(body), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert orjson.loads(resp.read()) == {}
        return resp.status


def test_protobuf_and_json_exports_reach_es(tmp_path, es, es_url, es_index_prefix):
    prefix = f"{es_index_prefix}mw"
    config = es_config(tmp_path, es_url, prefix,
                       "  - {type: otlp, name: otel, listen: '127.0.0.1:0'}")
    run = Running(config)
    try:
        (receiver,) = run.service.inputs
        base = f"http://127.0.0.1:{receiver.port}"
        span_ids = spans_via_sdk(f"{base}/v1/traces", "order-api", 3)
        status = post_json(f"{base}/v1/logs", {"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name",
                                         "value": {"stringValue": "sap-bridge"}}]},
            "scopeLogs": [{"logRecords": [{
                "timeUnixNano": "1714557600000000000", "severityNumber": 17,
                "body": {"stringValue": "IDoc posting failed: connection refused"},
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "attributes": [{"key": "order.id", "value": {"stringValue": "o-1"}}]}]}]}]})
        assert status == 200
    finally:
        assert run.finish() == 0

    docs = [h["_source"] for h in
            es_support.search(es, index=f"{prefix}-events-*", size=20)["hits"]["hits"]]
    spans = [d for d in docs if d["event"]["dataset"] == "otel.span"]
    logs = [d for d in docs if d["event"]["dataset"] == "otel.log"]
    assert sorted(d["span"]["id"] for d in spans) == sorted(span_ids)
    assert {d["service"]["name"] for d in spans} == {"order-api"}
    assert all(len(d["trace"]["id"]) == 32 for d in spans)
    (log,) = logs
    assert log["log"]["level"] == "error" and log["service"]["name"] == "sap-bridge"
    assert log["midwatch"]["error_class"] == "connectivity"
    assert "order:o-1" in log["midwatch"]["ids"]
