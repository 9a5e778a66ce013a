from pathlib import Path

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import boomi
from collector.parsers._base import ParseContext

DATA = Path(__file__).resolve().parents[2] / "data"

EXEC = "boomi.exec:execution-3456789a-bcde-f012-3456-789abcdef012-2024.03.01"
PROCESS_LOG = "boomi/execution-3456789a-bcde-f012-3456-789abcdef012-2024.03.01/process_log.xml"


def test_process_log_xml_one_event_per_log_event(parse_data):
    events, dead = parse_data("boomi", PROCESS_LOG)
    assert dead == []
    assert [e.labels["shape_type"] for e in events] == ["Start", "Map", "Connector", "Connector"]
    assert all(e.ids == [EXEC] for e in events)  # execution ID from the runtime's path
    assert events[1].duration_ns == 128_000_000
    assert events[2].level == "warn"
    severe = events[3]
    assert severe.level == "error" and severe.outcome == "failure"
    assert severe.error_class == "connectivity"
    assert severe.timestamp_ms == iso_to_ms("2024-03-01T10:15:34.789Z")


def test_whole_document_as_one_record_keeps_root_attributes():
    """Kafka values and API downloads hand over the whole file as one record."""
    text = (DATA / PROCESS_LOG).read_text()
    events = boomi.parse(Record(text=text, source="kafka:boomi-logs"), ParseContext(now_ms=1))
    assert len(events) == 4
    assert {e.service for e in events} == {"Orders to SAP"}
    assert {e.host for e in events} == {"atom-prod-01"}


def test_tab_separated_download(parse_data):
    events, dead = parse_data("boomi", "boomi/process_log_download.log")
    assert dead == []
    assert [e.level for e in events] == ["info", "info", "error", "info"]
    assert events[0].labels == {"shape": "Start", "shape_info": "Get Orders"}
    failed = events[2]
    assert failed.error_message == "Unable to send document: HTTP 401 Unauthorized"
    assert failed.error_stack_trace.startswith("com.boomi.connector.api.ConnectorException")
    assert failed.error_class == "auth"
    assert events[3].labels["shape"] == "Stop"  # LEVEL<TAB>TIME column order


def test_execution_records(parse_data):
    events, dead = parse_data("boomi", "boomi/execution_records.json")
    assert dead == []
    err, retry, inprocess, warn, doc = events
    assert (err.action, err.outcome, err.level) == ("failed", "failure", "error")
    assert err.duration_ns == 2666 * 1_000_000 and err.payload_bytes == 5120
    assert err.service == "Orders to SAP" and err.host == "atom-prod-01"
    assert err.ids == [EXEC, "order:4711"]
    assert err.labels["region"] == "EMEA" and err.labels["inbounddocumentcount"] == "1"
    assert err.error_class == "connectivity"
    assert retry.action == "retried" and retry.outcome == "success"
    assert EXEC in retry.ids and retry.message_id.startswith("boomi.exec:execution-9999")
    assert (inprocess.action, inprocess.outcome) == ("started", "unknown")
    assert (warn.action, warn.level) == ("completed", "warn")
    assert doc.dataset == "boomi.document" and doc.error_class == "throttling"
    assert "order:PO-88231" in doc.ids


def test_malformed(parse_data):
    events, dead = parse_data("boomi", "boomi/malformed.log")
    assert events == []
    assert [d.line for d in dead] == [1, 2, 3, 5]
    assert "without executionId" in dead[1].reason and dead[1].field == "executionId"


def test_detect():
    assert boomi.detect("2024-03-01T10:15:32Z\tINFO\tStart\tx\tmsg")
    assert boomi.detect('  <LogEvent level="INFO" time="x">')
    assert boomi.detect('{"@type":"ExecutionRecord","executionId":"e","processName":"p"}')
    assert not boomi.detect('{"executionId":"e"}')


@pytest.mark.parametrize("fmt", ["boomi", "auto"])
def test_a_process_log_with_a_bare_root_element(parse_data, fmt):
    """A runtime's file as the Boomi community's Fluentd article shows it: ``<ExecutionLogModel>``
    without attributes, alone on its line, must not become a dead letter."""
    exec_dir = "execution-68523591-b704-4e4c-abf3-ad659798a7b6-2024.06.04"
    events, dead = parse_data(fmt, f"boomi/{exec_dir}/process_log.xml")
    assert dead == [] and len(events) == 4
    assert all(e.ids == [f"boomi.exec:{exec_dir}"] for e in events)


def test_a_step_is_labelled_alike_in_the_xml_and_the_downloaded_text(parse_data):
    """The Boomi community's Fluentd article shows one execution both ways."""
    exec_dir = "execution-68523591-b704-4e4c-abf3-ad659798a7b6-2024.06.04"
    xml, _ = parse_data("boomi", f"boomi/{exec_dir}/process_log.xml")
    text = "2024-06-04T02:57:00Z\tINFO\tStart\tNoData\tExecuting Start Shape\n"
    (tsv,) = boomi.parse(Record(text=text.strip(), source="log.txt"), ParseContext())
    assert (xml[1].labels["shape"], xml[1].labels["shape_info"]) == ("Start", "NoData")
    assert (tsv.labels["shape"], tsv.labels["shape_info"]) == ("Start", "NoData")
