"""The native fast paths (JSON lines, NGINX access lines) against the pure-Python reference: the same input through both must
give the same events (every field, event ID, original), dead letters and counters.

The extension may decline any line (the Python path then parses it), never answer it
differently. These tests run every JSON input of the golden cases and generated lines
(valid, near-valid, garbage, unicode, huge) through ``SourceParser`` with the fast path and
without it. In CI (``CI=true``) the extension must be loaded: a broken build fails there
instead of passing as a silent slowdown.
"""

from __future__ import annotations

import io
import json
import os
import random
import string
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import native
from collector.envelopes import shippers
from collector.event import Event, Record
from collector.normalize import _may_hold_card
from collector.parse import ParseStats, SourceParser, read_batches
from collector.parsers import json_lines
from collector.parsers._base import ParseContext
from collector.shipping import Delivery, parse_delivery

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import parse_bench  # noqa: E402

NOW_MS = 1_709_900_000_000

needs_native = pytest.mark.skipif(
    native.batch_parser("json", ParseContext()) is None,
    reason="midwatch_native not built (make venv builds it) or turned off (MIDWATCH_NATIVE=0)")


def test_native_is_loaded_in_ci() -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("outside CI the extension is optional")
    assert native.available(), "CI must build native/ (make venv): the fast path is missing"


def run(data: bytes, fast: bool, fmt: str = "json", ctx: ParseContext | None = None,
        source: str = "/var/log/app.jsonl", prefix: str = "42:") -> tuple[list, dict]:
    """Items and counters of ``data`` through a SourceParser, fed a read at a time as the
    file input and ``midwatch parse`` feed it; ``fast`` False: the reference path alone
    (the native readers, and auto-detection's native prefilter, off)."""
    ctx = ctx or ParseContext(now_ms=NOW_MS)
    stats = ParseStats()
    before = native.use(fast)
    try:
        parser = SourceParser(fmt, ctx, source, stats=stats, position_prefix=prefix)
        # Both paths skip noting record heads (which only a format with START uses): else
        # the first 32 records of every input would go the reference way even with the
        # fast path.
        parser._shapes_left = 0
        out: list = []
        for batch in read_batches(io.BytesIO(data)):
            out.extend(parser.feed_lines(batch))
        out.extend(parser.flush())
    finally:
        native.use(before)
    counters = {"records": stats.records, "events": stats.events, "empty": stats.empty_records,
                "utf8": stats.replaced_utf8, **stats.deadletters}
    return out, counters


def assert_same(data: bytes, **kw) -> None:
    fast, fast_stats = run(data, True, **kw)
    ref, ref_stats = run(data, False, **kw)
    assert fast_stats == ref_stats
    assert len(fast) == len(ref)
    for got, want in zip(fast, ref, strict=True):
        assert type(got) is type(want)
        assert got == want  # dataclass equality: every field


def native_events(lines: list[str], fmt: str) -> list:
    """What the extension itself answers for these lines, read as one batch (whole,
    terminated lines, byte offsets standing in as their numbers)."""
    parse = native.batch_parser(fmt, ParseContext(now_ms=NOW_MS))
    batch = [(line, k, k + 1, False, True) for k, line in enumerate(lines)]
    return parse(batch, b"s\x1f", NOW_MS, 0, 7_289_654_399_999)


def accepted(lines: list[str], fmt: str = "json") -> int:
    """How many of these lines the extension itself turns into events. A record is taken
    only where the next one starts in the batch: a line that starts one follows."""
    tail = "INFO  2024-03-01 00:00:00 [x] y: z"
    return sum(bool(ev) for ev in native_events([*lines, tail], fmt)[:-1])


def _inputs() -> dict[str, tuple[str, bytes]]:
    """name -> (format, input): the fixtures of the fast paths' formats, bench lines, and
    mixed sources (formats in turn, as one source: auto mode switches away and back)."""
    files = {p.relative_to(ROOT / "tests" / "data").as_posix(): (p.parent.name, p.read_bytes())
             for fmt in native.FORMATS for p in sorted((ROOT / "tests" / "data" / fmt).glob("*"))
             if p.is_file() and p.suffix not in (".md", ".yaml")}
    files["bench/json"] = ("json", parse_bench.json_events(3000, random.Random("native"))[0])
    files["bench/apigw"] = ("apigw", parse_bench.nginx_events(3000, random.Random("native"))[0])
    files["bench/mule"] = ("mule", parse_bench.mule_events(3000, random.Random("native"))[0])
    rng = random.Random(5)
    files["mixed"] = ("auto", b"".join(parse_bench.GENERATORS[("json", "mule", "apigw")[i % 3]](
        3 + i % 40, rng)[0] for i in range(80)))
    files["all-fixtures"] = ("auto", b"".join(data.rstrip(b"\n") + b"\n"
                                              for _, data in files.values()))
    return files


