"""Shipper envelopes come off before parsing: the platform's line inside a Filebeat, Elastic
Agent, Logstash, Vector, Fluent Bit, Splunk HEC, rsyslog, syslog-ng or OTel Collector message
is parsed as the file it came from, keyed by its host and path.

Contract tests: Filebeat, Elastic Agent, Logstash, Vector, Fluent Bit and Splunk cannot run
here; their envelopes are replayed as their documentation shows them (tests/data/shippers/
SOURCES.md). rsyslog and syslog-ng frames are the templates docs/shipping.md configures.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector.config import CollectorSettings
from collector.envelopes import otel, shippers
from collector.event import DeadLetter, Event, Record
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.otlp import Config as OtlpConfig
from collector.inputs.otlp import OtlpInput as Receiver
from collector.parse import ParseStats, parse_stream
from collector.parsers._base import ParseContext
from collector.shipping import Delivery, parse_delivery

DATA = Path(__file__).resolve().parents[1] / "data"
SHIPPED = DATA / "shippers"
CTX = ParseContext(now_ms=1_709_900_000_000)
CREATED = 1_709_288_133_004  # 2024-03-01T10:15:33.004Z, the shippers' time in the samples
LINE_TIME = 1_709_288_132_123  # the Mule line's own time


def deliver(texts: list[str], replayable: bool = True) -> list[Event | DeadLetter]:
    records = [Record(text=t, source="shipped-topic", position=f"0:{i}")
               for i, t in enumerate(texts)]
    return parse_delivery(records, CTX, ParseStats(), replayable=replayable)


def events(items) -> list[Event]:
    return [i for i in items if isinstance(i, Event)]


@pytest.mark.parametrize("sample", sorted(p.name for p in SHIPPED.glob("*.json*")
                                          if not p.name.startswith("otlp"))
                         + ["syslog-5424.txt", "syslog-3164.txt"])
def test_each_envelope_gives_the_mule_event_with_its_correlation_id(sample):
    """Before, a Filebeat document (and every other JSON envelope) was one generic.json event
    whose message was the whole Mule line; the correlation ID was lost."""
    (ev,) = deliver([(SHIPPED / sample).read_text().rstrip("\n")])
    assert (ev.dataset, ev.platform) == ("mulesoft.runtime", "mulesoft")
    assert ev.ids == ["correlation:1-abc"] and ev.message_id == "correlation:1-abc"
    assert ev.timestamp_ms == LINE_TIME, "the line's own time stays @timestamp"
    assert ev.created_ms and abs(ev.created_ms - CREATED) < 1000 or sample == "syslog-3164.txt"
    assert ev.labels["shipper"]
    if sample not in ("fluent-bit.json",):
        assert ev.host == "mule-01"
    if sample != "syslog-3164.txt":
        assert ev.labels["log_file_path"] == "/opt/mule/logs/order-api.log"


def test_event_created_is_stored_beside_the_source_time():
    (ev,) = deliver([(SHIPPED / "filebeat.json").read_text()])
    doc = __import__("collector.event", fromlist=["to_doc"]).to_doc(ev)
    assert doc["@timestamp"] == "2024-03-01T10:15:32.123Z"
    assert doc["event"]["created"] == "2024-03-01T10:15:33.004Z"


def test_otlp_log_whose_body_is_a_mule_line_becomes_the_mule_event_over_http():
    """The OTel Collector's filelog receiver to midwatch's OTLP receiver: the record (body =
    the line, attribute log.file.path) was an otel.log event with no IDs."""
    queue = ChunkQueue(4)
    got: list[Event] = []
    receiver = Receiver(OtlpConfig(name="otlp", listen=("127.0.0.1", 0)),
                        parse_context(CollectorSettings(), frozenset(), None))
    threading.Thread(target=receiver.run, args=(queue,), daemon=True).start()

    def ack_one() -> None:
        chunk = queue.get(10)
        assert chunk is not None
        got.extend(events(chunk.items))
        chunk.ack()

    writer = threading.Thread(target=ack_one)
    writer.start()
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    conn.request("POST", "/v1/logs", body=(SHIPPED / "otlp-logs.json").read_bytes(),
                 headers={"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    writer.join()
    receiver.stop()
    receiver.close()
    assert status == 200
    (ev,) = got
    assert (ev.dataset, ev.ids, ev.host) == ("mulesoft.runtime", ["correlation:1-abc"], "mule-01")
    assert ev.labels["log_file_path"] == "/opt/mule/logs/order-api.log"
    assert ev.timestamp_ms == LINE_TIME and ev.created_ms == CREATED


def test_sdk_log_records_beside_file_lines_stay_otel_logs():
    export = json.loads((SHIPPED / "otlp-logs.json").read_text())
    records = export["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records.append({"timeUnixNano": "1709288133000000000", "severityNumber": 9,
                    "body": {"stringValue": "order accepted"},
                    "attributes": [{"key": "order.id", "value": {"stringValue": "4711"}}]})
    (ev_line, ev_sdk) = sorted(events(deliver([json.dumps(export)])), key=lambda e: e.dataset)
    assert ev_line.dataset == "mulesoft.runtime" and ev_sdk.dataset == "otel.log"
    assert "order:4711" in ev_sdk.ids


def test_kafka_exporter_otlp_proto_value_is_read_like_otlp_json():
    """The OTel Collector's Kafka exporter with encoding otlp_proto: a protobuf value."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.add(key="host.name").value.string_value = "mule-01"
    rec = rl.scope_logs.add().log_records.add()
    rec.observed_time_unix_nano = CREATED * 1_000_000
    rec.body.string_value = json.loads((SHIPPED / "vector.json").read_text())["message"]
    rec.attributes.add(key="log.file.path").value.string_value = "/opt/mule/logs/order-api.log"
    text = otel.proto_as_json(request.SerializeToString())
    assert text is not None
    (ev,) = events(deliver([text]))
    assert (ev.dataset, ev.ids, ev.created_ms) == ("mulesoft.runtime", ["correlation:1-abc"],
                                                   CREATED)
    assert otel.proto_as_json(b"\nnot a protobuf export") is None
    assert otel.proto_as_json(b"INFO plain line") is None


