import os

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import biztalk
from collector.parsers._base import ParseContext, ParseError

CONTEXT = "biztalk/{8A1B2C3D-4E5F-4A7B-8C9D-0E1F2A3B4C5D}_context.xml"
MSG = "biztalk.msg:8a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"


def test_windows_event_xml(parse_data):
    events, dead = parse_data("biztalk", "biztalk/application-events.xml")
    suspended, retry, xlang = events
    assert suspended.timestamp_ms == iso_to_ms("2024-03-01T10:15:34.123Z")
    assert (suspended.action, suspended.outcome, suspended.level) == ("failed", "failure", "error")
    assert suspended.ids == [MSG]
    assert suspended.labels["service_instance_id"] == "6e4d7b02-4fb0-4a7b-9e0e-2a3b7c1d9e22"
    assert suspended.labels["send_port"] == "SP_SAP_Orders" and suspended.service == "SP_SAP_Orders"
    assert suspended.labels["adapter"] == "WCF-SQL" and suspended.host == "BTS01.corp.local"
    assert suspended.error_code == "5754"
    assert suspended.error_message.startswith("System.Data.SqlClient.SqlException")
    assert (retry.action, retry.level) == ("retried", "warn")
    assert retry.error_class is None
    assert xlang.labels["event_source"] == "XLANG/s" and xlang.error_type == "XPathUpdateException"
    assert xlang.labels["service_instance_id"] == "9f0e1d2c-3b4a-4958-8776-655443322110"
    assert [d.reason for d in dead] == ["parse_error: biztalk: event from 'MSSQLSERVER', not a "
                                        "BizTalk source"]


def test_event_viewer_tab_export_with_multiline_quoted_description(parse_data):
    events, dead = parse_data("biztalk", "biztalk/eventviewer-export.txt")
    assert dead == []
    suspended, info, retry = events
    assert suspended.timestamp_ms == iso_to_ms("2024-03-01T10:15:34Z")
    assert suspended.labels["receive_location"] == "RL_Orders_File"
    assert suspended.ids == ["biztalk.msg:1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b"]
    assert suspended.error_class == "validation"
    assert '"FILE"' in suspended.message  # doubled quotes undone
    assert info.level == "info" and info.outcome == "unknown"
    assert retry.timestamp_ms == iso_to_ms("2024-03-01T13:16:30Z")  # 1:16:30 PM
    assert retry.error_class is None and retry.labels["url"].startswith("https://as2")


def test_saved_message_context(parse_data):
    events, dead = parse_data("biztalk", CONTEXT)
    assert dead == []
    (ev,) = events
    assert ev.ids == [MSG, "biztalk.interchange:a0b1c2d3-e4f5-4607-8819-2a3b4c5d6e7f",
                      "order:4711"]
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T10:15:34.200Z")  # ErrorReport.FailureTime
    assert ev.error_type == "FailedMessage" and ev.error_code == "0xc0c01680"
    assert ev.error_class == "validation"
    assert ev.labels["receive_port"] == "RP_Orders" and ev.labels["partnercode"] == "ACME-DE"


def test_malformed_and_nack(parse_data):
    events, dead = parse_data("biztalk", "biztalk/malformed.txt")
    (nack,) = events
    assert (nack.action, nack.outcome, nack.level) == ("rejected", "failure", "warn")
    assert nack.ids == [MSG] and nack.timestamp_estimated
    assert [(d.line, d.field) for d in dead] == [(1, None), (3, "columns"), (4, "ContextInfo")]


def test_detect():
    assert biztalk.detect("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
                          "<System><Provider Name='BizTalk Server'/>")
    assert not biztalk.detect("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
                              "<System><Provider Name='MSSQLSERVER'/>")
    assert biztalk.detect("Error\t3/1/2024 10:15:34 AM\tBizTalk Server\t5754\tBizTalk Server\t\"x\"")