INPUTS = _inputs()


@needs_native
@pytest.mark.parametrize("named", [True, False])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_fixture_through_both_paths(name: str, named: bool) -> None:
    fmt, data = INPUTS[name]
    assert_same(data, fmt=fmt if named else "auto")


@needs_native
def test_bench_lines_are_taken_by_the_fast_path() -> None:
    """Not a test that can pass by declining everything: the bench's common lines (INFO, ISO
    time, IDs) are the fast path's; its ERROR lines, and lines with 13 digits in a row (a UUID
    that might hold a card number, for all the prefilter knows) the reference's."""
    lines = parse_bench.json_events(1000, random.Random(3))[0].decode().splitlines()
    python = [line for line in lines if '"level":"ERROR"' in line or _may_hold_card(line)]
    assert accepted(lines) == len(lines) - len(python)
    assert 0 < len(python) < len(lines) * 0.15


@needs_native
def test_bench_access_lines_are_taken_by_the_fast_path() -> None:
    """The bench's NGINX lines, failures too, are the fast path's, and most of those with 13
    digits in a row (a request ID's hex digits); only those where some such digits might be
    a card number (Luhn) are the reference's, among them every one it redacts."""
    lines = parse_bench.nginx_events(1000, random.Random(3))[0].decode().splitlines()
    events = native_events([*lines, "x"], "apigw")[:-1]
    declined = {line for line, ev in zip(lines, events, strict=True) if ev is None}
    reference, _ = run(("\n".join(lines) + "\n").encode(), False, fmt="apigw")
    redacted = {line for line, ev in zip(lines, reference, strict=True) if "[card:" in ev.original}
    digits = {line for line in lines if _may_hold_card(line)}
    assert redacted and redacted <= declined <= digits
    assert len(declined) < len(digits) / 2
    assert any('" 502 ' in line for line in set(lines) - declined)


@needs_native
@pytest.mark.parametrize("line", [
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"card 4111 1111 1111 1111"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"mail ops@example.com"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"a \\"quoted\\" word"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"héllo"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","level":"error","message":"x"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","outcome":false}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","error.type":"X"}',
    '{"@timestamp":"2024-03-01T10:15:00+00:00","message":"other layout"}',
    '{"@timestamp":"2024-02-30T25:15:00.000Z","message":"impossible"}',
    '{"message":"no time"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"dup","message":"again"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","service":{"name":"nested"}}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","orderId":1.5}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","orderId":"abc:"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","service":"' + "s" * 300 + '"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"' + "m" * 20000 + '"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"trailing"} x',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","n":01}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","level":3}',
    # What json_lines reads since the extension was built (a logger, GELF's long message):
    # declined by json_lines.native_differs.
    '{"@timestamp":"2024-03-01T10:15:00.000Z","loggerName":"com.example.A","message":"m"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","_log_logger":"com.example.A","message":"m"}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","message":"m",'
    '"full_message":"java.lang.IllegalStateException: closed"}',
])
def test_what_the_fast_path_declines(line: str) -> None:
    assert accepted([line]) == 0
    assert_same(((line + "\n") * 3 + "\n").encode())


@needs_native
@pytest.mark.parametrize("line", [
    '{"@timestamp":"2024-03-01T10:15:00.000Z","level":" Warning ","status":200,"orderId":4711}',
    '{"time":"2024-03-01T10:15:00.000Z","ts":"x","msg":"m","log.level":"dbg","outcome":"OK"}',
    '{"timestamp":"2024-03-01T24:00:60.999Z","traceId":" ab ","correlationId":"ab","x":null}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","orderId":"1","order_id":"1","result":true}',
    '{"@timestamp":"2024-03-01T10:15:00.000Z","level":"07","event":"e","a":-0.5e3}',
    ' { "@timestamp" : "2024-03-01T10:15:00.000Z" , "message" : "spaced" } ',
])
def test_what_the_fast_path_takes(line: str) -> None:
    assert accepted([line]) == 1
    assert_same(((line + "\n") * 3).encode())