def test_documents_of_no_shipper_stay_as_they_are():
    assert shippers.unwrap('{"level":"info","message":"order 4711 accepted"}') is None
    assert shippers.unwrap('{"log":"INFO started\\n","stream":"stdout","time":"2024-03-01T10:00:00Z"}') is None
    assert shippers.unwrap("<not syslog") is None
    (ev,) = events(deliver(['{"level":"info","message":"order 4711 accepted"}']))
    assert ev.dataset == "generic.json"


# --- whole files through shippers, one line a message, against the file input ---------------

def filebeat(path: str, host: str):
    def wrap(line: str, offset: int) -> str:
        return json.dumps({"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
                           "host": {"name": host}, "input": {"type": "filestream"},
                           "log": {"offset": offset, "file": {"path": path}}, "message": line})
    return wrap


def fluent_bit(path: str, host: str):
    def wrap(line: str, offset: int) -> str:
        return json.dumps({"date": 1709288133.004, "log": line, "file": path, "hostname": host})
    return wrap


def vector(path: str, host: str):
    def wrap(line: str, offset: int) -> str:
        return json.dumps({"file": path, "host": host, "message": line, "source_type": "file",
                           "timestamp": "2024-03-01T10:15:33.004Z"})
    return wrap


def messages(sample: Path, wrap) -> list[str]:
    out, offset = [], 0
    for raw in sample.read_bytes().splitlines(keepends=True):
        line = raw.decode().rstrip("\r\n")
        out.append(wrap(line, offset))
        offset += len(raw)
    return out


def key(e: Event):
    return (e.timestamp_ms, e.dataset, e.level, e.message, e.error_type, e.error_message,
            e.error_stack_trace, sorted(e.ids))


def from_file(sample: Path) -> list[Event]:
    return events(parse_stream(io.BytesIO(sample.read_bytes()), str(sample), "auto", CTX))


@pytest.mark.parametrize(("sample", "shipper"), [
    ("mule/app-runtime.log", filebeat), ("nginx-error/error.log", fluent_bit),
    ("x12/purchase-orders.edi", vector), ("mule/app-runtime.log", vector)])
