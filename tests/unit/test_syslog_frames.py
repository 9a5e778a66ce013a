"""A syslog read parsed as a batch (``collector.inputs.syslog_frames``) gives exactly what
``Delivery.frames`` gives frame by frame: the same events (IDs, fields, shipper facts) and
dead letters, whatever the reads' cuts, native fast path on and off."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import native
from collector.config import CollectorSettings
from collector.event import DeadLetter, Event
from collector.inputs import syslog_frames
from collector.inputs.base import parse_context
from collector.parse import ParseStats
from collector.shipping import Delivery

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = {"/opt/mule/logs/app.log": "mule/app-runtime.log",
           "/var/log/nginx/access.log": "apigw/nginx-access.log",
           "/data/edi/in/po.edi": "x12/purchase-orders.edi",
           "/var/log/app/orders.json": "json/app.jsonl"}


def rfc5424(path: str, line: str, second: int = 33) -> bytes:
    return (f'<134>1 2024-03-01T10:15:{second:02d}.004Z mule-01 app - - [file@32473 '
            f'path="{path}"] {line}').encode()


def frames() -> list[bytes]:
    """The samples a line a frame, as rsyslog sends files, with what else a connection may
    carry: RFC 3164, a header without the path element, a repeated line, bad UTF-8, a
    frame holding a line feed (octet counting allows it), an idle second."""
    out: list[bytes] = []
    for path, rel in SAMPLES.items():
        rows = (DATA / rel).read_text().splitlines()
        out += [rfc5424(path, row) for row in rows * 10]
    out += [b"<13>Mar  1 10:15:33 gw-01 nginx[42]: 10.0.0.1 - - GET /x",
            b"<134>1 2024-03-01T10:15:34Z mule-01 app - - - INFO  plain",
            rfc5424("/opt/mule/logs/app.log", "same line"),
            rfc5424("/opt/mule/logs/app.log", "same line"),
            rfc5424("/opt/mule/logs/app.log", "caf\xe9 ok").replace(b"\xc3\xa9", b"\xe9"),
            rfc5424("/opt/mule/logs/app.log", "java.lang.Error: x\n\tat a.b(C.java:1)", 35)]
    return out


def comparable(items: list) -> list:
    return [(type(i).__name__, i) if isinstance(i, Event | DeadLetter) else i for i in items]


def read(batches: list[list[bytes]], batch: bool) -> list:
    ctx = parse_context(CollectorSettings(), frozenset(), None)
    ctx.now_ms = 1_709_900_000_000
    delivery = Delivery(ctx, ParseStats())
    out: list = []
    for frames_read in batches:
        delivery.tick()
        if batch:
            out += syslog_frames.parse(delivery, frames_read, "syslog:127.0.0.1", ctx.now_ms)
        else:
            out += delivery.frames(frames_read, "syslog:127.0.0.1", ctx.now_ms)
    out += delivery.finish()
    return out


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
@pytest.mark.parametrize("fast", [True, False])
def test_a_batch_reads_what_frame_by_frame_reads(size, fast):
    every = frames()
    batches = [every[i:i + size] for i in range(0, len(every), size)]
    before = native.use(fast)
    try:
        framewise, batched = read(batches, batch=False), read(batches, batch=True)
    finally:
        native.use(before)
    events = [i for i in batched if isinstance(i, Event)]
    assert len(events) > 100
    assert {e.labels.get("log_file_path") for e in events} >= set(SAMPLES)
    assert comparable(batched) == comparable(framewise)


def test_a_read_with_a_frame_in_no_syslog_header_is_read_as_delivery_frames_reads_it():
    doc = (b'{"@timestamp":"2024-03-01T10:15:33Z","host":"mule-01","programname":"app",'
           b'"msg":"INFO  2024-03-01 10:15:33,004 hello"}')
    batches = [[rfc5424("/opt/mule/logs/app.log", "INFO  x"), doc, b"a bare line"]]
    batched = read(batches, batch=True)
    assert comparable(batched) == comparable(read(batches, batch=False))
    assert len(batched) >= 2


def test_decode_splits_at_the_seams_only():
    assert syslog_frames.decode([b"a", b"b\xff", b"\xe2\x82", b"d"]) == [
        "a", "b\ufffd", "\ufffd", "d"]
    assert syslog_frames.decode([b"a\nb", b"c"]) == ["a\nb", "c"]


def test_headers_read_from_the_frame_before_are_those_read_in_full():
    """``match_all`` reads a header that repeats the one before past its time from that one:
    the same as ``match`` of each frame, also where it must not shortcut."""
    head = '<134>1 {} mule-01 app - - [file@32473 path="/opt/a.log"]'
    texts = [head.format("2024-03-01T10:15:33.004Z") + " INFO a",
             head.format("2024-03-01T10:15:34.117Z") + " INFO b",  # another time
             head.format("-") + " INFO c",  # no time
             head.format("2024-03-01T10:15:34\t.117Z") + " INFO d",  # whitespace: no header
             head.format("2024-03-01T10:15:35Z") + " \ufeffINFO e\r",
             head.format("2024-03-01T10:15:35Z") + "[x] f",  # a second SD element: read in full
             head.format("2024-03-01T10:15:35Z") + "g",  # MSG without the space
             head.format("2024-03-01T10:15:35Z") + " h",
             head.replace("/opt/a.log", "/opt/b.log").format("2024-03-01T10:15:36Z") + " i",
             "<13>Mar  1 10:15:33 gw-01 nginx[42]: j",
             head.format("2024-03-01T10:15:37Z") + " k",
             head.replace("app", "-").format("2024-03-01T10:15:37Z") + " l",
             '{"msg": "m"}']
    from collector.envelopes import syslog

    assert syslog.match_all(texts) == [syslog.match(t) for t in texts]
    assert [f.line if f else None for f in syslog.match_all(texts)] == [
        "INFO a", "INFO b", "INFO c", None, "INFO e", "f", "g", "h", "i", "j", "k", "l",
        None]
