"""event.original: the source line an event was parsed from, kept for the explorer; redacted
like the fields, bounded, left out where it could leak or would repeat."""

import io

import orjson

from collector.event import from_doc, to_doc
from collector.normalize import MAX_ORIGINAL, REDACTED, TRUNCATED
from collector.parse import parse_stream
from collector.parsers._base import ParseContext

CTX = ParseContext(now_ms=1_764_500_000_000)
MULE = ("INFO  2026-12-01 10:00:00,123 [[orders].http.listener.02 SelectorRunner] "
        "[processor: orders/processors/0; event: 1-abc] org.mule.LoggerMessageProcessor: "
        "order 4711 paid with 4111 1111 1111 1111 by jane.doe@example.com\n")


def _events(text: str, fmt: str = "auto", ctx: ParseContext = CTX) -> list:
    return list(parse_stream(io.BytesIO(text.encode()), "app.log", fmt, ctx))


def test_the_source_line_is_kept_with_cards_and_emails_redacted_and_round_trips():
    (ev,) = _events(MULE)
    assert ev.platform == "mulesoft"
    assert ev.original.startswith("INFO  2026-12-01 10:00:00,123 [[orders]")
    assert "4111" not in ev.original and "jane.doe@example.com" not in ev.original
    assert "[card:" in ev.original and "[email:" in ev.original
    doc = to_doc(ev)
    assert doc["event"]["original"] == ev.original
    assert from_doc(orjson.loads(orjson.dumps(doc))).original == ev.original
    assert "original" not in to_doc(ev, original=False)["event"]


def test_a_configured_field_redaction_drops_the_line_rather_than_risk_it():
    ctx = ParseContext(now_ms=CTX.now_ms, redact_fields=("message",))
    (ev,) = _events(MULE, ctx=ctx)
    assert ev.message == REDACTED
    assert ev.original is None


def test_a_record_of_many_events_does_not_repeat_itself_in_each():
    edi = ("ISA*00*          *00*          *ZZ*ACME           *ZZ*GLOBEX         *261201*1000*U*"
           "00401*000000001*0*P*>~GS*PO*ACME*GLOBEX*20261201*1000*1*X*004010~ST*850*0001~"
           "BEG*00*SA*PO-1**20261201~SE*3*0001~ST*850*0002~BEG*00*SA*PO-2**20261201~SE*3*0002~"
           "GE*2*1~IEA*1*000000001~\n")
    events = _events(edi, "x12")
    assert len(events) > 1
    assert all(ev.original is None for ev in events)


def test_a_long_record_is_cut_and_said_so():
    line = "2026-12-01 10:00:00,123 INFO [main] c.e.App - " + "x" * (MAX_ORIGINAL + 500) + "\n"
    (ev,) = _events(line, "text")
    assert len(ev.original) == MAX_ORIGINAL and ev.original.endswith(TRUNCATED)
    assert "event.original" in ev.labels["midwatch_truncated"].split(",")