def test_lines_sent_one_a_message_frame_as_the_file_does(sample, shipper):
    """Stack traces, XML bodies and EDI segments spread over consecutive messages are one
    record again; two hosts' messages interleaved do not mix."""
    bare = from_file(DATA / sample)
    one = messages(DATA / sample, shipper(f"/logs/{sample}", "host-a"))
    two = messages(DATA / sample, shipper(f"/logs/{sample}", "host-b"))
    interleaved = [m for pair in zip(one, two, strict=True) for m in pair]
    items = deliver(interleaved)
    assert [i for i in items if isinstance(i, DeadLetter)] == []
    shipped = events(items)
    for host in ("host-a", "host-b"):
        mine = [e for e in shipped if e.host == host]
        assert sorted(map(key, mine)) == sorted(map(key, bare))
    assert len(shipped) == 2 * len(bare) and len(bare) > 1


# --- replay-safe IDs ------------------------------------------------------------------------

def test_filebeat_ids_come_from_path_and_offset_whatever_the_delivery():
    doc = (SHIPPED / "filebeat.json").read_text()
    (first,) = events(deliver([doc]))
    (replayed,) = events(parse_delivery([Record(text=doc, source="other-topic", position="3:9")],
                                        CTX, ParseStats(), replayable=True))
    assert first.id == replayed.id
    moved = json.loads(doc)
    moved["log"]["offset"] = 2048
    (other,) = events(deliver([json.dumps(moved)]))
    assert other.id != first.id


def test_kafka_position_names_lines_without_an_offset():
    doc = (SHIPPED / "vector.json").read_text()
    a = events(parse_delivery([Record(text=doc, source="t", position="0:5")], CTX, ParseStats(),
                              replayable=True))
    b = events(parse_delivery([Record(text=doc, source="t", position="0:5")], CTX, ParseStats(),
                              replayable=True))
    c = events(parse_delivery([Record(text=doc, source="t", position="0:6")], CTX, ParseStats(),
                              replayable=True))
    assert a[0].id == b[0].id != c[0].id