def test_wevtutil_prints_events_back_to_back_on_one_line(parse_data):
    events, dead = parse_data("biztalk", "biztalk/wevtutil-batch.xml")
    assert dead == []  # the SQL Server event in the batch is not ours, not an error
    assert [(e.labels["event_id"], e.action) for e in events] == [("5743", "retried"),
                                                                  ("5410", None)]
    assert events[1].labels["receive_location"] == "RL_Orders_File"


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_event_viewer_copied_text_in_both_layouts(parse_data, fmt):
    """'Copy details as text' from Event Viewer (Server 2008 on) and the older layout the
    Microsoft KB articles 983387 and 961020 quote."""
    events, dead = parse_data(fmt, "biztalk/eventviewer-copied-text.txt")
    assert dead == []
    suspended, retry = events
    assert (suspended.action, suspended.outcome, suspended.host) == (
        "failed", "failure", "BTS01.contoso.local")
    assert suspended.timestamp_ms == iso_to_ms("2024-03-01T10:15:34Z")
    assert suspended.ids == ["biztalk.msg:6c1a7f3e-2b4d-4c8e-9f10-a1b2c3d4e5f6"]
    assert suspended.labels["send_port"] == "SP_Orders_SAP"
    assert (retry.level, retry.labels["event_id"], retry.timestamp_estimated) == (
        "warn", "5743", True)


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_evtx_dump_json_lines(parse_data, fmt):
    """EVTX as JSON lines: auto-detection handed them to the generic JSON parser, which made
    the suspended message an info event with no message, stamped at ingest time."""
    events, dead = parse_data(fmt, "biztalk/evtx-dump.jsonl")
    assert dead == []
    suspended, uncaught, started = events
    assert suspended.timestamp_ms == iso_to_ms("2024-03-18T10:52:42.873Z")
    assert not suspended.timestamp_estimated
    assert (suspended.level, suspended.outcome) == ("error", "failure")
    assert suspended.ids == ["biztalk.msg:8a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"]
    assert suspended.labels["event_id"] == "5754"  # not the Qualifiers object
    assert suspended.labels["send_port"] == "SendOrders" and suspended.host == "BTS01.corp.local"
    assert uncaught.error_type == "XlangSoapException" and uncaught.labels["event_source"] == "XLANG/s"
    assert (started.level, started.labels["event_id"]) == ("info", "5410")
    assert started.message == "An instance of the host BizTalkServerApplication is starting."


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_event_viewer_csv_export(parse_data, fmt):
    """The CSV export was not read at all: every line a dead letter."""
    events, dead = parse_data(fmt, "biztalk/eventviewer-export.csv")
    assert dead == []
    suspended, started = events
    assert suspended.timestamp_ms == iso_to_ms("2024-03-18T10:52:42Z")
    assert (suspended.outcome, suspended.labels["event_id"]) == ("failure", "5754")
    assert suspended.ids == ["biztalk.msg:8a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"]
    assert suspended.labels["adapter"] == "FILE"  # "" doubled inside the quoted field
    assert started.timestamp_ms == iso_to_ms("2024-03-18T13:05:00Z")  # 1:05:00 PM


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_get_winevent_convertto_json(parse_data, fmt):
    """PowerShell's JSON of Get-WinEvent records was a dead letter: no parser took it."""
    events, dead = parse_data(fmt, "biztalk/get-winevent-convertto-json.json")
    assert dead == []
    suspended, started = events
    assert suspended.timestamp_ms == 1_710_759_162_873 and not suspended.timestamp_estimated
    assert (suspended.level, suspended.outcome, suspended.labels["event_id"]) == (
        "error", "failure", "5754")
    assert suspended.ids == ["biztalk.msg:8a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d"]
    assert suspended.host == "BTS01.corp.local"
    assert (started.level, started.labels["event_id"]) == ("info", "5410")


def test_get_winevent_json_of_powershell_7():
    """PowerShell 7 writes TimeCreated as ISO 8601 with the machine's offset; a single record
    is an object, not an array."""
    text = ('{"Id": 5754, "Level": 2, "ProviderName": "BizTalk Server", "MachineName": "BTS01",'
            ' "TimeCreated": "2024-03-18T11:52:42.873+01:00", "Message": "suspended"}')
    (ev,) = biztalk.parse(Record(text=text, source="events.json"), ParseContext(now_ms=1))
    assert ev.timestamp_ms == iso_to_ms("2024-03-18T10:52:42.873Z")
    assert (ev.level, ev.labels["event_id"], ev.message) == ("error", "5754", "suspended")


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_get_winevent_records_one_per_line(parse_data, fmt):
    """``% { $_ | ConvertTo-Json -Compress }`` writes one record a line: START took none of
    them, so the three were glued into one record, unreadable JSON, one dead letter."""
    events, dead = parse_data(fmt, "biztalk/get-winevent-json-per-line.json")
    assert dead == []
    assert [e.labels["event_id"] for e in events] == ["5754", "5410", "5410"]
    assert events[0].ids == [MSG] and events[0].outcome == "failure"
    assert [e.timestamp_ms for e in events] == [1_710_759_162_873, 1_710_759_163_000,
                                                 1_710_759_164_000]


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_a_json_body_in_a_description_stays_in_its_event(parse_data, fmt):
    """A lone ``{`` at column 0 inside a 5754's error details opened a record: the event lost
    its MessageId (after the body) and the rest was a dead letter."""
    events, dead = parse_data(fmt, "biztalk/eventviewer-text-json-body.txt")
    assert dead == []
    (ev,) = events
    assert ev.ids == ["biztalk.msg:6c1a7f3e-2b4d-4c8e-9f10-a1b2c3d4e5f6"]
    assert ev.labels["service_instance_id"] == "7d2b8f4a-3c5e-4d9f-8a21-b2c3d4e5f6a7"
    assert '"error": "invalid order"' in ev.message


