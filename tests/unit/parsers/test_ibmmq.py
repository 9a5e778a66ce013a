"""IBM MQ queue manager error logs, text and JSON: why a channel ended, for the flows on it."""

from __future__ import annotations

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import ibmmq
from collector.parsers._base import ParseContext, ParseError


def test_amqerr_text_entries(parse_data):
    events, dead = parse_data("auto", "ibmmq/AMQERR01.LOG")
    assert dead == []
    assert {e.dataset for e in events} == {"ibmmq.error_log"}
    assert {e.platform for e in events} == {"ibmmq"}
    timed_out, ssl, authority = events
    # MQ 8: no Time(), the header's local time; no severity suffix, so the wording decides.
    assert timed_out.timestamp_ms == iso_to_ms("2019-03-22T08:17:30Z")
    assert (timed_out.level, timed_out.error_class) == ("error", "timeout")
    assert timed_out.message == "AMQ9271: Channel 'NBBEBEB04P2.SVR' timed out."
    assert timed_out.labels["channel"] == "NBBEBEB04P2.SVR"
    assert timed_out.labels["mq_explanation"].startswith("A timeout occurred while waiting")
    assert timed_out.labels["mq_action"].endswith("tell the systems administrator.")
    assert timed_out.labels["mq_module"] == "amqccita.c:4482"
    assert (timed_out.service, timed_out.host) == ("QM05", "sysamq05")
    assert timed_out.labels["mq_version"] == "8.0.0.8"
    # MQ 9.2: Time() in UTC wins over the header; a message wrapped over two lines.
    assert ssl.timestamp_ms == iso_to_ms("2022-06-28T18:23:34.836Z")
    assert ssl.message == ("AMQ9636E: SSL distinguished name does not match peer name, "
                           "channel 'QM1.TO.QM2'.")
    assert (ssl.level, ssl.error_code, ssl.error_class) == ("error", "AMQ9636", "certificate")
    assert ssl.labels["channel"] == "QM1.TO.QM2"
    assert ssl.labels["remote_host"] == "10.241.2.5"
    # A two-digit year; W is a warning, with the object it names.
    assert authority.timestamp_ms == iso_to_ms("2022-10-13T06:13:07.215Z")
    assert authority.level == "warn" and authority.labels["mq_object"] == "ORDERS.IN"
    assert authority.labels["mq_program"] == "amqzlaa0"


def test_json_error_log_and_container_lines(parse_data):
    events, dead = parse_data("auto", "ibmmq/mq-container.jsonl")
    assert dead == []
    closed, starting = events
    assert closed.timestamp_ms == iso_to_ms("2018-02-22T06:54:53.942Z")
    assert closed.level == "error" and closed.error_code == "AMQ9209"
    assert closed.message.startswith("AMQ9209E: Connection to host 'localhost (127.0.0.1)'")
    assert closed.labels["channel"] == "SYSTEM.DEF.SVRCONN"
    assert (closed.service, closed.host) == ("QM1", "0df0ce19c711")
    assert closed.labels["mq_module"] == "amqccita.c:4214"
    assert closed.labels["remote_host"] == "127.0.0.1"
    assert (starting.dataset, starting.level) == ("ibmmq.container", "info")
    assert starting.message == "Starting queue manager"


def test_reason_codes_as_labels():
    ctx = ParseContext()
    text = ("11/28/2026 10:00:00 AM - Process(1.1) User(mqm) Program(amqrmppa)\n"
            "                    Host(h) QMgr(QM1)\n\n"
            "AMQ9544E: Messages for channel 'TO.ACME' were put to the dead-letter queue, "
            "reason code 2053.\n\nEXPLANATION:\nThe queue 'ACME.IN' is full.\n"
            "----- amqrmrsa.c : 1 ----\n")
    ev = ibmmq.parse(Record(text=text), ctx)[0]
    assert ev.labels["mq_reason"] == "2053" and ev.labels["channel"] == "TO.ACME"
    assert ev.timestamp_ms == iso_to_ms("2026-11-28T10:00:00Z")


def test_not_an_mq_entry():
    assert not ibmmq.detect('{"type":"ace_message","ibm_messageId":"BIP2152I"}')
    assert not ibmmq.detect("2024-03-01 10:00:00,123 INFO hello")
    with pytest.raises(ParseError, match="without an AMQnnnn message"):
        ibmmq.parse(Record(text="03/22/2019 08:17:30 AM - Process(1.1) User(mqm)\nhello"),
                    ParseContext())


def test_container_basic_console(parse_data):
    """``LOG_FORMAT=basic``: ``ibm_datetime message`` per line. Read as text, AMQ9209E was an
    info line (an error no rule saw); with ``--format ibmmq`` the console was one dead letter."""
    for fmt in ("ibmmq", "auto"):
        events, dead = parse_data(fmt, "ibmmq/mq-container-basic.log")
        assert dead == []
        assert len(events) == 5
        started, closed, denied = events[2:]
        assert (started.level, started.labels["mq_message_id"]) == ("info", "AMQ5051I")
        assert closed.timestamp_ms == iso_to_ms("2024-03-01T10:15:32Z")
        assert (closed.level, closed.outcome, closed.error_code) == ("error", "failure", "AMQ9209")
        assert closed.labels["channel"] == "DEV.APP.SVRCONN"
        assert denied.level == "error" and denied.dataset == "ibmmq.error_log"
    (own,) = parse_data("ibmmq", "ibmmq/mq-container-basic.log")[0][1:2]
    assert (own.dataset, own.message, own.level) == ("ibmmq.container", "Starting queue manager",
                                                     "info")
