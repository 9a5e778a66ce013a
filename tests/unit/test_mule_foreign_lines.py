"""A Mule application's log holds lines of other loggers too: the application's own classes
and libraries write time-first log4j lines (``%d %-5p [%t] %c - %m%n``). Such a line after a
Mule record was taken for a continuation line and glued onto that record, so its IDs (an
``orderId=4711``) never reached a trace. Each must be a record of its own, on the reference
path and the native one, named format and auto-detected alike."""

from __future__ import annotations

import pytest
from test_native_diff import assert_same, native_events, needs_native, run

from collector.event import Event

MULE = ("INFO  2024-03-04 10:00:00,123 [[MuleRuntime].uber.03: [orders-app].orders-flow.CPU_LITE"
        " @1a2b3c] [processor: orders-flow/processors/0; event: abc-{n}] "
        "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: step {n}")
FOREIGN = [
    "2024-03-04 10:00:01,234 INFO  [main] com.acme.orders.OrderService - orderId=4711 posted",
    "2024-03-04T10:00:02.345Z ERROR [pool-1] com.acme.orders.OrderService: orderId=4712 failed",
    "2024-03-04 10:00:03.456 WARNING [jms-1] com.acme.Listener - orderId=4713 redelivered",
]
# Continuation lines that begin with a time stay continuation lines: a payload row, a time in
# a stack trace's message.
PAYLOAD = "2024-03-04 10:00:00,ORD-1,ACME,12.50"
LOG = "\n".join([MULE.format(n=1), *FOREIGN, MULE.format(n=2), PAYLOAD, MULE.format(n=3),
                 MULE.format(n=4)]) + "\n"


def events(fmt: str, fast: bool) -> list[Event]:
    out, counters = run(LOG.encode(), fast, fmt=fmt, source="/opt/mule/logs/orders-app.log")
    assert all(type(item) is Event for item in out), out  # nothing dead-lettered
    return out


@pytest.mark.parametrize("fmt", ["mule", "auto"])
def test_a_time_first_line_after_a_mule_record_is_a_record_of_its_own(fmt):
    evs = events(fmt, fast=False)
    assert [ev.message for ev in evs][:1] == ["step 1"]
    assert [sorted(ev.ids) for ev in evs] == [
        ["correlation:abc-1"], ["order:4711"], ["order:4712"], ["order:4713"],
        ["correlation:abc-2"], ["correlation:abc-3"], ["correlation:abc-4"]]
    assert [ev.level for ev in evs[1:4]] == ["info", "error", "warn"]
    assert evs[4].message == f"step 2\n{PAYLOAD}"  # the payload row stays with its record


@needs_native
@pytest.mark.parametrize("fmt", ["mule", "auto"])
def test_the_native_path_frames_them_the_same(fmt):
    lines = LOG.splitlines()
    taken = native_events(lines, "mule")
    assert taken[0] and taken[0].message == "step 1"  # not glued: the next line starts one
    assert_same(LOG.encode(), fmt=fmt, source="/opt/mule/logs/orders-app.log")
    assert [sorted(ev.ids) for ev in events(fmt, fast=True)] == \
        [sorted(ev.ids) for ev in events(fmt, fast=False)]


# Lines of other platforms that start with a time and a level, so Mule's START takes them
# too, in one auto-detected source after a Mule record (a shipper's file of several logs, a
# container's stdout): each belongs to the format that claims it, not to generic text.
OTHERS = [
    "2024-03-04T10:00:01Z\tINFO\tProcess Execution\tExecution started",
    "2024-12-16 17:11:31,768 INFO [LogCleaner id=0] Starting the log cleaner "
    "(kafka.log.LogCleaner) [main]",
]


@pytest.mark.parametrize("fast", [False, pytest.param(True, marks=needs_native)],
                         ids=["reference", "native"])
def test_another_platforms_time_first_line_is_not_taken_for_mule(fast):
    """With the wider START of the fix above, these came out platform ``generic``, their
    fields lost, and the source stayed Mule for every later such line."""
    log = "\n".join([MULE.format(n=1), *OTHERS, MULE.format(n=2)]) + "\n"
    out, _ = run(log.encode(), fast, fmt="auto", source="/var/log/mixed.log")
    assert [ev.platform for ev in out] == ["mulesoft", "boomi", "kafka", "mulesoft"]
