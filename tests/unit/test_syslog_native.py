"""The native reader of syslog headers (native/src/syslog.rs, ``native.syslog_runs``) against
the Python reader it stands in for (``collector.envelopes.syslog.match_all`` grouped by
``shipped.runs``): for each frame shape the senders write, and odd ones, the same runs and
messages, or the read declined (then the Python reader reads it). The frames are written as
the senders' documentation and source show them (no sender runs here: a contract test)."""

from __future__ import annotations

import os

import pytest

from collector import native
from collector.envelopes import shipped, syslog
from collector.envelopes.shipped import runs

LINE = "INFO  2024-03-01 10:15:32,123 [[MuleRuntime].uber.03: [order-api].flow] event: 1-abc ok"
# Frames the native reader must read (else the fast path would only ever decline).
READ = {
    # rsyslog, RSYSLOG_SyslogProtocol23Format of an imfile line (PROCID, MSGID and SD nil).
    "rsyslog protocol23": f"<134>1 2024-03-01T10:15:33.004123+00:00 mule-01 mule - - - {LINE}",
    # rsyslog or syslog-ng with docs/shipping.md's template: the file path in an SD element.
    "documented template": f'<134>1 2024-03-01T10:15:33.004Z mule-01 mule - - '
                           f'[file@32473 path="/opt/mule/logs/order-api.log"] {LINE}',
    # syslog-ng's syslog() driver adds [meta sequenceId]; with the path element after it.
    "syslog-ng meta": f'<134>1 2024-03-01T10:15:33+00:00 mule-01 mule - - [meta sequenceId="1"]'
                      f'[file@32473 filename="/opt/mule/logs/order-api.log"] {LINE}',
    "syslog-ng meta only": f'<134>1 2024-03-01T10:15:33+00:00 mule-01 mule - - '
                           f'[meta sequenceId="12" sysUpTime="34"] {LINE}',
    # The OpenTelemetry Collector's syslog exporter (rfc5424), with and without SD.
    "otel exporter": f'<134>1 2024-03-01T10:15:33.004Z mule-01 mule 4242 ID47 '
                     f'[SecureAuth@27389 PEN="27389"] {LINE}',
    "otel exporter no sd": f"<134>1 2024-03-01T10:15:33.004Z mule-01 mule 4242 - - {LINE}",
    # Docker's syslog driver, syslog-format rfc5424 and rfc5424micro (tag as APP-NAME and
    # MSGID, the pid as PROCID, SD nil).
    "docker rfc5424": f"<30>1 2024-03-01T10:15:33Z docker-01 0a1b2c3d4e5f 1234 0a1b2c3d4e5f - {LINE}",
    "docker rfc5424micro": f"<30>1 2024-03-01T10:15:33.004123Z docker-01 mule-app 1 mule-app - {LINE}",
    # Odd ones.
    "all nil": "<134>1 - - - - - - hello",
    "nil sd no msg": "<134>1 2024-03-01T10:15:33Z h a - - -",
    "bom": f"<134>1 2024-03-01T10:15:33Z mule-01 mule - - - \ufeff{LINE}",
    "bom after sd": f'<134>1 2024-03-01T10:15:33Z mule-01 mule - - [x@1 path="/a.log"] \ufeff{LINE}',
    "long app name": f"<134>1 2024-03-01T10:15:33Z mule-01 {'a' * 60} - - - {LINE}",
    "msg right after sd": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 file="/a.log"]no-space',
    "crlf end": f"<134>1 2024-03-01T10:15:33Z h a - - - {LINE}\r\n",
    "two spaces": f"<134>1 2024-03-01T10:15:33Z h a - -  {LINE}",
    "empty path then file": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 path="" file="/b.log"] m',
    "path named twice": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 path="/a"][y@1 path="/b"] m',
    "sd not closed": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 path="/a" m',
    "sd value with bracket": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 path="/a]b"] m',
    "sd no params": "<134>1 2024-03-01T10:15:33Z h a - - [x@1] m",
    "sd garbage": "<134>1 2024-03-01T10:15:33Z h a - - -x m",
    "pri 999": f"<999>1 2024-03-01T10:15:33Z h a - - - {LINE}",
    "pri 0": f"<0>1 2024-03-01T10:15:33Z h a - - - {LINE}",
    "non-ascii msg": "<134>1 2024-03-01T10:15:33Z h a - - - caf\u00e9 \u20ac",
    "non-ascii path": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 path="/d\u00e9p\u00f4t.log"] m',
    "stack trace in one frame": "<134>1 2024-03-01T10:15:33Z h a - - - java.lang.Error: x\n\tat a.b(C.java:1)",
    "no time": f"<134>1 - mule-01 mule - - - {LINE}",
}
# Frames it must decline (a read holding one is read by Python whole).
DECLINED = {
    "rfc3164 rsyslog": f"<134>Mar  1 10:15:33 mule-01 mule: {LINE}",
    "docker rfc3164": f"<30>Mar  1 10:15:33 docker-01 0a1b2c3d4e5f[1234]: {LINE}",
    "pri 1000": f"<1000>1 2024-03-01T10:15:33Z h a - - - {LINE}",
    "pri empty": f"<>1 2024-03-01T10:15:33Z h a - - - {LINE}",
    "escape in sd": '<134>1 2024-03-01T10:15:33Z h a - - [x@1 path="C:\\\\logs\\\\a.log"] m',
    "tab in header": f"<134>1 2024-03-01T10:15:33Z\th a - - - {LINE}",
    "non-ascii host": f"<134>1 2024-03-01T10:15:33Z h\u00f6st a - - - {LINE}",
    "unit separator in header": f"<134>1 2024-03-01T10:15:33Z h\x1fx a - - - {LINE}",
    "version 2": f"<134>2 2024-03-01T10:15:33Z h a - - - {LINE}",
    "header cut": "<134>1 2024-03-01T10:15:33Z h a -",
    "json": '{"msg": "m"}',
}

