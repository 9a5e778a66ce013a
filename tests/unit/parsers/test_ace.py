from collector.event import Record, iso_to_ms
from collector.parsers import ace
from collector.parsers._base import ParseContext

LTID = "ace.ltid:40ddc412-f102-4840-a212-8b793d12b6bf-1"


def test_console_bip_messages(parse_data):
    events, dead = parse_data("ace", "ace/console.log")
    assert dead == []
    assert [e.labels["bip"] for e in events] == ["BIP1990I", "BIP2152I", "BIP3132I", "BIP3113E",
                                                 "BIP5025E"]
    assert [e.level for e in events] == ["info", "info", "info", "error", "error"]
    assert events[0].timestamp_ms == iso_to_ms("2024-03-01T10:15:30.123Z")
    assert events[3].error_code == "BIP3113E" and events[3].error_class == "connectivity"
    assert events[3].labels["message_flow_node"] == "OrderFlow.HTTP Request"
    assert events[4].error_class == "validation"
    assert "message_flow_node" not in events[1].labels  # "integration node 'X'" is no flow


def test_syslog_bip_messages(parse_data):
    events, dead = parse_data("ace", "ace/syslog.log")
    assert dead == []
    warn, mapping, deployed = events
    assert warn.host == "acehost01" and warn.service == "ace-orders"
    assert warn.labels["integration_node"] == "ACENODE1"
    assert warn.level == "warn" and warn.error_code == "BIP2628W" and warn.outcome == "unknown"
    assert mapping.error_class == "mapping"
    assert mapping.error_message == "Error detected whilst processing a message in node 'OrderFlow.Map Order'."
    assert deployed.labels["integration_server"] == "default" and deployed.action == "logged"
    # BSD syslog has no year: the ingest year (2024) is assumed.
    assert warn.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z")


def test_monitoring_events_v2_and_wmb(parse_data):
    events, dead = parse_data("ace", "ace/monitoring-v2.xml")
    assert dead == []
    start, rollback = events
    assert start.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.776Z")
    assert start.ids == ["ace.gtid:GTX-4711", LTID, "order:4711", "invoice:INV-2024-0042"]
    assert (start.action, start.outcome) == ("received", "unknown")
    assert start.service == "OrderApp" and start.host == "acehost01"
    assert start.labels["node_type"] == "ComIbmWSInputNode"
    assert start.labels["partnerid"] == "ACME-DE"
    assert start.payload_bytes == 30
    assert rollback.ids == [LTID, "order:4711"]  # empty gtid is not an ID
    assert (rollback.action, rollback.outcome, rollback.level) == ("failed", "failure", "error")
    assert rollback.labels["integration_node"] == "IIBNODE"
    assert rollback.labels["integration_server"] == "default"


def test_malformed(parse_data):
    events, dead = parse_data("ace", "ace/malformed.log")
    assert events == []
    assert [d.line for d in dead] == [1, 2, 3, 4]
    assert dead[1].field == "eventSequence" and dead[2].field == "code"


def test_detect():
    assert ace.detect("2024-03-01 10:15:30.123456: BIP1990I: starting")
    assert ace.detect('<mon:event xmlns:mon="http://www.ibm.com/xmlns/monitoring/event/v2">')
    assert not ace.detect("<event>plain</event>")


def test_rsyslog_rfc3339_lines_carry_the_host():
    """ACE 12 under rsyslog's default RFC 3339 template (tdolby's ace-docker logs)."""
    line = ("2025-10-29T16:20:55.279063-05:00 IBM-7NGKB54 ACE[99982]: IBM App Connect Enterprise "
            "v1201217 (ACEv12_Broker.default) [Thread 100017] (Msg 1/1) BIP2152I: Configuration "
            "message received from Toolkit.")
    (ev,) = ace.parse(Record(text=line, source="syslog"), ParseContext())
    assert (ev.host, ev.service) == ("IBM-7NGKB54", "default")
    assert ev.timestamp_ms == iso_to_ms("2025-10-29T21:20:55.279Z")


def test_other_programs_in_the_same_syslog_are_kept_not_dead_lettered():
    """tdolby's ACE 12 syslog has systemd-resolved lines between the BIP messages."""
    text = "2025-10-29T16:20:48.813387-05:00 IBM-7NGKB54 systemd-resolved[169]: Clock change detected."
    (ev,) = ace.parse(Record(text=text, source="syslog"), ParseContext())
    assert (ev.platform, ev.dataset, ev.service, ev.host) == (
        "generic", "syslog", "systemd-resolved", "IBM-7NGKB54")
    assert ev.message == "Clock change detected." and not ev.timestamp_estimated
    own = ace.parse(Record(text="Mar  1 10:15:32 node1 ACE[1234]: starting", source="s"),
                    ParseContext())[0]
    assert (own.platform, own.service) == ("ace", "ACE")


def test_ibm_json_log_records(parse_data):
    """ACE's ``ibmjson`` console format (the default in IBM's ACE containers). The records
    are written with the fields ot4i/ace-docker's logger (common/logger/logger.go) gives
    them; the BIP lines were read as text, their JSON tail in the message and no time."""
    events, dead = parse_data("auto", "ace/ibmjson.jsonl")
    assert dead == []
    started, init, failed = events
    assert (started.dataset, started.level, started.message) == (
        "ace.log", "info", "Starting integration server")
    assert init.dataset == "ace.bip" and init.labels["bip"] == "BIP1990I"
    assert init.timestamp_ms == iso_to_ms("2024-03-01T10:15:32.123Z")
    assert (init.service, init.host) == ("orders-is", "ace-server-7d9f")
    assert init.labels["thread_id"] == "7"
    assert (failed.level, failed.outcome, failed.error_code) == ("error", "failure", "BIP2230E")
    assert failed.message.startswith("BIP2230E: Error detected")  # code added once
    assert failed.labels["message_flow_node"] == "OrderFlow.Map to SAP"
    assert not ace.detect('{"message": "a BIP1990I mention in some other JSON log"}')


def test_container_basic_console_lines_are_events_not_dead_letters(parse_data):
    """ace-docker's ``LOG_FORMAT=basic`` console: the container's own timestamped lines sit
    between the BIP lines; each was dead-lettered (``no BIP message code``), with the named
    format and once auto-detection had settled on ace."""
    for fmt in ("ace", "auto"):
        events, dead = parse_data(fmt, "ace/container-basic.log")
        assert dead == []
        assert [ev.dataset for ev in events][2:] == ["ace.bip", "ace.bip", "ace.log", "ace.log"]
        ready, failed = events[4], events[5]
        assert ready.timestamp_ms == iso_to_ms("2024-03-01T10:15:37.002Z")
        assert (ready.message, ready.level, ready.platform) == (
            "Integration server is ready", "info", "ace")
        assert (failed.level, failed.outcome) == ("error", "failure")
        assert failed.error_message == "Failed to start integration server: exit status 1"