_NGINX = ('10.20.1.7 - - [01/Mar/2024:10:15:32 +0100] "POST /api/v1/orders/4711 HTTP/1.1" 202 '
          '312 "-" "axios/1.6.7"')


@needs_native
@pytest.mark.parametrize("tail", [
    "", ' 0.012 0.010 "0af7651916cd43dd8448eb211c80319c" "6f1c0c3e-6b7a-4c62-9d1e-2f1a3b4c5d6e"',
    " 0.012 - 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 abc 1.000 2.000 3.000",
    # 13 digits and more in a row, none of which a card number (Luhn): nothing is redacted
    ' "9f41111111111112aaaaaaaaaaaaaaaa" "9f52345678901234aaaaaaaaaaaaaaaa"',
    ' "0.012" "6F1C0C3E-6B7A-4C62-9D1E-2F1A3B4C5D6E" "6f1c0c3e-6b7a-4c62-9d1e-2f1a3b4c5d6e"',
])
def test_access_lines_the_fast_path_takes(tail: str) -> None:
    assert accepted([_NGINX + tail], "apigw") == 1
    assert_same(((_NGINX + tail + "\n") * 3).encode(), fmt="apigw")


@needs_native
@pytest.mark.parametrize("status", ["400", "401", "404", "429", "499", "500", "502", "504",
                                    "599"])
def test_access_failures_the_fast_path_takes(status: str) -> None:
    """Level, error code and type made natively; the class by status (or classify's, for
    a status the table lacks) and the signature set in Python, as the reference does."""
    line = _NGINX.replace(" 202 ", f" {status} ") + ' 0.012 "0af7651916cd43dd8448eb211c80319c"'
    assert accepted([line], "apigw") == 1
    assert_same(((line + "\n") * 3).encode(), fmt="apigw")


@needs_native
@pytest.mark.parametrize("line", [
    _NGINX.replace(" 202 ", " 600 "),  # no HTTP status: the Python path's
    _NGINX.replace("+0100", "+0100 x"),
    _NGINX + " rt=0.012",  # key=value pairs
    _NGINX + " 0.010, 0.020",  # an upstream list
    _NGINX + " 1234567890123.000",  # beyond 64-bit nanoseconds
    _NGINX + " 12 \"router\" \"http://10.0.0.2:80\" 3ms",  # Traefik's tail
    _NGINX.replace("POST", "post"),  # no method: the request line is kept as a label
    _NGINX.replace("axios", "a\\xios"),
    _NGINX.replace("/4711", "/4111111111111111"),  # a card number
    _NGINX + ' "9f5555555555554aaaaaaaaaaaaaaaaa"',  # a card number (Luhn) in a request ID
    # a card number in the message only: the path's digits run on into the status's there
    _NGINX.replace("/4711", "/411111111111").replace(" 202 ", " 207 "),
    " " + _NGINX,
    _NGINX.replace("10.20.1.7", "123456789"),
    _NGINX.replace("Mar", "Mrz"),
    _NGINX.replace(" 312 ", " 312x "),
    # AWS API Gateway's CLF format: its request IDs are aws.request (Python)
    '203.0.113.9 - - [01/Mar/2024:10:15:32 +0000] "POST /orders HTTP/1.1" 200 88 '
    "c6af9ac6-7b61-11e6-9a41-93e8deadbeef UwhTsE8goAMFfZg=",
])
def test_access_lines_the_fast_path_declines(line: str) -> None:
    assert accepted([line], "apigw") == 0
    assert_same(((line + "\n") * 3).encode(), fmt="apigw")


_MULE = ("INFO  2024-03-01 10:15:32,123 [[MuleRuntime].uber.03: [order-api].order-main.CPU_LITE "
         "@1a2b] [processor: order-main/processors/0; event: 6f1c0c3e-6b7a-4c62-9d1e-2f1a3b4c5d6e] "
         "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: Received order 4711")