needs_native = pytest.mark.skipif(native.syslog_runs() is None,
                                  reason="midwatch_native not built (make venv builds it)")


def test_native_syslog_reader_is_built_in_ci() -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("outside CI the extension is optional")
    assert native.syslog_runs() is not None, "rebuild native/ (make venv)"


def python(texts: list[str]) -> list:
    return runs(syslog.match_all(texts))


@needs_native
@pytest.mark.parametrize("name", sorted(READ))
@pytest.mark.parametrize("copies", [1, 4])
def test_each_frame_shape_is_read_as_the_python_reader_reads_it(name, copies):
    texts = [READ[name]] * copies
    got = native.syslog_runs()(texts)
    assert got is not None, f"declined: {name}"
    assert shipped.grouped(got) == python(texts)


@needs_native
@pytest.mark.parametrize("name", sorted(DECLINED))
def test_frames_it_cannot_reproduce_decline_the_read(name):
    assert native.syslog_runs()([READ["documented template"], DECLINED[name]]) is None


@needs_native
def test_a_read_of_many_senders_groups_as_runs_groups_it():
    """Runs of one host, path and program, broken where the source changes or a frame
    holds a line feed; times differing frame to frame (the reader's time cache)."""
    texts = []
    for second in range(8):
        texts += [READ["documented template"].replace(":33.004Z", f":{second:02d}.004Z")] * 3
        texts += [READ["docker rfc5424"], READ["stack trace in one frame"], READ["all nil"]]
        texts += [READ["syslog-ng meta"]] * (second % 4)
    got = native.syslog_runs()(texts)
    assert got is not None
    ours = shipped.grouped(got)
    assert ours == python(texts)
    assert sum(isinstance(found, shipped.Run) for found in ours) >= 8


def mutated(rng, frame, alphabet):
    """``frame`` (text or bytes) with one to three pieces of ``alphabet`` inserted or
    characters dropped at random places."""
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(frame) + 1)
        if rng.random() < 0.7:
            frame = frame[:at] + rng.choice(alphabet) + frame[at:]
        else:
            frame = frame[:at] + frame[at + 1:]
    return frame


@needs_native
def test_frames_mutated_at_random_read_as_python_reads_them_or_declined():
    """Each frame shape with characters that matter to the header and the SD grammar
    inserted or dropped at random: wherever the native reader reads a frame, Python reads it
    alike."""
    import random

    rng = random.Random(27)
    alphabet = ['[', ']', '"', ' ', '-', '=', '\ufeff', '\n', '\r', '\t', 'é', '\\', '<', '>',
                '1', 'path', ' path="/x"', '[a@1', '- ', '\x1f']
    shapes = list(READ.values())
    read = 0
    for _ in range(3000):
        text = mutated(rng, rng.choice(shapes), alphabet)
        texts = [text] * 3
        got = native.syslog_runs()(texts)
        if got is not None:
            read += 1
            assert shipped.grouped(got) == python(texts), repr(text)
    assert read > 1000


@needs_native
@pytest.mark.parametrize("name", sorted(READ))
def test_frames_given_as_read_bytes_are_read_as_their_text(name):
    """The syslog input hands the reader its frames as read: decoded natively, the same
    runs as the text Python decodes."""
    texts = [READ[name]] * 4
    got = native.syslog_runs()([text.encode() for text in texts])
    assert got is not None, f"declined: {name}"
    assert shipped.grouped(got) == python(texts)


@needs_native
@pytest.mark.parametrize("bad", [b"\xe9", b"\xed\xa0\x80", b"\xc3", b"\xff", b"\xf4\x90\x80\x80"])
def test_frames_not_in_valid_utf8_decline_the_read(bad):
    """A Latin-1 byte, an encoded surrogate, a cut sequence, a byte UTF-8 never holds, a code
    point past U+10FFFF: Python replaces them, so Python reads the read."""
    good = READ["documented template"].encode()
    assert native.syslog_runs()([good, good + bad, good]) is None
    assert native.syslog_runs()([good, bad + good]) is None


@needs_native
def test_frames_in_another_buffer_decline_the_read():
    good = READ["documented template"].encode()
    assert native.syslog_runs()([good, bytearray(good)]) is None
    assert native.syslog_runs()([good, memoryview(good)]) is None


@needs_native
def test_frames_bytes_mutated_at_random_read_as_python_decodes_and_reads_them_or_declined():
    """Frames as read, with bytes inserted or dropped at random (invalid UTF-8 among them):
    wherever the native reader reads a read, Python's decoding and reading give the same."""
    import random

    from collector.inputs.syslog_frames import decode

    rng = random.Random(2027)
    alphabet = [b'[', b']', b'"', b' ', b'-', b'\xe9', b'\xc3\xa9', b'\xed\xa0\x80', b'\xff',
                b'\n', b'\r', b'\xef\xbb\xbf', b'\\', b'<', b'1', b' path="/x"']
    shapes = [text.encode() for text in READ.values()]
    read = 0
    for _ in range(2000):
        frame = mutated(rng, rng.choice(shapes), alphabet)
        frames = [frame, rng.choice(shapes), frame]
        got = native.syslog_runs()(frames)
        if got is not None:
            read += 1
            assert shipped.grouped(got) == python(decode(frames)), repr(frame)
    assert read > 500
