import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from collector.event import DeadLetter, Event, Record, event_id
from collector.parse import (
    MAX_RECORD_LINES,
    Framer,
    ParseStats,
    SourceParser,
    parse_record,
    parse_stream,
    read_lines,
    run_parser,
)
from collector.parsers._base import ParseContext

CTX = ParseContext(now_ms=1_709_900_000_000)
DATA = Path(__file__).resolve().parents[1] / "data"
MULE = ("INFO  2024-03-01 10:15:32,123 [[MuleRuntime].uber.03: [order-api].main.CPU_LITE @1] "
        "[processor: main/processors/0; event: c-1] org.mule.Logger: hello")
BIP = "2024-03-01 10:15:30.123456: BIP3113E: Exception detected in message flow 'F.N'."
JSON = '{"@timestamp":"2024-03-01T10:00:00Z","level":"info","message":"j","orderId":"7"}'


def parse_bytes(data: bytes, fmt: str = "auto", stats: ParseStats | None = None):
    items = list(parse_stream(io.BytesIO(data), "mem.log", fmt, CTX, stats))
    return ([i for i in items if isinstance(i, Event)],
            [i for i in items if isinstance(i, DeadLetter)])


def test_framer_joins_continuation_lines():
    framer = Framer(re.compile(r"\d"), "f")
    assert framer.feed("1 first", 0, 1) == []
    assert framer.feed("  more", 8, 2) == []
    (rec,) = framer.feed("2 second", 15, 3)
    assert (rec.text, rec.position, rec.line) == ("1 first\n  more", "0", 1)
    (last,) = framer.flush()
    assert (last.text, last.position, last.line) == ("2 second", "15", 3)
    assert framer.flush() == []


def test_record_cap_keeps_the_head_and_dead_letters_the_rest_once():
    stats = ParseStats()
    lines = [MULE] + ["\tat frame"] * (MAX_RECORD_LINES + 500)
    events, dead = parse_bytes("\n".join(lines).encode(), "mule", stats)
    assert len(events) == 1
    assert events[0].message.count("\tat frame") == MAX_RECORD_LINES - 1
    (too_large,) = dead
    assert too_large.reason.startswith("record_too_large: 501 continuation lines")
    assert too_large.line == MAX_RECORD_LINES + 1
    assert stats.deadletters["record_too_large"] == 1


def test_ten_megabyte_line_is_dead_lettered_with_a_bounded_head():
    data = b'{"message":"' + b"x" * (10 * 1024 * 1024) + b'"}\n' + JSON.encode() + b"\n"
    events, dead = parse_bytes(data, "json")
    assert [e.message for e in events] == ["j"]
    (big,) = dead
    assert big.reason.startswith("line_too_long") and big.line == 1
    assert len(big.raw) == DeadLetter.MAX_RAW


def test_read_lines_reports_offsets_and_truncation():
    data = b"ab\r\n" + b"y" * 50 + b"\ncd"
    assert list(read_lines(io.BytesIO(data), max_line=10)) == [
        ("ab", 0, 1, False, True), ("y" * 10, 4, 2, True, True), ("cd", 55, 3, False, False)]


def test_invalid_utf8_is_replaced_parsed_and_counted():
    stats = ParseStats()
    events, dead = parse_bytes(MULE.encode() + b" caf\xe9\n", "mule", stats)
    assert dead == [] and events[0].message.endswith("caf\ufffd")
    assert stats.replaced_utf8 == 1


def test_binary_garbage_and_empty_input_never_crash():
    assert parse_bytes(b"") == ([], [])
    events, dead = parse_bytes(b"\x00\xff\xfe\x89PNG\r\n\x1a\n\x00\x00", "auto")
    assert events == [] and {d.reason.split(":")[0] for d in dead} == {"no_parser"}
    events, dead = parse_bytes(b"\x00\xff\xfe garbage\n", "mule")
    assert events == [] and dead[0].reason.startswith("parse_error: mule:")


def test_auto_detects_per_file_and_switches_per_line():
    data = "\n".join([MULE, "\tat a.b.C(C.java:1)", BIP, JSON, MULE]).encode()
    events, dead = parse_bytes(data)
    assert dead == []
    assert [e.dataset for e in events] == ["mulesoft.runtime", "ace.bip", "generic.json",
                                           "mulesoft.runtime"]
    assert "at a.b.C" in events[0].message


