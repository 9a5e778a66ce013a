"""Arbitrary input to every parser and to auto-detection: nothing may escape as an exception.

Every format in PARSERS is covered, so a new parser is fuzzed the day it is registered.
"""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.event import DeadLetter, Event, Record
from collector.parse import ParseStats, SourceParser, parse_record, parse_stream, run_parser
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# Fragments of real formats, so generated input gets past the first checks of each parser.
SEEDS = [
    "INFO  2024-03-01 10:15:32,123 [t] [processor: f/p/0; event: c] org.x.Y: ",
    "ERROR 2024-03-01 10:15:32,123 [t] org.x.Y: \n****\nError type : HTTP:CONNECTIVITY\n",
    '{"correlationId":"c","tracePoint":"START","timestamp":"', '{"@type":"ExecutionRecord",',
    "<LogEvent level=\"SEVERE\" time=\"", "2024-03-01T10:15:32Z\tINFO\tStart\t",
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>",
    "<MessageInfo><ContextInfo>", "Error\t3/1/2024 10:15:34 AM\tBizTalk Server\t5754\t",
    "<mon:event xmlns:mon=\"http://www.ibm.com/xmlns/monitoring/event/v2\">",
    "BIP2628W: ", "ISA*00*          *00*", "UNB+UNOA:2+", '{"resourceSpans":[', "{", "}", "<",
    "\t", "\n", "\x00", "\ufffd", "2024-13-45 99:99:99", '"', "\\",
]
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(SEEDS), st.text(max_size=40)), max_size=12).map("".join),
)


def _module(name):
    return PARSERS.get(name)


@pytest.mark.parametrize("fmt", PARSERS.names())
def test_every_parser_survives_arbitrary_text(fmt):
    module = _module(fmt)

    @SETTINGS
    @given(texts)
    def check(text):
        assert isinstance(module.detect(text), bool)
        try:
            events = module.parse(Record(text=text, source="prop"), CTX)
        except ParseError:
            return
        assert all(isinstance(e, Event) for e in events)
        out = run_parser(Record(text=text, source="prop"), module, CTX, ParseStats())
        assert not any(d.reason.startswith("parser_crash") for d in out
                       if isinstance(d, DeadLetter))

    check()


@SETTINGS
@given(st.binary(max_size=2000))
def test_auto_detection_survives_arbitrary_bytes(data):
    stats = ParseStats()
    items = list(parse_stream(io.BytesIO(data), "prop", "auto", CTX, stats))
    assert all(isinstance(i, Event | DeadLetter) for i in items)
    assert stats.deadletters["parser_crash"] == 0


@SETTINGS
@given(st.lists(texts, max_size=8))
def test_mixed_lines_never_crash_and_nothing_is_lost(lines):
    parser = SourceParser("auto", CTX, "prop")
    parts = [part for line in lines for part in line.split("\n")]
    out = []
    for n, part in enumerate(parts, 1):
        out.extend(parser.feed(part, n, n))
    out.extend(parser.flush())
    stats = parser.stats
    assert stats.deadletters["parser_crash"] == 0
    assert sum(isinstance(i, Event) for i in out) == stats.events
    assert sum(isinstance(i, DeadLetter) for i in out) == sum(stats.deadletters.values())
    # Input with any content ends as events, an intentionally empty record or a dead letter.
    if any(p.strip() for p in parts):
        assert stats.events + stats.empty_records + sum(stats.deadletters.values()) > 0


@SETTINGS
@given(texts)
def test_whole_records_in_auto_mode(text):
    out = parse_record(Record(text=text, source="kafka:t/0"), "auto", CTX)
    assert all(isinstance(i, Event | DeadLetter) for i in out)
    assert not any(isinstance(i, DeadLetter) and i.reason.startswith("parser_crash") for i in out)