@needs_native
@pytest.mark.parametrize("line", [
    _MULE,
    _MULE.replace("INFO ", "WARNING"),
    _MULE.replace(",123", ".5+01:00"),
    _MULE.replace("[processor: order-main/processors/0; ", "["),
    _MULE.replace("[processor: order-main/processors/0; event: 6f1c0c3e-6b7a-4c62-9d1e-2f1a3b4c5d6e] ",
                  ""),
    _MULE.replace("[MuleRuntime].uber.03: [order-api].order-main.CPU_LITE @1a2b", "main"),
    _MULE.replace("LoggerMessageProcessor: ", "LoggerMessageProcessor:"),
    _MULE.replace("INFO ", "ERROR"),  # a failure: its class and signature from normalize
    _MULE + " *****",  # asterisks that make no banner
    # Mule 3 threads: the app from the "[app]." prefix, the flow from the processor
    _MULE.replace("[MuleRuntime].uber.03: [order-api].order-main.CPU_LITE @1a2b",
                  "[orders-app].HTTP_Listener_Configuration.worker.01"),
    _MULE.replace("order-main.CPU_LITE @1a2b", "main"),  # no pool: "[MuleRuntime]." names no app
])
def test_mule_lines_the_fast_path_takes(line: str) -> None:
    assert accepted([line], "mule") == 1
    assert_same(((line + "\n") * 3).encode(), fmt="mule")


@needs_native
@pytest.mark.parametrize("line", [
    _MULE.replace(",123", ",1234567"),
    _MULE.replace("order-main.CPU_LITE", "post:\\orders:application\\json:cfg.CPU_LITE"),
    _MULE.replace("[processor: order-main/processors/0; event: 6f1c0c3e-6b7a-4c62-9d1e-2f1a3b4c5d6e]",
                  "[{correlationId=abc, processorPath=f/p, orderId=1}]"),
    _MULE.replace("LoggerMessageProcessor", "JsonLogger"),
    _MULE + " ***** Started app 'x' *****",
    _MULE.replace("4711", "4111111111111111"),
    # CloudHub appenders' layout: framed natively as START frames it, read by Python
    "[03-01 10:15:32] INFO  LoggerMessageProcessor [[MuleRuntime].uber.03: [a].f.CPU_LITE @1]: x",
    "[03-01 10:15:32] WARNING C [main]: a",
    # A Mule 3 stage thread naming the flow (and no processor path): the Python parser reads
    # the flow from it since the extension was built (mule.native_differs)
    _MULE.replace("[MuleRuntime].uber.03: [order-api].order-main.CPU_LITE @1a2b",
                  "[orders-app].ordersFlow.stage1.02").replace("[processor: order-main/processors/0; ",
                                                               "["),
])
def test_mule_lines_the_fast_path_declines(line: str) -> None:
    assert accepted([line], "mule") == 0
    assert_same(((line + "\n") * 3).encode(), fmt="mule")


@needs_native
@pytest.mark.parametrize("fmt", ["mule", "auto"])
def test_a_cloudhub_appender_line_starts_a_record_natively_too(fmt: str) -> None:
    """The native framing (start) knows CloudHub appenders' head as START does: else the line
    between two Mule records would be glued to the first as a continuation line."""
    data = (_MULE + "\n[03-01 10:15:32] INFO  C [main]: between\n" + _MULE + "\n") * 3
    assert_same(data.encode(), fmt=fmt)


@needs_native
def test_a_mule_record_with_continuation_lines_is_not_cut() -> None:
    """A line whose next line continues it is no record of its own: the Python path's."""
    data = (_MULE + "\n" + _MULE + "\n\tat x.Y.z(Y.java:1)\nMessage : x\n" + _MULE + "\n") * 3
    assert_same(data.encode(), fmt="mule")
    assert_same(data.encode(), fmt="auto")


@needs_native
def test_mule_error_records_are_taken_by_the_fast_path() -> None:
    """Not a test that can pass by declining: every record of the bench's Mule lines (10%
    errors, half Mule error blocks, half stack traces) is the fast path's, but the last (whose
    end the batch does not show) and those with 13 digits in a row (UUIDs whose dashes join
    digits might hold a card number, for all the prefilter knows); the error records come
    out classified and signed."""
    data = parse_bench.mule_events(1000, random.Random(3))[0].decode()
    records = "\n".join(data.splitlines()).replace("\nINFO ", "\n\x00INFO ").replace(
        "\nERROR ", "\n\x00ERROR ").split("\n\x00")
    assert len(records) == 1000
    events = [ev for ev in native_events(data.splitlines(), "mule") if ev]
    assert len(events) == sum(not _may_hold_card(r) for r in records[:-1]) > 900
    failed = [ev for ev in events if ev.outcome == "failure"]
    assert 50 < len(failed) < 150
    assert {ev.error_class for ev in failed} == {"connectivity"}
    assert all(ev.signature and ev.labels["signature_template"] for ev in failed)
    assert {ev.error_type for ev in failed} == {"HTTP:CONNECTIVITY", "java.net.ConnectException"}
    assert_same(data.encode(), fmt="mule")


