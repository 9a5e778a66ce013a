import io
import json
import re
from pathlib import Path

import pytest

from collector.event import DeadLetter, Record, iso_to_ms
from collector.parse import ParseStats, parse_stream, run_parser
from collector.parsers import mule_json
from collector.parsers._base import ParseContext

CTX = ParseContext(now_ms=1_709_900_000_000)
DATA = Path(__file__).resolve().parents[2] / "data"


def test_trace_points_map_to_actions_and_outcomes(parse_data):
    events, dead = parse_data("mule-json", "mule-json/cloudhub-export.jsonl")
    assert dead == []
    assert [(e.labels["trace_point"], e.action, e.outcome) for e in events] == [
        ("START", "received", "unknown"),
        ("BEFORE_REQUEST", "sent", "unknown"),
        ("EXCEPTION", "failed", "failure"),
        ("END", "completed", "success"),
    ]
    assert {e.message_id for e in events} == {"correlation:6f1c2e40-d7a1-11ee-9a3c-0242ac120002"}


def test_fields_content_ids_and_offsets(parse_data):
    events, _ = parse_data("mule-json", "mule-json/cloudhub-export.jsonl")
    start, before, exc, end = events
    assert start.service == "order-api" and start.labels["environment"] == "prod"
    assert start.labels["mule_flow"] == "order-main"
    assert "order:4711" in start.ids
    assert re.fullmatch(r"\[email:[0-9a-f]{24}\]", start.labels["customeremail"])
    assert before.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.138Z")  # +01:00 offset
    assert before.duration_ns == 15_000_000
    assert exc.error_type == "HTTP:TIMEOUT" and exc.error_class == "timeout"
    assert exc.level == "error"
    assert end.duration_ns == 30_100_000_000


@pytest.mark.parametrize("fmt", ["mule-json", "auto"])
def test_pretty_printed_objects_are_framed_per_object(parse_data, fmt):
    """Jackson's pretty printer, as the JSON Logger's prettyPrint writes to the console: "{"
    alone on the first line matched no parser in auto mode, and each line was dead-lettered."""
    events, dead = parse_data(fmt, "mule-json/pretty-console.log")
    assert dead == []
    assert [e.action for e in events] == ["transformed", "completed"]
    assert events[0].level == "debug"
    assert "invoice:INV-2024-0042" in events[0].ids  # from a JSON string in content
    assert events[0].payload_bytes == len('{"invoiceNumber":"INV-2024-0042"}')


def test_malformed(parse_data):
    events, dead = parse_data("mule-json", "mule-json/malformed.jsonl")
    assert [e.message for e in events] == ["no timestamp here", "bad time"]
    assert all(e.timestamp_estimated for e in events)
    assert events[0].level == "warn"
    assert events[1].duration_ns is None  # "abc" elapsed ignored
    # Each line is a record of its own: the array on line 3 is no longer hidden in the
    # dead letter of the cut-off object before it.
    assert [d.line for d in dead] == [2, 3, 4]
    assert "array element [0] of 3: expected a JSON object, got str" in dead[1].reason
    assert "not JSON Logger output" in dead[2].reason


def test_detect():
    assert mule_json.detect('{"correlationId":"x","tracePoint":"START"}')
    assert not mule_json.detect('{"level":"INFO"}')


@pytest.mark.parametrize("content, outcome", [
    # A Salesforce connector result as a real sfdc system API logged it (abridged).
    ({"sfPatchResponse": {"id": None, "items": [
        {"exception": {"message": "id value of incorrect type: MALFORMED_ID"},
         "successful": False, "statusCode": "MALFORMED_ID"}], "successful": False}}, "failure"),
    ({"result": {"items": [{"successful": True}, {"successful": False}]}}, "failure"),
    ({"result": {"successful": True, "id": "a3V000"}}, "success"),
    ({"orderId": "4711"}, "unknown"),
])
def test_after_request_outcome_is_what_the_response_says(content, outcome):
    doc = {"correlationId": "c-1", "tracePoint": "AFTER_REQUEST", "priority": "INFO",
           "message": "response", "content": content}
    (ev,) = mule_json.parse(Record(text=json.dumps(doc), source="app.log"), ParseContext())
    assert (ev.action, ev.outcome) == ("delivered", outcome)


def test_cloudhub_logs_api_records(parse_data):
    """Records of the CloudHub logs API as johnmathew234/logs-app publishes them
    (src/test/resources/sample/get-logs.dwl), one per line as exporters write them: they went
    to the generic JSON parser, the log line nested and its time the ingest time."""
    events, dead = parse_data("auto", "mule-json/cloudhub-logs-api.jsonl")
    assert dead == [] and len(events) == 5
    assert {e.dataset for e in events} == {"mulesoft.cloudhub"}
    first = events[0]
    assert first.timestamp_ms == 1608179676981 and not first.timestamp_estimated
    assert first.message.startswith("The PersistentQueueManager is NOT configured.")
    assert first.labels["logger"] == "com.mulesoft.ch.queue.boot.PersistentQueueCoreExtension"
    assert first.labels["cloudhub_instance"] == "5fdadf9f08ba6303f5243e57-0"
    assert events[2].message == "Initialising flow: demo-elkFlow"


