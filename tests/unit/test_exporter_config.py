"""The ``exporters:`` section and the OTLP spans a journey becomes (pure parts; the round trip
through a real Jaeger is tests/integration/test_export_jaeger.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.config import config_from_doc, load_config
from collector.exporters import spans
from collector.exporters.config import load_exporters, with_exporters
from collector.exporters.store import ExportingStore
from collector.store.sqlite import SQLiteStore
from collector.trace import Hop, Trace
from collector.yamlconf import ConfigError, loads

EXAMPLE = Path(__file__).parents[2] / "deploy" / "midwatch.example.yaml"


def _load(text: str):
    return load_exporters(config_from_doc(loads(text, "mw.yaml")))


def test_example_documents_the_otlp_exporter(monkeypatch):
    monkeypatch.setenv("MIDWATCH_API_TOKEN", "api-secret-1")
    monkeypatch.setenv("MIDWATCH_OTLP_TOKEN", "otlp-secret-1")
    (otlp,) = load_exporters(load_config(EXAMPLE))
    assert otlp.endpoint == "http://127.0.0.1:14318/v1/traces"
    assert (otlp.queue_traces, otlp.batch_traces, otlp.timeout_ms) == (10_000, 200, 5000)


def test_endpoint_gets_the_traces_path_and_headers_are_secrets(monkeypatch):
    monkeypatch.setenv("MW_TRACING_AUTH", "Bearer xyz")
    (otlp,) = _load("exporters:\n  otlp:\n    endpoint: http://tempo:4318\n"
                    "    headers: {Authorization: '${MW_TRACING_AUTH}'}\n")
    assert otlp.endpoint == "http://tempo:4318/v1/traces"
    assert [(k, v.reveal()) for k, v in otlp.headers] == [("Authorization", "Bearer xyz")]
    assert "xyz" not in repr(otlp)
    assert _load("store: {kind: sqlite}\n") == []


@pytest.mark.parametrize("text, where, what", [
    ("exporters:\n  otlp: {endpoint: tempo:4318}\n", "exporters.otlp.endpoint", "http(s) URL"),
    ("exporters:\n  otlp: {}\n", "exporters.otlp.endpoint", "required"),
    ("exporters:\n  otlp: {endpoint: 'http://t', queue: 5}\n", "exporters.otlp.queue",
     "unknown key"),
    ("exporters:\n  jaeger: {}\n", "exporters.jaeger", "unknown key"),
    ("exporters:\n  otlp: {endpoint: 'http://t', headers: {X-Key: plain}}\n",
     "exporters.otlp.headers.X-Key", "secrets must not be written in YAML"),
])
def test_mistakes_name_file_line_and_key(text, where, what):
    with pytest.raises(ConfigError) as info:
        _load(text)
    message = str(info.value)
    assert "mw.yaml:" in message and where in message and what in message, message


def _trace(status: str) -> Trace:
    return Trace(trace_key="order:1", ids=["order:1", "x:2"], started_ms=1000, last_seen_ms=3000,
                 ended_ms=3000, status=status, flow="f", hops=[
                     Hop("a", "svc-a", "mulesoft", 1000, "success", "e1"),
                     Hop("b", None, "kafka", 3000, "failure", "e2", error_class="timeout")])


def _built(t: Trace, skip: frozenset[bytes] = frozenset()) -> list[tuple[str, object]]:
    batch = spans.Batch()
    batch.add(t, skip)
    return [(rs.resource.attributes[0].value.string_value, span)
            for rs in ExportTraceServiceRequest.FromString(batch.serialize()).resource_spans
            for span in rs.scope_spans[0].spans]


def test_spans_of_a_journey_have_stable_ids_and_cover_the_waits():
    out = _built(_trace("failed"))
    assert [(svc, s.name) for svc, s in out] == [("f", "f message"), ("svc-a", "a"),
                                                 ("kafka", "b")]
    root, first, second = (s for _, s in out)
    assert root.trace_id == first.trace_id == spans.trace_id("order:1")
    assert first.parent_span_id == second.parent_span_id == root.span_id
    assert (second.start_time_unix_nano, second.end_time_unix_nano) == (1000 * 10**6,
                                                                        3000 * 10**6)
    assert root.status.code == root.status.STATUS_CODE_ERROR
    assert second.status.code == second.status.STATUS_CODE_ERROR
    assert first.status.code == first.status.STATUS_CODE_UNSET
    ids = {a.key: a.value for a in root.attributes}["midwatch.ids"]
    assert [v.string_value for v in ids.array_value.values] == ["order:1", "x:2"]
    assert _built(_trace("failed")) == out  # the same journey, the same IDs
    assert _built(_trace("failed"), frozenset({root.span_id, first.span_id})) == [out[2]]


def test_only_written_traces_in_a_final_state_are_offered(tmp_path):
    class Recorder:  # stands where the exporter's offer() is; the store is the real one
        def __init__(self):
            self.offered: list[str] = []

        def offer(self, traces):
            self.offered += [t.trace_key for t in traces if t.status in spans.FINAL_STATUSES]

    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    recorder = Recorder()
    wrapped = ExportingStore(store, [recorder])
    wrapped.upsert_traces([_trace("failed"), Trace("k2", ["k2"], 1, 2)])
    assert recorder.offered == ["order:1"]
    assert wrapped.get_trace("order:1").status == "failed"  # reads go to the store
    store.close()


def test_without_the_section_the_store_is_used_as_is(tmp_path):
    config = config_from_doc(loads("store: {kind: sqlite}\n", "mw.yaml"))
    marker = object()
    assert with_exporters(config, marker) == (marker, [])
