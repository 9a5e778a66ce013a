"""Property tests of the input layer for every parser: what a file's bytes look like (its
encoding and byte-order mark, CRLF, tabs, read chunk boundaries, a cut-off end) must not
change what the parsers make of it.

Each format is run on a real-shaped fixture of its own (tests/data, see the SOURCES.md files
there); hypothesis varies the bytes around it. The reference is the fixture read as it is.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.event import DeadLetter, Event
from collector.inputs.lines import LineReader
from collector.linesplit import LineSplitter
from collector.parse import ParseStats, SourceParser
from collector.parsers import PARSERS
from collector.parsers._base import ParseContext

DATA = Path(__file__).resolve().parents[1] / "data"
NOW_MS = 1_709_900_000_000
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

# One real-shaped fixture per format (its own parser reads it without dead letters).
SAMPLES = {
    "ace": "ace/console.log", "apigw": "apigw/nginx-access.log",
    "aws-alb": "aws-alb/access.log", "azure": "azure/eventhub-records.json",
    "biztalk": "biztalk/eventviewer-export.txt", "boomi": "boomi/process_log_download.log",
    "boomi-container": "boomi/container.log", "edifact": "edifact/orders.edi",
    "envoy": "envoy/access.log", "haproxy": "haproxy/haproxy.log",
    "ibmmq": "ibmmq/AMQERR01.LOG", "java-wrapper": "containers/wrapper-mule_ee.log",
    "json": "json/app.jsonl", "kafka-broker": "kafka-broker/server-kraft.log",
    "kafka-record": "kafka-record/values.jsonl", "mule": "mule/mule_ee.log",
    "mule-json": "mule-json/cloudhub-export.jsonl", "nginx-error": "nginx-error/error.log",
    "otlp-json": "otlp-json/logs.jsonl", "rabbitmq": "rabbitmq/rabbit-4x.log",
    "text": "text/spring-boot.log", "tibco-bw": "tibco-bw/bw5-engine.log",
    "x12": "x12/purchase-orders.edi",
}
ENCODINGS = [("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
             ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32-le", codecs.BOM_UTF32_LE),
             ("utf-16-le", b""), ("utf-8", b"")]


def test_every_format_has_a_sample():
    assert sorted(SAMPLES) == PARSERS.names()


def sample(fmt: str) -> str:
    """The fixture as text, LF line ends, ending with a newline."""
    text = (DATA / SAMPLES[fmt]).read_bytes().decode("utf-8").replace("\r\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def summary(items) -> list[tuple]:
    return [(e.timestamp_ms, e.dataset, e.level, e.message, e.error_message, e.error_type,
             tuple(e.ids), e.flow, e.stage, e.service)
            for e in items if isinstance(e, Event)]


def reasons(items) -> list[str]:
    return [d.reason.split(":")[0] for d in items if isinstance(d, DeadLetter)]


def read(fmt: str, data: bytes, chunk: int | None = None) -> list:
    """The file's bytes through the tail's reader, fed ``chunk`` bytes at a time."""
    reader = LineReader.open(ParseContext(now_ms=NOW_MS), fmt, "prop.log", "1:", 0, 0, 1 << 20)
    out: list = []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        out.extend(reader.feed(data[i:i + step], NOW_MS)[0])
    out.extend(reader.flush(NOW_MS))
    return out


def reference(fmt: str) -> list:
    return read(fmt, sample(fmt).encode())


formats = pytest.mark.parametrize("fmt", sorted(SAMPLES))


@formats
def test_sample_is_read_cleanly(fmt):
    items = reference(fmt)
    assert summary(items), f"{SAMPLES[fmt]} gives no {fmt} event"
    assert reasons(items) == []


@formats
def test_encoding_bom_crlf_and_chunking_change_nothing(fmt):
    want = reference(fmt)
    text = sample(fmt)

    @SETTINGS
    @given(st.sampled_from(ENCODINGS), st.booleans(), st.integers(1, 700))
    def check(encoding, crlf, chunk):
        codec, bom = encoding
        body = text.replace("\n", "\r\n") if crlf else text
        got = read(fmt, bom + body.encode(codec), chunk)
        assert summary(got) == summary(want)
        assert reasons(got) == reasons(want)

    check()


@formats
def test_tab_indented_continuations_frame_like_space_indented_ones(fmt):
    """A continuation line indented with a tab (Java stack frames) instead of spaces: the
    same records, so the same number of events at the same times."""
    want = reference(fmt)
    lines = sample(fmt).split("\n")
    tabbed = "\n".join("\t" + ln.lstrip(" ") if ln.startswith("  ") else ln for ln in lines)
    got = read(fmt, tabbed.encode())
    assert [e[0] for e in summary(got)] == [e[0] for e in summary(want)]
    assert len(reasons(got)) == len(reasons(want))


@formats
def test_tabs_anywhere_never_crash_and_nothing_is_lost(fmt):
    text = sample(fmt)

    @SETTINGS
    @given(st.lists(st.integers(0, len(text)), max_size=6))
    def check(cuts):
        tabbed = text
        for at in sorted(cuts, reverse=True):
            tabbed = tabbed[:at] + "\t" + tabbed[at:]
        reader_items = read(fmt, tabbed.encode())
        assert "parser_crash" not in reasons(reader_items)
        assert summary(reader_items) or reasons(reader_items)

    check()


def record_starts(fmt: str, text: str, alone: bool) -> list[str]:
    """Lines of the sample at the margin that start a record of ``fmt`` (where lines are
    records, every such line); with ``alone``, only those that are an event by themselves."""
    start = PARSERS.get(fmt).START
    return [ln for ln in text.split("\n")
            if len(ln) > 16 and ln[:1] not in (" ", "\t")
            and (start is None or start.match(ln))
            and (not alone or summary(read(fmt, ln.encode() + b"\n")))]


@formats
def test_truncated_last_line_is_not_glued_to_the_event_before_it(fmt):
    """The file ends with the head of another record, cut off before its newline: every
    event of the file before it stays exactly as it was, and the cut line is an event or a
    dead letter of its own (where a record head is an event by itself)."""
    text = sample(fmt)
    want = summary(reference(fmt))
    alone = record_starts(fmt, text, alone=True)
    starts = alone or record_starts(fmt, text, alone=False)
    if not starts:
        pytest.skip(f"{SAMPLES[fmt]} is whole JSON documents, no line is a record head: "
                    "the mid-record test covers its cut ends")

    @SETTINGS
    @given(st.sampled_from(starts), st.data())
    def check(start_line, data):
        cut = start_line[: data.draw(st.integers(16, len(start_line) - 1))]
        got = read(fmt, (text + cut).encode())
        events = summary(got)
        assert events[: len(want)] == want, "an event before the cut line changed"
        if alone:
            assert len(events) + len(reasons(got)) > len(want), "the cut line vanished"

    check()


def split_read(fmt: str, data: bytes) -> tuple[list, list]:
    """(items of the complete lines before the end, items of the end: the cut line and the
    last record, closed by the end of input)."""
    parser = SourceParser(fmt, ParseContext(now_ms=NOW_MS), "prop.log", stats=ParseStats(),
                          position_prefix="1:")
    lines = LineSplitter.at("auto", 0, 0, 1 << 20)
    done: list = []
    for text, offset, lineno, cut, terminated in lines.split(data):
        done.extend(parser.feed(text, offset, lineno, cut, terminated))
    end: list = []
    for text, offset, lineno, cut, terminated in lines.rest():
        end.extend(parser.feed(text, offset, lineno, cut, terminated))
    end.extend(parser.flush())
    return done, end


@formats
def test_file_ending_mid_record_keeps_every_complete_record(fmt):
    """The file is cut at any byte (inside a line, a stack trace, an XML body, an EDI
    interchange): the records completed before the cut are exactly the full file's, the
    cut record ends as events or dead letters, and no parser crashes."""
    data = sample(fmt).encode()
    want = summary(reference(fmt))

    @SETTINGS
    @given(st.integers(1, len(data) - 1))
    def check(at):
        done, end = split_read(fmt, data[:at])
        complete = summary(done)
        assert complete == want[: len(complete)]
        assert "parser_crash" not in reasons(done + end)
        assert all(isinstance(i, Event | DeadLetter) for i in done + end)

    check()