def test_otel_ids_come_from_path_and_record_hash():
    export = orjson.loads((SHIPPED / "otlp-logs.json").read_bytes())
    (a,) = events(deliver([orjson.dumps(export).decode()], replayable=False))
    (b,) = events(deliver([orjson.dumps(export).decode()], replayable=False))
    export["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["observedTimeUnixNano"] = "1"
    (c,) = events(deliver([orjson.dumps(export).decode()], replayable=False))
    assert a.id == b.id != c.id


def test_kafka_exporter_raw_encoding_is_the_bare_line():
    """encoding: raw writes the log body alone: the line is parsed as it is, keyed by topic."""
    line = json.loads((SHIPPED / "vector.json").read_text())["message"]
    (ev,) = events(deliver([line]))
    assert (ev.dataset, ev.ids) == ("mulesoft.runtime", ["correlation:1-abc"])


def test_a_file_of_shipper_documents_is_parsed_as_the_files_inside():
    """A Filebeat file output (or a dump of its Kafka topic) read by the file input or
    ``midwatch parse``: the lines inside are framed per original file, with the same IDs as
    when they arrive over Kafka (Filebeat's path + offset)."""
    sample = DATA / "mule/app-runtime.log"
    docs = messages(sample, filebeat("/logs/app.log", "host-a"))
    from_dump = events(parse_stream(io.BytesIO(("\n".join(docs) + "\n").encode()), "dump.ndjson",
                                    "auto", CTX))
    assert sorted(map(key, from_dump)) == sorted(map(key, from_file(sample)))
    assert [e.id for e in from_dump] == [e.id for e in events(deliver(docs))]
    assert {e.host for e in from_dump} == {"host-a"}


def test_lines_without_identity_are_named_by_content_and_repeat_count():
    """Bare lines over HTTP or syslog: the same line twice is two events, and a retry of the
    delivery gives the same two IDs (it overwrites)."""
    line = json.loads((SHIPPED / "vector.json").read_text())["message"]
    first = [e.id for e in events(deliver([line, line, line + " again"], replayable=False))]
    retry = [e.id for e in events(deliver([line, line, line + " again"], replayable=False))]
    assert len(set(first)) == 3 and first == retry


@pytest.mark.parametrize("doc", [
    # logstash-logback-encoder: the application's own event, not an envelope
    {"@timestamp": "2024-05-02T09:00:00.101Z", "@version": "1", "message": "payment received",
     "logger_name": "com.acme.Pay", "level": "INFO"},
    # structlog: "event" is its message
    {"event": "order created", "time": "2024-05-02T09:00:00Z", "order_id": 4711},
    {"event": "order created", "timestamp": "2024-05-02T09:00:00Z", "source": "api"},
    # a "log" string and @timestamp, nothing of Fluent Bit's
    {"@timestamp": "2024-05-02T09:00:00Z", "log": "order created", "level": "info"},
    # pino
    {"level": 30, "time": 1531171074631, "pid": 657, "hostname": "x", "msg": "hello"},
])
def test_applications_own_json_logs_are_no_envelopes(doc):
    assert shippers.unwrap(json.dumps(doc)) is None


def test_an_event_carries_the_facts_of_the_message_that_opened_its_record():
    """The record held open until the next line of its source arrives keeps its own
    shipper and time, not those of the message that closed it."""
    later = json.loads((SHIPPED / "vector.json").read_text())
    later["timestamp"] = "2024-03-01T10:15:40Z"
    first, second = events(deliver([(SHIPPED / "filebeat.json").read_text(), json.dumps(later)]))
    assert (first.labels["shipper"], first.created_ms) == ("filebeat", CREATED)
    assert (second.labels["shipper"], second.created_ms) == ("vector", 1_709_288_140_000)


def test_a_kept_delivery_makes_what_fresh_ones_make_and_holds_nothing_across_polls():
    """The Kafka input keeps one ``Delivery`` across polls so each source's format is learnt
    once: every poll still ends with its records closed, the events and IDs are those of a
    fresh delivery per poll, and a retried poll of bare lines numbers its repeats alike."""
    sample = DATA / "mule/app-runtime.log"
    docs = messages(sample, filebeat("/logs/app.log", "host-a"))
    polls = [docs[i:i + 7] for i in range(0, len(docs), 7)]
    records = [[Record(text=t, source="t", position=f"0:{n * 7 + i}") for i, t in enumerate(p)]
               for n, p in enumerate(polls)]
    stats = ParseStats()
    kept = Delivery(CTX, stats)
    got = []
    for poll in records:
        got.append([(e.id, key(e)) for e in events(
            parse_delivery(poll, CTX, stats, replayable=True, delivery=kept))])
        assert not kept.holding()
    fresh = [[(e.id, key(e)) for e in events(parse_delivery(poll, CTX, ParseStats(),
                                                             replayable=True))]
             for poll in records]
    assert got == fresh and sum(map(len, got)) > len(polls)
    line = json.loads((SHIPPED / "vector.json").read_text())["message"]
    bare = [Record(text=line, source="http:ingest")] * 2
    first = [e.id for e in events(parse_delivery(bare, CTX, stats, delivery=kept))]
    retry = [e.id for e in events(parse_delivery(bare, CTX, stats, delivery=kept))]
    assert first == retry and len(set(first)) == 2


@pytest.mark.parametrize(("sd", "path", "msg"), [
    ('[file@32473 path="/opt/mule/logs/app.log"]', "/opt/mule/logs/app.log", "INFO started"),
    ('[file@32473 path="/opt/a\\"b.log"]', '/opt/a"b.log', "INFO started"),
    ('[file@32473 path="/opt/a.log"][origin@1 ip="10.0.0.1"]', "/opt/a.log", "INFO started"),
    ('[origin@1 ip="10.0.0.1"][meta@2 filename="/opt/b.log"]', "/opt/b.log", "INFO started"),
    ("-", None, "INFO started")])
def test_rfc5424_frames_with_and_without_the_documented_path_element(sd, path, msg):
    """The template's one path element is read by a shortcut; escapes, several elements or
    none are read in full: both give the same line and path."""
    found = shippers.unwrap(f"<134>1 2024-03-01T10:15:33.004Z mule-01 mule - - {sd} {msg}")
    assert (found.line, found.path, found.host, found.app, found.created_ms) == (
        msg, path, "mule-01", "mule", 1709288133004)


def test_fluent_bits_es_output_document_is_its_envelope():
    """Fluent Bit's `es` output (to `/_bulk`, as docs/shipping.md offers beside `http`) sends
    the tail record with its time under `Time_Key` (default @timestamp) instead of `date`."""
    line = (SHIPPED / "fluent-bit.json").read_text()
    doc = {**json.loads(line), "@timestamp": "2024-03-01T10:15:33.004Z"}
    del doc["date"]
    found = shippers.unwrap(json.dumps(doc))
    assert found is not None
    assert (found.shipper, found.path, found.created_ms) == (
        "fluent-bit", "/opt/mule/logs/order-api.log", CREATED)
    assert found.line == json.loads(line)["log"]
