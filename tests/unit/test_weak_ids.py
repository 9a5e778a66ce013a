"""Weak IDs never join two messages; one message's hops with different ID kinds do.

Sources write a stand-in when a message has no such ID: a JSON logger's "N/A" or "null", a
gateway's "-", a zero UUID, a W3C trace ID of zeros. Every message without the ID carries the
same stand-in, so linking on it folded unrelated orders into one trace (15 JSON lines, 7
different placeholders: 7 traces of two orders each, before). Correlated into the real
SQLite store, as `midwatch run` does.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from correlate_support import correlated

from collector.correlation.catalog import is_placeholder, without_placeholders
from collector.event import Event
from collector.knowledge import LABEL as KNOWN_ISSUE
from collector.knowledge import KnowledgeBase, trace_known_issues
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

PLACEHOLDERS = ['"N/A"', '"null"', '"-"', '"0000000000000000"', '"undefined"', '"None"', '"  "',
                '"00000000-0000-0000-0000-000000000000"',
                # .NET's Guid.Empty braced ("B", BizTalk's form) and as a WS-Addressing URN;
                # a header logged with its quotes; a template's empty field; a dash run
                '"{00000000-0000-0000-0000-000000000000}"',
                '"urn:uuid:00000000-0000-0000-0000-000000000000"', r'"\"null\""', '"[null]"',
                '"---"']


def _line(n: int, corr: str) -> str:
    return (f'{{"timestamp":"2026-12-07T07:00:{n:02d}.000Z","level":"INFO",'
            f'"message":"order received","correlationId":{corr},"orderId":"{1000 + n}"}}')


def _parsed(text: str, fmt: str = "auto") -> list[Event]:
    ctx = ParseContext(now_ms=1_796_000_000_000)
    return [e for e in parse_stream(io.BytesIO(text.encode()), "t.log", fmt, ctx)
            if isinstance(e, Event)]


def test_messages_sharing_only_a_placeholder_stay_apart(tmp_path):
    lines = [_line(2 * k + j, corr) for k, corr in enumerate(PLACEHOLDERS) for j in (0, 1)]
    with correlated(tmp_path, _parsed("\n".join(lines) + "\n")) as store:
        for n in range(len(lines)):
            (trace,) = store.find_traces(f"order:{1000 + n}")
            assert [i for i in trace.ids if i.startswith("order:")] == [f"order:{1000 + n}"]
            assert trace.hop_count == 1
        # the placeholder is still on the traces, and a lookup by it lists each
        assert len(store.find_traces("correlation:N/A")) == 2
        # the events' primary ID (a page's example message IDs) is the order, not "N/A"
        (trace,) = store.find_traces("order:1000")
        (ev,) = store.trace_events(without_placeholders(trace))
        assert ev.message_id == "order:1000"


def test_one_message_with_different_id_kinds_per_hop_is_one_trace(tmp_path):
    # the gateway knows request and correlation ID, Mule correlation and order, the ERP
    # bridge the order alone; another order with a placeholder correlation ID stays apart
    text = "\n".join([
        '{"timestamp":"2026-12-07T07:00:00Z","message":"in","requestId":"r-9",'
        '"correlationId":"c-9"}',
        '{"timestamp":"2026-12-07T07:00:01Z","message":"mapped","correlationId":"c-9",'
        '"orderId":"4711"}',
        '{"timestamp":"2026-12-07T07:00:02Z","message":"posted","orderId":"4711"}',
        '{"timestamp":"2026-12-07T07:00:03Z","message":"in","requestId":"-",'
        '"correlationId":"N/A","orderId":"4712"}',
    ]) + "\n"
    with correlated(tmp_path, _parsed(text, "json")) as store:
        (one,) = store.find_traces("order:4711")
        assert one.hop_count == 3
        assert {"correlation:c-9", "order:4711"} <= set(one.ids)
        (other,) = store.find_traces("order:4712")
        assert other.hop_count == 1 and other.trace_key != one.trace_key


def test_order_zero_is_a_real_id_that_joins_its_hops(tmp_path):
    # a numbered run starts at 0 (the fault tests' c-0 / order:0): its last hop names only
    # the order, and must join the trace, as order 1's does
    text = "".join(
        f'{{"timestamp":"2026-12-07T07:00:0{n}Z","message":"in","correlationId":"c-{n}",'
        f'"orderId":"{n}"}}\n{{"timestamp":"2026-12-07T07:00:1{n}Z","message":"posted",'
        f'"orderId":"{n}"}}\n' for n in (0, 1))
    with correlated(tmp_path, _parsed(text, "json")) as store:
        for n in (0, 1):
            (trace,) = store.find_traces(f"order:{n}")
            assert trace.hop_count == 2 and f"correlation:c-{n}" in trace.ids


@pytest.mark.parametrize("value,expected", [
    ("N/A", True), ("null", True), ("NULL", True), (" - ", True), ("00000000", True),
    ("00000000000000000000000000000000", True), ("-1", True), ("", True),
    ("0", False), ("000", False), ("0000000", False), ("1", False), ("0001", False), ("4711", False), ("ACME>INITECH:0001:0001", False),
    ("6f1c2a", False), ("none-such", False),
    ("{00000000-0000-0000-0000-000000000000}", True), ("URN:UUID:" + "0" * 32, True),
    ('"null"', True), ("'undefined'", True), ("[N/A]", True), ("---", True),
    ("{4711}", False), ("[PO-1]", False), ("urn:uuid:0b7e4c1a-1111-4222-9333-444455556666", False),
    ("{0}", False), ("-1-", False),
])
def test_placeholder_values(value, expected):
    assert is_placeholder(value) is expected


def test_messages_debatched_from_one_biztalk_interchange_stay_apart(tmp_path):
    # a disassembler splits one interchange into messages that share BTS.InterchangeID
    # (each with its own MessageID and InterchangeSequenceNumber): they merged into one trace
    data = Path(__file__).resolve().parents[1] / "data" / "biztalk"
    saved = (data / "{8A1B2C3D-4E5F-4A7B-8C9D-0E1F2A3B4C5D}_context.xml").read_text()
    ctx = ParseContext(now_ms=1_796_000_000_000)
    events: list[Event] = []
    for n, order in ((1, "4711"), (2, "4712")):
        text = saved.replace('"InterchangeSequenceNumber" Namespace="http://schemas.microsoft'
                             '.com/BizTalk/2003/system-properties" Value="1"',
                             '"InterchangeSequenceNumber" Namespace="http://schemas.microsoft'
                             f'.com/BizTalk/2003/system-properties" Value="{n}"')
        text = text.replace('Value="4711"', f'Value="{order}"')
        source = f"{{8A1B2C3D-4E5F-4A7B-8C9D-0E1F2A3B4C5{n}}}_context.xml"
        events += [e for e in parse_stream(io.BytesIO(text.encode()), source, "biztalk", ctx)
                   if isinstance(e, Event)]
    assert len(events) == 2
    shared = "biztalk.interchange:a0b1c2d3-e4f5-4607-8819-2a3b4c5d6e7f"
    assert all(shared in e.ids for e in events)
    with correlated(tmp_path, events) as store:
        one, two = store.find_traces("order:4711"), store.find_traces("order:4712")
        assert len(one) == len(two) == 1 and one[0].trace_key != two[0].trace_key
        assert "order:4712" not in one[0].ids
        assert len(store.find_traces(shared)) == 2  # the interchange lists both


def test_a_trace_shows_its_own_events_not_those_sharing_an_envelope_or_placeholder(tmp_path):
    # Two orders of one interchange (x12.isa: a label), each with a placeholder correlation
    # ID, the second failed and filed under a known issue: the first order's journey showed
    # that issue, and its events could be crowded out by the others holding "N/A".
    isa = "x12.isa:ACME>ME:000000042"
    events = []
    for n, order in enumerate(("PO-1", "PO-2")):
        ev = Event(timestamp_ms=1_796_000_000_000 + n, dataset="edi.x12", platform="edi",
                   id=f"e{n}", message=f"850 {order}")
        for typed in (f"order:{order}", isa, "correlation:N/A"):
            ev.add_id(*typed.split(":", 1))
        events.append(ev)
    events[1].labels[KNOWN_ISSUE] = "KI-7"
    events += [Event(timestamp_ms=1_795_000_000_000 + n, dataset="generic.json",
                     platform="generic", id=f"old{n}", ids=["correlation:N/A"])
               for n in range(30)]
    with correlated(tmp_path, events) as store:
        (first,) = store.find_traces("order:PO-1")
        assert isa in first.ids and "correlation:N/A" in first.ids
        assert [e.id for e in store.trace_events(without_placeholders(first), limit=5)][:1] \
            == ["e0"]
        assert trace_known_issues(store, first, KnowledgeBase()) == []
        (second,) = store.find_traces("order:PO-2")
        assert trace_known_issues(store, second, KnowledgeBase()) == [{"id": "KI-7"}]