def test_generic_text_yields_to_specific_formats_and_keeps_out_of_open_records():
    """The catch-all text parser takes what nobody else reads, and only that: a Strimzi
    broker line after Log4j lines is Kafka's; a timestamped payload line under a Mule line
    stays in the Mule record, as it did before there was a text parser."""
    log4j = "2024-03-01 10:00:00,123 INFO  [main] com.example.Svc - started orderId=7"
    strimzi = ("2024-03-01 10:00:01,000 INFO [KafkaServer id=1] started "
               "(kafka.server.KafkaServer) [main]")
    payload = "2024-03-01 10:15:32 ORDER 4711 SHIPPED"
    events, dead = parse_bytes("\n".join([log4j, log4j, strimzi]).encode())
    assert dead == []
    assert [e.dataset for e in events] == ["generic.text", "generic.text", "kafka.broker"]
    assert events[0].ids == ["order:7"]
    events, dead = parse_bytes("\n".join([MULE, payload]).encode())
    assert dead == [] and [e.dataset for e in events] == ["mulesoft.runtime"]
    assert events[0].message.endswith(payload)


def test_auto_keeps_consecutive_json_access_log_lines_with_their_format():
    """Each Kong or AWS API Gateway line is a record of its own and also valid JSON: the
    catch-all JSON parser (ranked last) must not take every second one."""
    kong = (DATA / "apigw" / "kong-file-log.jsonl").read_text().splitlines()[0]
    aws = (DATA / "apigw" / "aws-apigateway.jsonl").read_text().splitlines()
    assert kong.index('"latencies"') > 400  # as Kong writes it: after the headers
    data = "\n".join([kong, kong, *aws, JSON, kong]).encode()
    events, dead = parse_bytes(data)
    assert dead == []
    assert [e.dataset for e in events] == ["apigw.kong"] * 2 + ["apigw.aws"] * len(aws) + [
        "generic.json", "apigw.kong"]


def test_auto_keeps_a_leading_prolog_with_the_detected_format():
    data = b'<?xml version="1.0"?>\n<mon:event xmlns:mon="http://www.ibm.com/xmlns/monitoring/event/v2"><mon:eventPointData><mon:eventData mon:eventSourceAddress="A.transaction.Start"><mon:eventIdentity mon:eventName="A.TransactionStart"/><mon:eventSequence mon:creationTime="2024-03-01T10:00:00Z" mon:counter="1"/></mon:eventData></mon:eventPointData></mon:event>\n'
    stats = ParseStats()
    events, dead = parse_bytes(data, stats=stats)
    assert dead == [] and [e.dataset for e in events] == ["ace.monitoring"]
    assert stats.empty_records == 1


def test_unrecognized_lines_are_dead_lettered_not_dropped():
    events, dead = parse_bytes(b"hello world\nsecond line\n" + MULE.encode())
    assert len(events) == 1
    assert [(d.line, d.reason) for d in dead][:1] == [(1, "parse_error: mule: not a Mule log4j "
                                                       "line (expected 'LEVEL yyyy-MM-dd HH:mm:ss,"
                                                       "SSS [thread] ... category: message')")]
    events, dead = parse_bytes(b"hello world\nsecond line\n")
    assert events == [] and [d.line for d in dead] == [1, 2]
    assert all(d.reason == "no_parser: no parser recognizes this line" for d in dead)


def test_event_ids_are_deterministic_from_source_and_position():
    events, _ = parse_bytes(f"{JSON}\n{JSON}\n".encode(), "json")
    assert events[0].id == event_id("mem.log", "0", 0)
    assert events[1].id == event_id("mem.log", str(len(JSON) + 1), 0)
    again, _ = parse_bytes(f"{JSON}\n{JSON}\n".encode(), "json")
    assert [e.id for e in again] == [e.id for e in events]


def test_position_prefix_for_inode_aware_inputs():
    parser = SourceParser("json", CTX, "/var/log/a.log", position_prefix="4242:")
    (ev,) = parser.feed(JSON, 100, 7)
    assert ev.id == event_id("/var/log/a.log", "4242:100", 0)


def test_parse_record_for_kafka_values():
    rec = Record(text=JSON, source="kafka:orders/0", position="15")
    (ev,) = parse_record(rec, "auto", CTX)
    assert ev.id == event_id("kafka:orders/0", "15", 0) and ev.ids == ["order:7"]
    (dead,) = parse_record(Record(text="???", source="kafka:orders/0"), "auto", CTX)
    assert dead.reason.startswith("no_parser")


def test_parser_bugs_cost_one_record_not_the_run():
    def boom(record, ctx):
        raise KeyError("surprise")

    broken = SimpleNamespace(NAME="broken", START=None, parse=boom)
    stats = ParseStats()
    (dead,) = run_parser(Record(text="x", source="s", line=3), broken, CTX, stats)
    assert dead.reason == "parser_crash: broken: KeyError: 'surprise'"
    assert (dead.source, dead.line) == ("s", 3)
    assert stats.deadletters["parser_crash"] == 1