_BLOCK = ("********************************************************************************\n"
          "Message               : HTTP POST on resource 'http://sap:8080/orders' failed.\n"
          "Element               : order-main/processors/2 @ order-api:order-api.xml:25\n"
          "Element DSL           : <http:request method=\"POST\" path=\"/orders\"/>\n"
          "Error type            : HTTP:CONNECTIVITY\n"
          "FlowStack             : at order-main(order-main/processors/2)\n"
          "Payload Type          : java.lang.String\n"
          "--------------------------------------------------------------------------------\n"
          "Root Exception stack trace:\n"
          "java.net.ConnectException: Connection refused\n"
          "\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n"
          "********************************************************************************")


@needs_native
@pytest.mark.parametrize("body", [
    _BLOCK,
    _BLOCK.replace("Error type            : HTTP:CONNECTIVITY\n", ""),
    _BLOCK.replace("HTTP:CONNECTIVITY", "CONNECTIVITY:"),
    _BLOCK.replace("Message               : HTTP POST on resource 'http://sap:8080/orders' failed.",
                   "Message               :\n  line one\n   ^^^ caret"),
    "java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\nCaused by: x.YError: inner",
    "java.lang.Error: not a class name the pattern takes\nfoo.BarFault",
    "Caused by: org.x.SomeException:  \n\tat a.b(c)",
    "payload line one\n  {\"order\": 4711}\n",
    "\n\n",
    "Message : only a message\nMessage : twice\n*****\nafter the frame",
])
@pytest.mark.parametrize("level", ["ERROR", "WARN ", "INFO "])
def test_mule_records_with_continuation_lines(body: str, level: str) -> None:
    """Mule error blocks, stack traces and payload lines under a Mule line: taken by the fast
    path (the record before the last) and equal to the reference."""
    head = _MULE.replace("INFO ", level)
    data = f"{head}\n{body}\n{head}\n{head}\n"
    assert native_events(data.splitlines(), "mule")[0]
    assert_same(data.encode(), fmt="mule")
    assert_same(data.encode(), fmt="auto")


@needs_native
@pytest.mark.parametrize("body", [
    "*****\n* Started app 'order-api' *",
    "**********\n* order-api * default * DEPLOYED *\n**********",
    "*****\nFailed to deploy artifact [order-api]",
    "\x0bvertical tab",
])
def test_mule_records_the_fast_path_declines(body: str) -> None:
    data = f"{_MULE}\n{body}\n{_MULE}\n{_MULE}\n"
    assert native_events(data.split("\n")[:-1], "mule")[0] is None
    assert_same(data.encode(), fmt="mule")


@st.composite
def mule_lines(draw) -> str:
    """Lines around Mule's default layout, mostly its plain shape, and continuation lines."""
    def pick(*options: str) -> str:
        return draw(st.sampled_from(options[:1] * 6 * len(options) + options))

    if pick("line", "continuation") == "continuation":
        return pick("\tat x.Y.z(Y.java:1)", "Message               : failed", "", "  {",
                    "java.io.IOException: boom", "********", *_BLOCK.split("\n"),
                    "Caused by: a.b.CException: x", "a.Error", "a.b.C$DError:", "Message:x",
                    "Error type : X:", "Element : /x", "Element: f:g/p", " Message : x",
                    "* a * b * STARTED *", "* Started app 'x'", "x.yException: a: b",
                    "ERROR", "2024-03-01 10:15:32,123 [t] INFO c - m", "{\"a\": 1}",
                    "\t\tindented\t", draw(st.text(max_size=20)))
    stamp = (f"2024-03-{draw(st.integers(0, 32)):02d}{pick(' ', 'T')}{draw(st.integers(0, 25)):02d}"
             f":{draw(st.integers(0, 60)):02d}:{draw(st.integers(0, 61)):02d}"
             f"{pick(',123', '.5', ',1234567', '', '.123456', ',')}"
             f"{pick('', 'Z', '+01:00', '-0530', '+05:3', ' ')}")
    thread = pick("[MuleRuntime].uber.03: [order-api].order-main.CPU_LITE @1a2b", "main", "",
                  "[MuleRuntime].uber.03: [app].post:\\orders:cfg.CPU_LITE @1", "a] [b",
                  "x: [a].b.c.IO", "[a].b.BLOCKINGX", "[a].b.c.IO_x: [d].e.IO", "[a b].c.IO",
                  "[orders-app].ordersFlow.stage1.02", "[MuleRuntime].uber.03", "[].x", "[a]x",
                  draw(st.text(max_size=12)))
    event = pick(f"[processor: flow/processors/0; event: {draw(st.uuids())}] ",
                 f"[event: {draw(st.uuids())}] ", "", "[processor: ; event: ] ",
                 "[{correlationId=abc, processorPath=f/p}] ", "[processor: a/b; event: x] x] ",
                 "[event: a]", "[processor: a:b/c; event: e] ")
    category = pick("org.mule.runtime.core.internal.processor.LoggerMessageProcessor",
                    "org.mule.extension.jsonlogger.JsonLogger", "c", "bad cat", "", "$x-1")
    message = pick("Received order 4711", "", "{\"a\":1}", "*****", "a@b.example.com",
                   draw(st.text(max_size=20)))
    return (f"{pick('INFO ', 'WARNING', 'WARN ', 'DEBUG', 'TRACE', 'ERROR', 'info', 'FATAL')}"
            f"{pick(' ', '  ', chr(9))}{stamp} [{thread}] {event}{category}"
            f"{pick(': ', ':', ' - ', ':  ')}{message}").replace("\n", " ").replace("\r", " ")


