"""Times out of range never crash: they are caught where they are read, kept as text, and the
event takes its ingest time with a label that says so (issue 29 item 1, issue 21 item 2)."""

from __future__ import annotations

import io
import sys

import orjson
import pytest

from collector.config import config_from_doc
from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.event import MAX_ISO_MS, MIN_ISO_MS, Event, Record, ms_to_iso, to_doc
from collector.inputs.base import parse_context
from collector.normalize import normalize
from collector.parse import parse_stream
from collector.parsers import otlp_json
from collector.parsers._base import ParseContext
from collector.store.sqlite import SQLiteStore
from collector.timeparse import TIME_RAW_LABEL, TIME_SOURCE_LABEL, settle_time, year_start_ms
from collector.yamlconf import ConfigError, loads

NOW = 1_765_000_000_000
CTX = ParseContext(now_ms=NOW)
TRACE = "5b8efff798038103d269b633813fc60c"
FOUR_THOUSAND_DIGITS = "9" * 4000


def span_export(start: str, end: str | None = None, *, log_time: str | None = None) -> str:
    span = {"traceId": TRACE, "spanId": "eee19b7ec3c1b174", "name": "POST /orders",
            "startTimeUnixNano": start, "endTimeUnixNano": end or start}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    if log_time is not None:
        doc["resourceLogs"] = [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": log_time, "body": {"stringValue": "hello"}, "traceId": TRACE}]}]}]
    return orjson.dumps(doc).decode()


def parsed(text: str, ctx: ParseContext = CTX) -> list[Event]:
    events = otlp_json.parse(Record(text=text, ingested_ms=NOW), ctx)
    return [normalize(ev, ctx) for ev in events]


@pytest.mark.parametrize("value", ["1" + "0" * 30, FOUR_THOUSAND_DIGITS, "9" * 5000, "1e30",
                                   "-5", "253402300800000000000"])
def test_an_otlp_span_time_past_the_range_takes_the_ingest_time_and_keeps_the_text(value):
    (span,) = parsed(span_export(value))
    assert span.timestamp_ms == NOW
    assert span.timestamp_estimated is True
    assert span.labels[TIME_SOURCE_LABEL] == "ingest"
    assert span.labels[TIME_RAW_LABEL].startswith(value[:10])
    assert len(span.labels[TIME_RAW_LABEL]) <= 64 + len("…[truncated]")
    assert span.duration_ns is None
    doc = to_doc(span)
    assert doc["@timestamp"] == ms_to_iso(NOW)
    assert doc["midwatch"]["timestamp_estimated"] is True


def test_an_otlp_log_time_past_the_range_and_a_good_span_beside_it():
    good = "1714557600000000000"
    span, log = parsed(span_export(good, log_time="1" + "0" * 30))
    assert span.timestamp_ms == 1_714_557_600_000 and not span.timestamp_estimated
    assert TIME_SOURCE_LABEL not in span.labels and TIME_RAW_LABEL not in span.labels
    assert log.timestamp_ms == NOW and log.labels[TIME_SOURCE_LABEL] == "ingest"
    assert log.labels[TIME_RAW_LABEL] == "1" + "0" * 30


def test_a_json_line_with_a_huge_timestamp_is_an_event_and_the_file_goes_on():
    lines = (b'{"timestamp": 100000000000000000000, "message": "first"}\n'
             b'{"timestamp": "2024-05-01T10:00:00Z", "message": "second"}\n')
    items = list(parse_stream(io.BytesIO(lines), "t.log", "json", CTX))
    assert [type(i) for i in items] == [Event, Event]
    first, second = items
    assert first.timestamp_ms == NOW and first.labels[TIME_SOURCE_LABEL] == "ingest"
    assert first.labels[TIME_RAW_LABEL] == "100000000000000000000"
    assert second.timestamp_ms == 1_714_557_600_000 and not second.labels


def test_every_fallback_to_the_ingest_time_is_labelled():
    """A parser that found no time at all (here: a JSON line without one) says so too."""
    (ev,) = list(parse_stream(io.BytesIO(b'{"message": "no time"}\n'), "t.log", "json", CTX))
    assert ev.timestamp_estimated and ev.timestamp_ms == NOW
    assert ev.labels == {TIME_SOURCE_LABEL: "ingest"}


def test_a_time_inside_the_range_is_left_alone_and_the_bounds_are_inclusive():
    for ms in (CTX.time_min_ms, CTX.time_max_ms, 1_714_557_600_000):
        ev = Event(timestamp_ms=ms, dataset="d", platform="generic", ingested_ms=NOW)
        settle_time(ev, CTX)
        assert ev.timestamp_ms == ms and not ev.labels and not ev.timestamp_estimated
    assert ms_to_iso(CTX.time_max_ms) == "2200-12-31T23:59:59.999Z"
    assert ms_to_iso(CTX.time_min_ms) == "1970-01-01T00:00:00.000Z"


def test_a_time_past_the_range_as_a_date_keeps_its_date():
    ev = Event(timestamp_ms=year_start_ms(2450), dataset="d", platform="generic", ingested_ms=NOW)
    settle_time(ev, CTX)
    assert ev.labels == {TIME_RAW_LABEL: "2450-01-01T00:00:00.000Z", TIME_SOURCE_LABEL: "ingest"}


def test_an_integer_too_long_to_print_is_described():
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        huge = int("9" * 6000)
    finally:
        sys.set_int_max_str_digits(limit)
    ev = Event(timestamp_ms=huge, dataset="d", platform="generic", ingested_ms=NOW)
    settle_time(ev, CTX)
    assert ev.timestamp_ms == NOW
    assert ev.labels[TIME_RAW_LABEL] == f"an integer of {huge.bit_length()} bits"


@pytest.mark.parametrize("ms", [10**30, -(10**30), MAX_ISO_MS + 1, MIN_ISO_MS - 1,
                                float("nan"), float("inf")])
def test_ms_to_iso_is_total(ms):
    text = ms_to_iso(ms)
    assert text in ("0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")


def test_a_span_past_the_year_9999_is_correlated_and_stored(tmp_path):
    """The crash of the issue: correlate.flush -> upsert_traces -> ms_to_iso. The span of
    10^30 ns goes through normalisation, correlation and a real SQLite store."""
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    store.setup()
    events = parsed(span_export("1" + "0" * 30, log_time=FOUR_THOUSAND_DIGITS))
    correlator = Correlator(empty_catalog(), store)
    correlator.process(events)
    correlator.flush()
    assert store.write_events(events).written == 2
    store.refresh()
    trace = store.get_trace(f"otel.trace:{TRACE}")
    assert trace is not None and trace.started_ms == NOW


def test_the_range_is_configurable_and_checked():
    config = config_from_doc(loads("collector: {time_range: {min_year: 2000, max_year: 2100}}\n",
                                   "mw.yaml"))
    assert config.collector.time_range == (2000, 2100)
    ctx = parse_context(config.collector, frozenset(), None)
    assert ctx.time_min_ms == year_start_ms(2000)
    assert ctx.time_max_ms == year_start_ms(2101) - 1
    (span,) = parsed(span_export("946684799000000000"), ctx)  # 1999-12-31T23:59:59Z
    assert span.labels[TIME_RAW_LABEL] == "946684799000000000"
    with pytest.raises(ConfigError) as info:
        config_from_doc(loads("collector: {time_range: {max_year: 12000}}\n", "mw.yaml"))
    assert "max_year" in str(info.value) and "9999" in str(info.value)