def test_counters_use_a_fixed_set_of_reasons():
    stats = ParseStats()
    parse_bytes(b"nope\n[1]\n" + JSON.encode(), "json", stats)
    assert stats.deadletters == {"no_parser": 0, "parse_error": 2, "parser_crash": 0,
                                 "line_too_long": 0, "record_too_large": 0}
    assert (stats.records, stats.events) == (3, 1)


def test_blank_lines_in_line_formats_are_not_records():
    events, dead = parse_bytes(f"\n{JSON}\n   \n".encode(), "json")
    assert len(events) == 1 and dead == []


# A JSON value pretty-printed over several lines is one record where lines are records.
# The shapes are what the writers produce: ``json.dumps(indent=2)`` (Python; jq and
# System.Text.Json with WriteIndented indent the same way) and Jackson's default pretty
# printer (Mule's JSON Logger with prettyPrint, ``"key" : value``, arrays as "[ {" ... "} ]").
DOCS = [{"@timestamp": "2024-03-01T10:00:00Z", "level": "info", "message": "first",
         "orderId": "7", "http": {"status": 200, "headers": {"x-a": ["1", "2"]}}},
        {"@timestamp": "2024-03-01T10:00:01Z", "level": "error", "message": "second",
         "items": [{"sku": "A"}, {"sku": "B"}]}]


@pytest.mark.parametrize("fmt", ["auto", "json"])
def test_pretty_printed_json_objects_are_one_record_each(fmt):
    text = "\n".join([json.dumps(DOCS[0], indent=2), JSON, json.dumps(DOCS[1], indent=2)])
    events, dead = parse_bytes(text.encode(), fmt)
    assert dead == []
    assert [e.message for e in events] == ["first", "j", "second"]
    assert {e.dataset for e in events} == {"generic.json"}
    # Positions are those of each value's first line: IDs stay deterministic.
    lines = text.split("\n")
    assert events[2].id == event_id("mem.log", str(len("\n".join(lines[:lines.index(JSON) + 1]))
                                                     + 1), 0)


def test_a_pretty_printed_json_logger_object_goes_to_mule_json_among_json_lines():
    pretty = (DATA / "mule-json" / "pretty-console.log").read_text()
    events, dead = parse_bytes(f"{JSON}\n{pretty}{JSON}\n".encode())
    assert dead == []
    assert [e.dataset for e in events] == ["generic.json", "mulesoft.jsonlogger",
                                           "mulesoft.jsonlogger", "generic.json"]


def test_a_cut_off_pretty_printed_object_is_dead_lettered_and_the_next_line_read():
    text = "\n".join(['{', '  "message": "never closed",', JSON])
    events, dead = parse_bytes(text.encode(), "json")
    assert [e.message for e in events] == ["j"]
    (cut,) = dead
    assert cut.line == 1 and cut.reason.startswith("parse_error: json: not a JSON object")


def test_json_after_a_mule_line_stays_the_mule_records_continuation():
    """A logged payload on the lines after a Mule log line belongs to that line."""
    events, dead = parse_bytes(f"{MULE}\n{{\n  \"orderId\": \"7\"\n}}\n".encode())
    assert dead == []
    (ev,) = events
    assert ev.dataset == "mulesoft.runtime" and '"orderId": "7"' in ev.message


def test_an_open_pretty_printed_value_is_held_for_checkpoints():
    parser = SourceParser("auto", CTX, "a.log")
    assert parser.feed(JSON, 0, 1) != []
    assert parser.feed("{", 80, 2) == [] and parser.feed('  "message": "x"', 82, 3) == []
    assert parser.held_position() == (80, 2)
    (ev,) = parser.feed("}", 99, 4)
    assert ev.message == "x" and parser.held_position() is None


def test_a_pretty_printed_value_beyond_the_record_caps_is_dead_lettered_once():
    stats = ParseStats()
    lines = ["{"] + ['  "k": 1,'] * (MAX_RECORD_LINES + 10) + ['  "message": "x"', "}", JSON]
    events, dead = parse_bytes("\n".join(lines).encode(), "json", stats)
    assert [e.message for e in events] == ["j"]
    head, rest = dead
    assert head.line == 1 and head.reason.startswith("parse_error: json: not a JSON object")
    assert rest.reason.startswith("record_too_large: 13 continuation lines")
    assert stats.deadletters["record_too_large"] == 1


def test_formats_doc_lists_every_parser_in_detection_order():
    """docs/formats.md is where users look a format up: a new parser cannot land without
    its row, and the rows keep the order auto-detection asks in."""
    from collector.parsers import DETECT_ORDER, PARSERS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    rows = re.findall(r"^\| `([\w-]+)` \|", doc, re.MULTILINE)
    assert sorted(rows) == PARSERS.names()
    assert [r for r in rows if r in DETECT_ORDER] == list(DETECT_ORDER)