_KEYS = sorted({*json_lines._ALIASES, *json_lines._DEFAULT_ID_KINDS, "x", "payload", "@t"})
_SCALARS = st.one_of(
    st.text(alphabet=string.printable, max_size=30), st.text(max_size=12),
    st.sampled_from(["INFO", "warn", "Error", " debug ", "3", "ok", "failed", "true", "", " "]),
    st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(), st.none(),
    st.builds(lambda d, t: f"2024-{d:%m-%d}T{t}Z", st.dates(), st.sampled_from(
        ["10:15:00.000", "23:59:60.999", "24:00:00.000", "10:15:00", "10:15:00.1234"])),
)
_OBJECTS = st.dictionaries(st.sampled_from(_KEYS), st.one_of(
    _SCALARS, st.dictionaries(st.sampled_from(["name", "id", "level"]), _SCALARS, max_size=2)),
    max_size=8)


@st.composite
def lines(draw) -> str:
    obj = draw(_OBJECTS)
    if draw(st.booleans()):
        obj.setdefault("@timestamp", "2024-03-01T10:15:00.000Z")
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    how = draw(st.sampled_from(["valid"] * 6 + ["cut", "garbage", "text", "huge", "blank"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "garbage":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(min_size=1, max_size=3)) + text[at:]
    elif how == "text":
        text = draw(st.text(max_size=60))
    elif how == "huge":
        text = text[:-1] + ', "pad": "' + "p" * draw(st.integers(16000, 17000)) + '"}'
    elif how == "blank":
        text = draw(st.sampled_from(["", " ", "\t", "{", "[", "}"]))
    return text.replace("\n", " ").replace("\r", " ")


_HEX = "0123456789abcdef"
_NGINX_REST = st.lists(st.one_of(
    st.sampled_from(["0.012", "0.000", "12.345", "1234567890123.000", "0.010,0.020", "0.010, 0.020",
                     "0.010 : 0.020", "-", '""', "rt=0.5", "request_id=abc", "cid: x", "12ms",
                     '"unclosed', "abc", "1.5", "2", "[::1]:80"]),
    st.text(alphabet=_HEX, min_size=32, max_size=32),
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()),
    st.builds(lambda t, sp: f"00-{t}-{sp}-01", st.text(alphabet=_HEX, min_size=32, max_size=32),
              st.text(alphabet=_HEX, min_size=16, max_size=16)),
).map(lambda t: t if t.startswith('"') else f'"{t}"' if len(t) % 3 == 0 else t), max_size=5)


@st.composite
def nginx_lines(draw) -> str:
    """Access lines around NGINX combined: its plain shape and what is just off it. Each part
    is mostly the plain one (the first option), so that many lines are the fast path's."""
    def pick(*options: str) -> str:
        return draw(st.sampled_from(options[:1] * 6 * len(options) + options))

    stamp = (f"{draw(st.integers(0, 32)):02d}/{pick('Mar', 'mar', 'DEC', 'Foo')}/"
             f"{pick('2024', '1969', '0001', '9999')}:{draw(st.integers(0, 25)):02d}:"
             f"{draw(st.integers(0, 60)):02d}:{draw(st.integers(0, 61)):02d}"
             f"{pick(' +0000', ' -0530', ' +1400', ' +9999', '', ' Z', '.123 +0000')}")
    request = pick("POST /api/v1/orders/4000?x=1 HTTP/2.0", "GET /a HTTP/1.1", "get /x HTTP/1.1",
                   "GET", "", "GET /with space HTTP/1.1", "PUT /x", "GET  HTTP/1.1",
                   "A_VERY_LONG_METHOD_NAME_X / HTTP/1.1", draw(st.text(max_size=20)))
    head = (f"{pick('10.0.0.1', '::1', '2001:db8::1', '123456789', 'host-a', 'a.b:8080 10.0.0.1')}"
            f" - {pick('-', 'bob', 'bob@example.com', '')} [{stamp}] \"{request}\" "
            f"{pick('200', '202', '302', '404', '502', '000', '099', '-', '2000')} "
            f"{pick('0', '123', '-', '12a', '99999999999999999999')}")
    if pick("yes", "no") == "yes":
        head += f' "{pick("-", "https://x/", "")}" "{draw(st.text(max_size=15))}"'
    text = head + "".join(" " + t for t in draw(_NGINX_REST))
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(min_size=1, max_size=3)) + text[at:]
    return text.replace("\n", " ").replace("\r", " ")


