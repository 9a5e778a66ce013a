import pytest

from collector.event import Event
from collector.normalize import (
    classify_error,
    luhn_ok,
    message_template,
    normalize,
    normalize_level,
    redact_text,
)
from collector.parsers._base import ParseContext

CTX = ParseContext(now_ms=1_000)


def ev(**kw) -> Event:
    kw.setdefault("timestamp_ms", 0)
    return Event(dataset="test", platform="generic", **kw)


@pytest.mark.parametrize("raw,level", [
    ("WARNING", "warn"), ("ERR", "error"), ("SEVERE", "error"), ("TRACE", "debug"),
    ("CRITICAL", "fatal"), ("Information", "info"), ("FINEST", "debug"), ("3", "error"),
    ("4", "warn"), (None, "info"), ("bogus", "info"), ("  Fatal ", "fatal"),
])
def test_levels(raw, level):
    assert normalize_level(raw) == level


def test_cards_are_luhn_checked_and_emails_masked():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    text = "paid 4111-1111-1111-1111 not 4111 1111 1111 1112 by a.b@example.org order 20240301123456"
    card, email = redact_text("4111111111111111"), redact_text("a.b@example.org")
    assert redact_text(text) == (f"paid {card} not 4111 1111 1111 1112 by "
                                 f"{email} order 20240301123456")
    assert redact_text(text, cards=False, emails=False) == text


def test_redaction_reaches_labels_ids_and_configured_fields():
    e = ev(message="x", labels={"email": "jo@example.com", "ssn": "123-45-6789"},
           ids=["customer:jo@example.com"], partner="ACME")
    normalize(e, ParseContext(redact_fields=("labels.ssn", "midwatch.partner")))
    email = redact_text("jo@example.com")
    assert email.startswith("[email:") and e.labels["email"] == email
    assert e.labels["ssn"] == "[REDACTED]"
    assert e.ids == [f"customer:{email}"] and e.partner == "[REDACTED]"


@pytest.mark.parametrize("fields,expected", [
    ({"error_type": "HTTP:CONNECTIVITY"}, "connectivity"),
    ({"error_message": "java.net.ConnectException: Connection refused"}, "connectivity"),
    ({"error_message": "Connection reset by peer"}, "connectivity"),
    ({"error_message": "Read timed out after 30000 ms"}, "timeout"),
    ({"error_type": "HTTP:TIMEOUT", "error_message": "connection lost"}, "timeout"),
    ({"error_message": "HTTP POST failed: status code 401"}, "auth"),
    ({"error_message": "The remote server returned an error: (403) Forbidden."}, "auth"),
    ({"error_message": "PKIX path building failed: unable to find valid certification path"},
     "certificate"),
    ({"error_message": "javax.net.ssl.SSLHandshakeException: Received fatal alert: "
                       "handshake_failure"}, "certificate"),
    ({"error_message": "certificate has expired"}, "certificate"),
    ({"error_type": "MULE:EXPRESSION", "error_message": "Cannot coerce String to Number"},
     "mapping"),
    ({"error_message": "cvc-complex-type.2.4.a: Invalid content"}, "validation"),
    ({"error_message": "HTTP 429 Too Many Requests"}, "throttling"),
    ({"error_message": "Violation of PRIMARY KEY constraint: duplicate key"}, "duplicate"),
    ({"error_message": "java.lang.OutOfMemoryError: Java heap space"}, "resource"),
    ({"error_message": "something odd happened"}, "unknown"),
])
def test_error_classes(fields, expected):
    assert classify_error(ev(level="error", **fields)) == expected


def test_template_masks_variables():
    text = ("Order 4711 for jo@example.com failed at 2024-03-01T10:15:32.123Z on 10.1.2.3 "
            "host sap01.corp.internal id 6f1c2e40-d7a1-11ee-9a3c-0242ac120002 "
            "ref deadbeef1234 name 'ACME GmbH' took 250ms")
    assert message_template(text) == (
        "Order <n> for <email> failed at <ts> on <ip> host <host> id <uuid> ref <hex> "
        "name '<str>' took <n>")
    assert message_template("java.io.IOException: closed") == "java.io.IOException: closed"


def test_same_error_different_variables_same_signature():
    a = normalize(ev(level="error", message="Order 4711 rejected by 10.0.0.1"), CTX)
    b = normalize(ev(level="error", message="Order 99 rejected by 10.0.0.7"), CTX)
    c = normalize(ev(level="error", message="Order 99 accepted late"), CTX)
    assert a.signature == b.signature != c.signature
    assert a.labels["signature_template"] == "Order <n> rejected by <ip>"


def test_outcome_action_message_id_and_dedupe():
    e = normalize(ev(level="ERROR", ids=["order:1", "order:1", "correlation:x", "empty:"]), CTX)
    assert (e.level, e.outcome, e.action) == ("error", "failure", "failed")
    assert e.ids == ["order:1", "correlation:x"] and e.message_id == "order:1"
    assert e.ingested_ms == 1_000
    info = normalize(ev(level="info", message="fine"), CTX)
    assert (info.outcome, info.action, info.error_class, info.signature) == (
        "unknown", None, None, None)


def test_parser_values_are_kept():
    e = normalize(ev(level="error", outcome="failure", action="rejected", message_id="order:7",
                     error_class="validation", ids=["x:1"]), CTX)
    assert (e.action, e.message_id, e.error_class) == ("rejected", "order:7", "validation")


def test_huge_messages_are_bounded():
    e = normalize(ev(message="x" * 100_000, error_stack_trace="y" * 200_000), CTX)
    assert len(e.message) == 32 * 1024 and len(e.error_stack_trace) == 64 * 1024


def test_label_keys_are_stored_lower_case_whoever_set_them():
    # Review M: a plug-in parser may set ``ev.labels`` directly, in the source's case; a rule
    # naming ``labels.ibmmq.queueManager`` is refused at load (``rules.fields``), and one
    # naming the lower-case key never matched what was stored.
    ev = normalize(Event(1_000, "d", "p", "m", labels={"ibmmq.queueManager": "QM1",
                                                        "orderid": "7", "Ärger": "x"}), CTX)
    assert ev.labels == {"ibmmq.queuemanager": "QM1", "orderid": "7", "ärger": "x"}
    same = {"orderid": "7", "mule_flow": "f"}
    assert normalize(Event(1_000, "d", "p", "m", labels=same), CTX).labels is same
