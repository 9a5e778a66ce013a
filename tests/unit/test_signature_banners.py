"""A signature's template comes from the meaningful line of a multi-line record, never from a
banner's frame. RabbitMQ logs its resource alarms as the alarm line, a blank line and a box of
asterisks (``rabbit_alarm.erl``: "~s resource limit alarm set on node ~p.~n~n****..."); its
parser takes the box as the error message, so the template used to be a row of asterisks, and
memory and disk alarms shared one signature. Real records in each layout RabbitMQ writes, read
by the real parser and normalizer."""

import io

import pytest

from collector.event import Event
from collector.normalize import message_template
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

BOX = ["**********************************************************",
       "*** Publishers will be blocked until this alarm clears ***",
       "**********************************************************"]


def _v39(resource: str) -> str:
    """3.9 and later, 4.x: every line of the message behind the repeated prefix."""
    prefix = "2024-03-01 10:20:00.000001+00:00 [warning] <0.498.0> "
    lines = [f"{resource} resource limit alarm set on node 'rabbit@mq-01'.", "", *BOX]
    return "".join(f"{prefix}{line}\n" for line in lines)


def _v37(resource: str) -> str:
    """3.7 and 3.8: the box on lines of their own, after a blank line."""
    return "\n".join([f"2018-05-10 14:33:24.931 [warning] <0.215.0> {resource} resource limit "
                      "alarm set on node 'rabbit@rmq-0'.", "", *BOX,
                      "2018-05-10 14:33:28.935 [info] <0.217.0> vm_memory_high_watermark "
                      "clear. Memory used:249847808 allowed:256901120", ""])


def _v36(resource: str) -> str:
    """Before 3.7: an ``=WARNING REPORT====`` block."""
    return "\n".join(["=WARNING REPORT==== 2-Sep-2020::17:52:40 ===",
                      f"{resource} resource limit alarm set on node 'rabbit@localhost'.", "",
                      *BOX, ""])


def alarm(text: str) -> Event:
    events = [e for e in parse_stream(io.BytesIO(text.encode()), "rabbit.log", "rabbitmq",
                                      ParseContext(now_ms=1_700_000_000_000))
              if isinstance(e, Event) and e.signature]
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize("layout", [_v39, _v37, _v36])
def test_a_rabbitmq_alarm_is_templated_by_its_alarm_line(layout):
    memory, disk = alarm(layout("memory")), alarm(layout("disk"))
    assert memory.error_class == "resource"
    assert memory.labels["signature_template"] == (
        "memory resource limit alarm set on node '<str>'.")
    assert disk.labels["signature_template"] == "disk resource limit alarm set on node '<str>'."
    assert memory.signature != disk.signature


def test_frames_are_skipped_in_any_text():
    assert message_template("=====\nOrder 4711 failed\n") == "Order <n> failed"
    assert message_template("--- FAILURE ---\n  Order 4711 failed") == "Order <n> failed"
    # a text of frames only gives way to the next one
    assert message_template("\n".join(BOX), "Queue orders-7 blocked\n" + "\n".join(BOX)) == (
        "Queue <id> blocked")
    # nothing but frames: the first line as it is, so the signature still groups
    assert message_template("*****\n*****") == "*****"
    assert message_template("*** ALERT ***") == "*** ALERT ***"
    assert message_template(None, "", "java.io.IOException") == "java.io.IOException"
    assert message_template() == ""


def test_the_demo_alarm_shows_its_alarm_line():
    from midwatch.demo.scenario import build

    fmt, text = build(7, 60, 1_800_000_000_000).files["rabbit@mq-01.log"]
    templates = {e.labels.get("signature_template")
                 for e in parse_stream(io.BytesIO(text.encode()), "rabbit.log", fmt,
                                       ParseContext(now_ms=1_800_000_000_000))
                 if isinstance(e, Event)}
    assert "memory resource limit alarm set on node '<str>'." in templates
    assert not any(t and _is_frame(t) for t in templates)


def _is_frame(template: str) -> bool:
    return not any(c.isalnum() for c in template)
