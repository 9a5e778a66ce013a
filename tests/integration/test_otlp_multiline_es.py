"""A Java stack trace the OpenTelemetry Collector's ``filelog`` receiver sent one log record
per line, over several OTLP/HTTP requests, into the real service and the real Elasticsearch:
framed into one event across the requests, as midwatch's own file input frames the file.

The requests are built here in the receiver's documented shape (a string body, the
``log.file.path`` attribute, ``host.name`` on the resource); the real Collector's own run
is in ``test_shippers_real.py``, where it sends each file in one request."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import es_support
import orjson
from service_runner import Running, es_config

SAMPLE = Path(__file__).parents[1] / "data" / "text" / "spring-boot.log"
PATH = "/opt/app/logs/spring.log"


def export(line: str, observed_ns: int) -> bytes:
    """One filelog record, as the Collector's otlphttp exporter sends it (OTLP/JSON)."""
    return orjson.dumps({"resourceLogs": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "app-01"}}]},
        "scopeLogs": [{"logRecords": [{
            "observedTimeUnixNano": str(observed_ns), "body": {"stringValue": line},
            "attributes": [{"key": "log.file.path", "value": {"stringValue": PATH}},
                           {"key": "log.file.name", "value": {"stringValue": "spring.log"}}],
        }]}]}]})


def post(port: int, body: bytes) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/logs", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status


def stored(es, prefix: str) -> list[tuple]:
    hits = es_support.search(es, index=f"{prefix}-events-*", size=1000)["hits"]["hits"]
    return sorted((h["_source"]["@timestamp"], h["_source"]["log"]["level"],
                   h["_source"]["event"].get("original")) for h in hits)


def test_a_stack_trace_sent_one_record_per_request_is_one_event(tmp_path, es, es_url,
                                                               es_index_prefix):
    file_prefix, otlp_prefix = f"{es_index_prefix}file", f"{es_index_prefix}otlp"
    (tmp_path / "file").mkdir()
    (tmp_path / "otlp").mkdir()
    run = Running(es_config(tmp_path / "file", es_url, file_prefix,
                            f"  - type: file\n    name: app\n    paths: ['{SAMPLE}']\n"))
    run.wait_for(lambda: run.indexed() >= 3, what="the file's events")
    assert run.finish() == 0
    reference = stored(es, file_prefix)
    errors = [r for r in reference if r[1] == "error"]
    assert len(errors) == 1 and errors[0][2].count("\n") == 3, "the file: one error, 4 lines"

    run = Running(es_config(tmp_path / "otlp", es_url, otlp_prefix,
                            "  - type: otlp\n    name: otel\n    listen: 127.0.0.1:0\n"
                            "    multiline_timeout: 30s\n    ack_timeout: 60s\n"))
    try:
        (receiver,) = run.service.inputs
        run.wait_for(lambda: receiver.out is not None, what="the otlp input listening")
        observed = 1_746_840_876_000_000_000
        for n, line in enumerate(SAMPLE.read_text().splitlines()):
            assert post(receiver.port, export(line, observed + n)) == 200
            if n == 2:  # the stack trace's first line: its record is open, stored as it stands
                assert [r[2].count("\n") for r in stored(es, otlp_prefix) if r[1] == "error"
                        ] == [1]
    finally:
        assert run.finish() == 0
    assert stored(es, otlp_prefix) == reference
