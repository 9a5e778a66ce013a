"""A long line with an "@" in it is redacted in linear time.

The email pattern was tried at every position of a run of local-part characters, each try
running to the run's end: quadratic. A 32 KiB message holding an email took 2.7 s; a Mule
line over ``max_line_bytes`` (its thread name has an "@") is dead-lettered with its text
masked, and `midwatch parse` of one such line ran for over ten minutes.
"""

from __future__ import annotations

import io
import time

from collector.event import DeadLetter, Event
from collector.normalize import redact_text
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

MULE = ("INFO  2026-12-07 07:00:0{n},123 [[MuleRuntime].uber.03: [orders].orderFlow.CPU_LITE "
        "@1a2b] [processor: orderFlow/processors/0; event: corr-{n}] "
        "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: {text}\n")


def test_a_long_run_before_an_email_is_redacted_quickly():
    text = "x" * 256_000 + " bob@example.com, " + "y" * 256_000 + "@"
    started = time.monotonic()
    out = redact_text(text)
    assert time.monotonic() - started < 2.0  # took minutes: quadratic in the run
    assert "bob@example.com" not in out and out.count("[email:") == 1
    assert out.startswith("x" * 256_000) and out.endswith("y" * 256_000 + "@")


def test_emails_found_as_before():
    out = redact_text("to a.b+c@Example.COM, x@y.de; (z_1@q.org) thread@5a1b foo@bar")
    assert out.count("[email:") == 3
    assert out.endswith("thread@5a1b foo@bar")


def test_an_over_long_mule_line_is_dead_lettered_quickly():
    text = MULE.format(n=1, text="x" * 1_100_000) + MULE.format(n=2, text="next")
    started = time.monotonic()
    out = list(parse_stream(io.BytesIO(text.encode()), "mule.log", "mule",
                            ParseContext(now_ms=1_796_000_000_000)))
    assert time.monotonic() - started < 10.0
    (dead,) = [d for d in out if isinstance(d, DeadLetter)]
    assert dead.reason.startswith("line_too_long") and dead.line == 1
    assert [e.ids for e in out if isinstance(e, Event)] == [["correlation:corr-2"]]