@needs_native
@pytest.mark.parametrize("fmt", ["json", "apigw", "mule"])
def test_generated_lines_match_or_are_declined(fmt: str) -> None:
    """Each format's generated batches, with the format named and with auto."""
    generated = {"json": lines(), "apigw": nginx_lines(), "mule": mule_lines()}[fmt]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(generated, min_size=1, max_size=40))
    def check(batch: list[str]) -> None:
        data = ("\n".join(batch) + "\n").encode("utf-8", "surrogatepass")
        assert_same(data, fmt=fmt)
        assert_same(data, fmt="auto")

    check()


def shipped(texts: list[str], fast: bool, poll: int = 7) -> tuple[list, dict]:
    """Items and counters of Filebeat documents through ``Delivery`` (the Kafka input's
    path: a few messages a poll, one Delivery kept), with or without the fast path."""
    before = native.use(fast)
    try:
        ctx, stats = ParseContext(now_ms=NOW_MS), ParseStats()
        delivery = Delivery(ctx, stats)
        records = [Record(text=t, source="topic", position=f"0:{i}") for i, t in enumerate(texts)]
        out: list = []
        for start in range(0, len(records), poll):
            out.extend(parse_delivery(records[start:start + poll], ctx, stats, replayable=True,
                                      delivery=delivery, keep_open=True))
        out.extend(delivery.finish())
    finally:
        native.use(before)
    return out, {"records": stats.records, "events": stats.events, **stats.deadletters}


def filebeat_docs(files: dict[str, str], offsets: bool = True) -> list[str]:
    """Each file's lines as Filebeat documents, the files' lines taking turns in runs."""
    docs = []
    runs = {path: text.splitlines() for path, text in files.items()}
    at = dict.fromkeys(files, 0)
    while any(runs.values()):
        for path, rows in runs.items():
            for row in rows[:40]:
                log = {"file": {"path": path}, **({"offset": at[path]} if offsets else {})}
                docs.append(json.dumps({"@timestamp": f"2024-03-01T10:15:{len(docs) % 60:02d}.004Z",
                                        "agent": {"type": "filebeat"}, "host": {"name": "mule-01"},
                                        "log": log, "message": row}))
                at[path] += len(row.encode()) + 1
            runs[path] = rows[40:]
    return docs


def syslog_frames(files: dict[str, str]) -> list[str]:
    """Each file's lines as RFC 5424 frames named by program (no file path), in runs."""
    runs = {path.rsplit("/", 1)[-1]: text.splitlines() for path, text in files.items()}
    frames = []
    while any(runs.values()):
        for app, rows in runs.items():
            frames += [f"<134>1 2024-03-01T10:15:33.004Z mule-01 {app} - - - {row}"
                       for row in rows[:40]]
            runs[app] = rows[40:]
    return frames