def test_a_cloudhub_record_holding_json_logger_output_is_read_as_such():
    inner = json.dumps({"correlationId": "c-77", "tracePoint": "EXCEPTION", "priority": "ERROR",
                        "message": "SAP call failed", "timestamp": "2024-03-01T10:15:32.123Z"})
    record = json.dumps({"recordId": "r1", "deploymentId": "d1", "instanceId": "d1-0",
                         "event": {"loggerName": "org.mule.extension.jsonlogger.JsonLogger",
                                   "threadName": "t", "timestamp": 1709288132123,
                                   "message": inner, "priority": "ERROR"}})
    assert mule_json.detect(record)
    (ev,) = mule_json.parse(Record(text=record), ParseContext(now_ms=0))
    assert ev.dataset == "mulesoft.jsonlogger" and "correlation:c-77" in ev.ids
    assert (ev.outcome, ev.level) == ("failure", "error")
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.123Z")
    assert ev.labels["cloudhub_deployment"] == "d1"


ARRAY = DATA / "mule-json" / "cloudhub-logs-api-array.json"


@pytest.mark.parametrize("fmt", ["mule-json", "auto"])
def test_a_cloudhub_logs_api_array_saved_as_is(parse_data, fmt):
    """The logs API returns a JSON array; a script saving the response (here the published
    sample of johnmathew234/logs-app, see SOURCES.md) gives an array file, pretty-printed or
    on one line. Every element is an event; before, the array was no record at all."""
    events, dead = parse_data(fmt, "mule-json/cloudhub-logs-api-array.json")
    assert dead == []
    assert [e.labels["cloudhub_instance"] for e in events] == ["5fdadf9f08ba6303f5243e57-0"] * 5
    assert [e.timestamp_ms for e in events] == [1608179676981, 1608179680879, 1608179680907,
                                                1608179686203, 1608179687407]
    assert events[3].message == "Initialising flow: demo-elkFlow"
    assert len({e.id for e in events}) == 5


def test_a_one_line_array_with_an_unreadable_element_keeps_the_others():
    records = json.loads(ARRAY.read_text())
    records[1:1] = ["not a record", {"recordId": "x", "event": None}]
    text = json.dumps(records, separators=(",", ":"))  # the API's own compact response
    stats = ParseStats()
    out = run_parser(Record(text=text, source="logs.json", line=1), mule_json, CTX, stats)
    dead = [o for o in out if isinstance(o, DeadLetter)]
    events = [o for o in out if not isinstance(o, DeadLetter)]
    assert len(events) == 5 and events[1].timestamp_ms == 1608179680879
    (bad,) = dead
    assert bad.reason == ("parse_error: mule-json: array element [1] of 7: expected a JSON "
                          "object, got str; also unreadable: [2]")
    assert (bad.field, bad.line) == ("[1]", 1)
    assert (stats.events, stats.deadletters["parse_error"]) == (5, 1)


def test_a_jackson_pretty_printed_array_is_one_record():
    """Jackson's default pretty printer opens an array of objects with "[ {" and starts each
    further element with "}, {" at the margin."""
    text = """[ {
  "recordId" : "r1",
  "deploymentId" : "d1",
  "instanceId" : "d1-0",
  "event" : {
    "timestamp" : 1608179676981,
    "message" : "first",
    "priority" : "INFO"
  }
}, {
  "recordId" : "r2",
  "deploymentId" : "d1",
  "instanceId" : "d1-0",
  "event" : {
    "timestamp" : 1608179680879,
    "message" : "second",
    "priority" : "WARN"
  }
} ]
"""
    events = [o for o in parse_stream(io.BytesIO(text.encode()), "a.json", "auto", CTX)]
    assert [(e.message, e.level) for e in events] == [("first", "info"), ("second", "warn")]


@pytest.mark.parametrize("fmt", ["auto", "mule-json"])
def test_mule_runtime_lines_in_log4j2_json_layouts(parse_data, fmt):
    """Mule 4 apps logging through Log4j 2's JsonLayout or the ECS JsonTemplateLayout: the
    runtime log itself, read as Mule's (app and flow from the thread, the correlation ID and
    processor path from the MDC, the error block in the message); before they were
    ``generic.json`` events without app or flow."""
    events, dead = parse_data(fmt, "mule-json/log4j2-jsonlayout.jsonl")
    assert dead == []
    assert {(e.dataset, e.platform) for e in events} == {("mulesoft.runtime", "mulesoft")}
    received, retry, failed, started, sent, status = events
    assert received.service == "order-api"
    assert received.labels["mule_flow"] == "order-main"
    assert received.labels["processor"] == "order-main/processors/0"
    assert received.ids == ["correlation:6f1c2e40-d7a1-11ee-9a3c-0242ac120002"]
    assert received.timestamp_ms == iso_to_ms("2024-05-02T10:11:12.345Z")
    assert retry.labels["logger"] == "com.acme.orders.sap" and retry.level == "warn"
    assert (retry.service, retry.labels["mule_flow"]) == ("order-api", "order-main")
    assert failed.timestamp_ms == iso_to_ms("2024-05-02T10:11:15.789Z")
    assert (failed.level, failed.outcome) == ("error", "failure")
    assert (failed.error_type, failed.error_code) == ("HTTP:CONNECTIVITY", "CONNECTIVITY")
    assert failed.message.startswith("HTTP POST on resource 'http://sap-gw.internal:8080/orders'")
    assert failed.labels["mule_element"].startswith("order-main/processors/2 @ order-api:")
    assert (started.service, started.labels["mule_lifecycle"]) == ("order-api", "started")
    assert sent.labels["processor"] == "order-main/processors/4"
    assert sent.ids == received.ids
    assert status.timestamp_ms == iso_to_ms("2024-05-02T08:11:15.002Z")
    assert status.labels["route"] == "/orders/{orderId}"


def test_log4j2_json_of_other_apps_stays_generic(parse_data):
    events, _ = parse_data("auto", "json/log4j2-jsonlayout.jsonl")
    assert {e.dataset for e in events} == {"generic.json"}
