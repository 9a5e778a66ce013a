"""Boomi runtime container logs: the runtime's own trouble, with its stack traces."""

from __future__ import annotations

import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import boomi_container
from collector.parsers._base import ParseContext, ParseError


def test_container_log_as_boomi_documents_it(parse_data):
    """The container log lines of Boomi's "Host names and IP addresses" page (a failed update
    download; stack traces shortened): every line was dead-lettered."""
    events, dead = parse_data("auto", "boomi/container.log")
    assert dead == []
    assert {e.dataset for e in events} == {"boomi.container"}
    assert [e.level for e in events] == ["debug", "debug", "error", "warn"]
    fine, refused, severe, warning = events
    assert fine.timestamp_ms == iso_to_ms("2020-01-07T17:09:05Z")  # 12:09:05 PM EST
    assert (fine.labels["logger"], fine.labels["method"]) == (
        "com.boomi.restlet.client.ClientUtil", "handle")
    assert refused.error_type == "java.net.ConnectException"
    assert "PlainSocketImpl.socketConnect" in refused.error_stack_trace
    assert severe.timestamp_ms == iso_to_ms("2020-01-07T17:11:08Z")
    assert (severe.outcome, severe.error_class) == ("failure", "connectivity")
    assert severe.message.startswith("Request to update Atom URI https://qa-software.cdn")
    assert warning.error_type == "java.io.IOException"
    assert warning.error_message == "Unable to download update file update-397580100.zip"


def test_execution_ids_join_the_process_log_and_unknown_zones_take_the_default():
    text = ("Mar 1, 2024 1:05:09 AM XYZT INFO    [com.boomi.process.ProcessExecution run] "
            "Executing execution-3456789a-1234-4bcd-9ef0-123456789abc-2024.03.01")
    (ev,) = boomi_container.parse(Record(text=text), ParseContext())
    assert ev.ids == ["boomi.exec:execution-3456789a-1234-4bcd-9ef0-123456789abc-2024.03.01"]
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T01:05:09Z")  # 1 AM, zone unknown: UTC
    with pytest.raises(ParseError, match="not a Boomi container log line"):
        boomi_container.parse(Record(text="Mar 1, 2024 oops"), ParseContext())


@pytest.mark.parametrize("fmt", ["boomi-container", "auto"])
def test_jvm_zone_names_and_gmt_offsets(parse_data, fmt):
    """SGT, GMT+05:30 and BRT were unknown and read in the default zone (UTC): each line
    hours off, without a word."""
    events, dead = parse_data(fmt, "boomi/container-jvm-zones.log")
    assert dead == []
    assert [e.timestamp_ms for e in events] == [
        iso_to_ms("2024-03-18T10:52:42Z"), iso_to_ms("2024-03-18T10:52:43Z"),
        iso_to_ms("2024-03-18T10:52:44Z")]
    assert [e.level for e in events] == ["info", "error", "warn"]


def test_java_20_narrow_space_before_am_pm(parse_text):
    """From JDK 20 (CLDR 42) the JDK's English time formats put U+202F NARROW NO-BREAK SPACE
    before AM/PM, so a runtime on a newer JVM writes ``6:52:42\\u202fPM``. Before this change
    such a line was no record start: after a line of the classic layout (the same runtime
    before its JVM update) the SEVERE line and its stack were glued onto it and vanished
    without a dead letter; alone, each line was dead-lettered as no_parser."""
    classic = ("Mar 18, 2024 6:52:41 PM SGT INFO    [com.boomi.container.core.BaseContainer "
               "startContainer] Container started successfully.\n")
    newer = ("Mar 18, 2024 6:52:42\u202fPM SGT SEVERE  [com.boomi.container.core.X send] "
             "first failure\n"
             "java.net.ConnectException: Connection refused\n"
             "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
             "Mar 18, 2024 6:52:43\u202fPM SGT WARNING [com.boomi.container.core.Y check] "
             "second warning\n")
    events, dead = parse_text("auto", classic + newer)
    assert dead == []
    assert [e.level for e in events] == ["info", "error", "warn"]
    started, failed, warned = events
    assert started.message == "Container started successfully."
    assert failed.timestamp_ms == iso_to_ms("2024-03-18T10:52:42Z")
    assert failed.error_type == "java.net.ConnectException" and failed.message == "first failure"
    assert warned.timestamp_ms == iso_to_ms("2024-03-18T10:52:43Z")
    alone, dead = parse_text("auto", newer)
    assert dead == [] and [e.level for e in alone] == ["error", "warn"]