@needs_native
@pytest.mark.parametrize("offsets", [True, False, None])  # None: syslog frames, no path
@pytest.mark.parametrize("poll", [7, 500])
def test_shipped_lines_through_both_paths(offsets: bool | None, poll: int, monkeypatch) -> None:
    """Shipped lines of several files, interleaved in runs, through ``Delivery``: the same
    events (stamped with the message that opened each record), dead letters and counters
    with the fast path and without it; and the fast path takes most of them."""
    taken = []
    take = SourceParser.take
    monkeypatch.setattr(SourceParser, "take", lambda self: taken.append(1) or take(self))
    files = {"/opt/mule/app.log": parse_bench.mule_events(400, random.Random(1))[0].decode(),
             "/var/log/nginx/access.log": parse_bench.nginx_events(300, random.Random(2))[0].decode(),
             "/var/log/app.jsonl": parse_bench.json_events(300, random.Random(3))[0].decode(),
             "/data/po.edi": parse_bench.x12_sets(20, random.Random(4))[0].decode()}
    docs = syslog_frames(files) if offsets is None else filebeat_docs(files, offsets)
    fast, fast_stats = shipped(docs, True, poll)
    assert len(taken) > fast_stats["events"] * (0.5 if poll > 7 else 0.3)
    ref, ref_stats = shipped(docs, False, poll)
    assert fast_stats == ref_stats
    assert len(fast) == len(ref)
    for got, want in zip(fast, ref, strict=True):
        assert got == want
    assert sum(isinstance(ev, Event) and ev.platform == "mulesoft" for ev in fast) == 400
    if offsets is not None:
        assert {ev.labels.get("log_file_path") for ev in fast if isinstance(ev, Event)} == set(files)


_FILEBEAT = {"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
             "host": {"name": "mule-01"}, "input": {"type": "filestream"},
             "log": {"offset": 4711, "file": {"path": "/opt/mule/logs/app.log"}},
             "message": _MULE}


def envelope_both(texts: list[str]) -> list:
    """``Shapes.unwrap_all`` of the texts (one source, whose shipper is learned from the
    first), with the native reader; asserted equal to the Python path's; its answers."""
    before = native.use(True)
    try:
        fast = shippers.Shapes().unwrap_all(texts, ["topic"] * len(texts))
        native.use(False)
        ref = shippers.Shapes().unwrap_all(texts, ["topic"] * len(texts))
    finally:
        native.use(before)
    assert fast == ref
    return fast


@needs_native
@pytest.mark.parametrize("change", [
    {}, {"message": 'a "quoted" line \\ with é and \u2028'}, {"host": "bare-host"},
    {"host": {"hostname": "x"}}, {"host": {"name": ""}}, {"log": {"offset": -1, "file": {"path": "/p"}}},
    {"log": {"offset": "42", "file": {"path": "/p"}}}, {"log": {"offset": "²", "file": {"path": "/p"}}},
    {"log": {"offset": 2**63, "file": {"path": "/p"}}}, {"log": {"offset": 1.5, "file": {"path": "/p"}}},
    {"log": {"offset": True, "file": {"path": "/p"}}}, {"log": {"file": {"path": ""}}},
    {"log": {"file": "/p"}}, {"log.file.path": "/flat", "log": None}, {"agent": {"type": ""}},
    {"agent": "filebeat"}, {"message": 7}, {"message": ""}, {"@timestamp": 1709288133.004},
    {"@timestamp": 1709288133004}, {"@timestamp": None}, {"@timestamp": "not a time"},
    {"@timestamp": {"x": 1}}, {"n": 12345678901234567890123}, {"n": [1, {"f": 0.5}]},
])
def test_filebeat_envelopes_through_both_paths(change: dict) -> None:
    """Filebeat documents and what is just off their nested shape: the native reader gives
    the Python matcher's ``Shipped`` or leaves the document to it."""
    doc = {**_FILEBEAT, **change}
    texts = [json.dumps(_FILEBEAT)] + [json.dumps(doc, ensure_ascii=ascii) for ascii in (True, False)]
    envelope_both(texts + ["{not json", '{"message": "x"}', "<13>1 - - - - - - line", "[1]"])


@needs_native
def test_filebeat_envelopes_are_taken_natively() -> None:
    """Not a test that can pass by declining: after a source's first message, the native
    reader answers for its Filebeat documents."""
    texts = [json.dumps({**_FILEBEAT, "message": f'line "{i}"'}) for i in range(5)]
    assert all(native.filebeat_docs()(texts))
    found = envelope_both(texts)
    assert [f.line for f in found] == [f'line "{i}"' for i in range(5)]
    assert {(f.offset, f.host, f.path, f.created_ms) for f in found} == {
        (4711, "mule-01", "/opt/mule/logs/app.log", 1709288133004)}


@needs_native
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.builds(lambda d, msg: json.dumps({**_FILEBEAT, **d, "message": msg}),
                          _OBJECTS, st.text(max_size=30)), min_size=2, max_size=12))
def test_generated_filebeat_documents(texts: list[str]) -> None:
    envelope_both(texts)
