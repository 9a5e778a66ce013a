"""What a dead letter keeps of a Kafka value, an OTLP request or event, a crashed request:
one helper (``collector.parse.dead_letter_raw``), masked with the install's key, bounded."""

from __future__ import annotations

import base64

import orjson

from collector.event import DeadLetter
from collector.inputs.request_guard import crashed_request
from collector.normalize import token
from collector.parse import dead_letter_raw
from collector.parsers._base import ParseContext

PAN = "4111111111111111"
KEY = b"k" * 32
CTX = ParseContext(now_ms=1, redact_key=KEY)


def test_text_bytes_and_objects_are_masked_with_the_configured_key():
    card = token("card", PAN, KEY)
    assert dead_letter_raw(f"paid with {PAN}", CTX) == f"paid with {card}"
    assert dead_letter_raw(f"paid with {PAN} \xff".encode("latin-1"), CTX) == \
        f"paid with {card} \ufffd"
    assert dead_letter_raw({"pan": PAN, "to": "A.B@C.example"}, CTX) == orjson.dumps(
        {"pan": card, "to": token("email", "A.B@c.example", KEY)}).decode()
    assert dead_letter_raw({1j: PAN}, CTX) == "{1j: '" + card + "'}"  # not JSON: its repr


def test_bounded_and_a_card_across_the_bound_is_still_masked():
    text = "x" * (DeadLetter.MAX_RAW - 8) + PAN + "y" * (3 * DeadLetter.MAX_RAW)
    for value in (text, text.encode()):
        raw = dead_letter_raw(value, CTX)
        assert raw == ("x" * (DeadLetter.MAX_RAW - 8) + token("card", PAN, KEY))[
            : DeadLetter.MAX_RAW]
        assert PAN[:8] not in raw


def test_a_crashed_json_request_keeps_masked_text_and_other_bodies_base64():
    body = orjson.dumps({"resourceLogs": [{"body": f"card {PAN}"}]})
    dead = crashed_request(body, "application/json", "otlp:/v1/logs", CTX)
    assert PAN not in dead.raw and token("card", PAN, KEY) in dead.raw
    proto = crashed_request(b"\x0a\x03abc", "application/x-protobuf", "otlp:/v1/logs", CTX)
    assert base64.b64decode(proto.raw) == b"\x0a\x03abc"
