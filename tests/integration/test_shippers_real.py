"""Real shippers in front of midwatch: rsyslog (imfile -> omfwd syslog, and -> omkafka),
syslog-ng (file source -> network destination) and the OpenTelemetry Collector (filelog ->
otlphttp, and -> kafka with otlp_proto / otlp_json) ship the Mule, NGINX and X12 sample files;
the collector (real Elasticsearch, real Kafka) must make the same events and traces of them
as its own file input makes of the files."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from service_runner import es_config
from shippers_support import (
    RSYSLOG_5424,
    RSYSLOG_JSON,
    Correlating,
    events_summary,
    otelcol,
    rsyslog,
    syslog_ng,
    traces,
)

DATA = Path(__file__).parents[1] / "data"
SAMPLES = {"mule": "mule/app-runtime.log", "nginx": "apigw/nginx-access.log",
           "x12": "x12/purchase-orders.edi"}


@pytest.fixture
def logs(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "logs"
    folder.mkdir()
    files = {}
    for tag, sample in SAMPLES.items():
        files[tag] = folder / Path(sample).name
        shutil.copy(DATA / sample, files[tag])
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp_path: Path, name: str, es_url: str, prefix: str, inputs: str, extra: str = ""):
    folder = tmp_path / name
    folder.mkdir()
    return es_config(folder, es_url, prefix, inputs, extra)


def events_of_files(files: dict[str, Path]) -> int:
    """How many events the file input makes of the files (parsed here, to know when the
    collector is done)."""
    import io

    from collector.event import Event
    from collector.parse import parse_stream
    from collector.parsers._base import ParseContext

    return sum(isinstance(item, Event) for path in files.values()
               for item in parse_stream(io.BytesIO(path.read_bytes()), str(path), "auto",
                                        ParseContext(now_ms=1)))


@pytest.fixture
def expected(tmp_path, es, es_url, es_index_prefix, logs):
    """The events and traces of midwatch's own file input reading the samples."""
    prefix = f"{es_index_prefix}file"
    inputs = "".join(f"  - type: file\n    name: {tag}\n    paths: ['{path}']\n"
                     for tag, path in logs.items())
    run = Correlating(config(tmp_path, "file-run", es_url, prefix, inputs))
    count = events_of_files(logs)
    run.wait_for(lambda: run.indexed() >= count, what=f"{count} events from the files")
    assert run.finish() == 0
    return count, events_summary(es, prefix), traces(es, prefix)


def ship(tmp_path: Path, es, es_url: str, prefix: str, inputs: str, expected: tuple, start,
         extra: str = "") -> None:
    """Run the collector with ``inputs`` and the shipper ``start()`` makes until the files'
    event count is stored, then compare events and traces with the file input's."""
    count, events, trace_list = expected
    run = Correlating(config(tmp_path, "shipped-run", es_url, prefix, inputs, extra))
    shipper = start()
    try:
        # Generous: the machine running the suite may be loaded; done as soon as stored.
        try:
            run.wait_for(lambda: run.indexed() >= count or not shipper.alive(), timeout_s=180,
                         what=f"{count} shipped events")
        except AssertionError as exc:
            raise AssertionError(f"{exc} ({run.indexed():.0f} stored); shipper log: "
                                 f"{shipper.log.read_text()[-1500:]}") from None
        assert shipper.alive(), shipper.log.read_text()[-2000:]
    finally:
        shipper.stop()
    assert run.finish() == 0
    assert events_summary(es, prefix) == events
    assert traces(es, prefix) == trace_list and len(trace_list) >= 3


def test_rsyslog_imfile_to_omfwd_syslog(tmp_path, es, es_url, es_index_prefix, logs, expected):
    port = free_port()
    action = (f'action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" '
              f'TCP_Framing="octet-counted" template="mw5424")')
    ship(tmp_path, es, es_url, f"{es_index_prefix}rsys",
         f"  - type: syslog\n    name: syslog\n    listen: 127.0.0.1:{port}\n", expected,
         lambda: rsyslog(tmp_path, logs, action, RSYSLOG_5424))


def test_syslog_ng_file_source_to_network(tmp_path, es, es_url, es_index_prefix, logs, expected):
    port = free_port()
    ship(tmp_path, es, es_url, f"{es_index_prefix}sng",
         f"  - type: syslog\n    name: syslog\n    listen: 127.0.0.1:{port}\n", expected,
         lambda: syslog_ng(tmp_path, logs, port))


def test_rsyslog_imfile_to_omkafka(tmp_path, es, es_url, es_index_prefix, logs, expected,
                                   kafka_bootstrap, kafka_topic):
    action = (f'action(type="omkafka" broker=["{kafka_bootstrap}"] topic="{kafka_topic}" '
              f'template="mwjson")')
    ship(tmp_path, es, es_url, f"{es_index_prefix}rkaf",
         f"  - type: kafka\n    name: shipped\n    topics: [{kafka_topic}]\n"
         f"    format: auto\n    group_id: {kafka_topic}\n", expected,
         lambda: rsyslog(tmp_path, logs, action, RSYSLOG_JSON),
         extra=f"kafka:\n  bootstrap: {kafka_bootstrap}\n")


def test_otel_collector_filelog_to_otlphttp(tmp_path, es, es_url, es_index_prefix, logs,
                                            expected):
    port = free_port()
    exporter = f"    endpoint: http://127.0.0.1:{port}\n"
    ship(tmp_path, es, es_url, f"{es_index_prefix}otlp",
         f"  - type: otlp\n    name: otlp\n    listen: 127.0.0.1:{port}\n", expected,
         lambda: otelcol(tmp_path, logs, "otlphttp", exporter))


@pytest.mark.parametrize("encoding", ["otlp_proto", "otlp_json"])
def test_otel_collector_filelog_to_kafka(tmp_path, es, es_url, es_index_prefix, logs, expected,
                                         kafka_bootstrap, kafka_topic, encoding):
    exporter = (f"    brokers: [{kafka_bootstrap}]\n"
                f"    logs: {{topic: {kafka_topic}, encoding: {encoding}}}\n")
    ship(tmp_path, es, es_url, f"{es_index_prefix}okaf",
         f"  - type: kafka\n    name: shipped\n    topics: [{kafka_topic}]\n"
         f"    format: auto\n    group_id: {kafka_topic}\n", expected,
         lambda: otelcol(tmp_path, logs, "kafka", exporter),
         extra=f"kafka:\n  bootstrap: {kafka_bootstrap}\n")