def test_a_lone_bracket_opens_a_record_only_after_a_closed_json_value():
    assert biztalk.continues(["Log Name:      Application", "Description:", "body:"], "{")
    assert biztalk.continues(["Error\t3/1/2024\tBizTalk Server\t5754\tx\t\"body:"], "[")
    assert not biztalk.continues(["[", "  {", '    "Id":  5754', "  }", "]"], "[")
    assert not biztalk.continues(['{"Id":5410,"ProviderName":"BizTalk Server"}'], "{")
    assert not biztalk.continues(["Log Name:      Application"], '  "Id": 1')


@pytest.mark.parametrize("fmt", ["biztalk", "auto"])
def test_windows_events_of_other_sources_whatever_the_line_order(parse_data, fmt):
    """An MSSQLSERVER EVTX line before the first BizTalk line went to the generic JSON parser
    (an info event without message or time), the same line after it was a dead letter: now
    a dead letter naming the source either way, as the XML export's."""
    events, dead = parse_data(fmt, "biztalk/evtx-dump-mixed-sources.jsonl")
    assert [e.labels["event_id"] for e in events] == ["5754", "10034"]
    assert [(d.line, d.reason) for d in dead] == [
        (line, "parse_error: biztalk: event from 'MSSQLSERVER', not a BizTalk source")
        for line in (1, 3)]


def test_detect_claims_only_windows_events_among_event_json():
    assert not biztalk.detect('{"Event": "login", "user": "alice"}')
    assert biztalk.detect('{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/'
                          '2004/08/events/event"},"System":{"Provider":{"#attributes":'
                          '{"Name":"MSSQLSERVER"}}}}}')


def test_provider_keys_are_matched_as_written():
    """``DETECT_NEEDS`` holds ``"ProviderName"`` as written and ``_json_events`` reads that
    key: an IGNORECASE pattern claimed ``providername`` without the native prefilter only."""
    assert not biztalk.detect('{"providername": "BizTalk Server", "id": 5754}')
    assert biztalk.detect('{"ProviderName": "biztalk server", "Id": 5754}')
    assert not biztalk.detect('{"Event":{"System":{"Provider":{"#attributes":{"name":"BizTalk"}}}}}')


@pytest.mark.parametrize("fast", [True, False])
def test_native_and_python_detection_agree_on_key_case(fast):
    from collector import native
    from collector.parse import detect_any

    if fast and not native.available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI must build native/: the prefilter's native path is untested")
        pytest.skip("midwatch_native not built")
    before = native.use(fast)
    try:
        lower = detect_any('{"providername": "BizTalk Server", "id": 5754, "message": "x"}')
        exact = detect_any('{"ProviderName": "BizTalk Server", "Id": 5754, "Message": "x"}')
    finally:
        native.use(before)
    assert (lower.NAME, exact.NAME) == ("json", "biztalk")


def test_fluent_bit_winevtlog_record_keeps_event_id_and_host():
    """Fluent Bit's ``winevtlog`` writes ``EventID`` and ``Computer``: read as PowerShell's
    ``Id``/``MachineName`` only, the 5754 had no event ID, no outcome and no host."""
    text = ('{"Channel":"Application","ProviderName":"BizTalk Server","EventID":5754,'
            '"Level":2,"TimeCreated":"2024-03-18 11:52:42 +0100","Computer":"BTS01.corp.local",'
            '"Message":"A message sent to adapter \\"FILE\\" on send port \\"SendOrders\\" is '
            'suspended.\\r\\n MessageId:  {8A1B2C3D-4E5F-4A7B-8C9D-0E1F2A3B4C5D}"}')
    (ev,) = biztalk.parse(Record(text=text, source="winevtlog.json"), ParseContext(now_ms=1))
    assert (ev.labels["event_id"], ev.outcome, ev.host) == ("5754", "failure", "BTS01.corp.local")
    assert ev.ids == [MSG] and ev.timestamp_ms == iso_to_ms("2024-03-18T10:52:42Z")


def test_a_mixed_get_winevent_array_dead_letters_the_other_sources():
    """The MSSQLSERVER record of a mixed array was dropped without a word; the XML and EVTX
    JSON paths dead-letter such records."""
    text = ('[{"Id":5410,"ProviderName":"BizTalk Server","Level":4,"Message":"started"},'
            ' {"Id":17137,"ProviderName":"MSSQLSERVER","Level":4,"Message":"db up"}]')
    with pytest.raises(ParseError) as raised:
        biztalk.parse(Record(text=text, source="events.json"), ParseContext(now_ms=1))
    assert raised.value.field == "Provider"
    assert "1 of 2 records not from a BizTalk source (MSSQLSERVER)" in raised.value.reason
    assert [e.labels["event_id"] for e in raised.value.events] == ["5410"]
