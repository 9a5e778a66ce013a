import io
from pathlib import Path

import pytest

from collector.event import Record, iso_to_ms
from collector.parse import ParseStats, parse_stream
from collector.parsers import edifact
from collector.parsers._base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)
DATA = Path(__file__).resolve().parents[2] / "data"
US, SUPPLIER = "5412345000013", "4012345000009"


def interchange(*, una: str = "UNA:+.? '", body: tuple[str, ...] = ("BGM+220+PO-1+9",),
                control: str = "REF42", msg_type: str = "ORDERS") -> str:
    segs = [f"UNB+UNOC:3+{SUPPLIER}:14+{US}:14+240301:0930+{control}",
            f"UNH+M1+{msg_type}:D:96A:UN", *body, f"UNT+{len(body) + 2}+M1",
            f"UNZ+1+{control}"]
    return una + "'\n".join(segs) + "'\n"


def parse(text: str, ctx: ParseContext = CTX):
    return edifact.parse(Record(text=text, source="t.edi"), ctx)


def only_failure(events):
    failures = [e for e in events if e.outcome == "failure"]
    assert len(failures) == 1, [e.message for e in failures]
    assert failures[0].error_class == "validation"
    assert failures[0].error_type == "edifact.envelope"
    return failures[0]


def test_orders_one_event_per_message(parse_data):
    events, dead = parse_data("edifact", "edifact/orders.edi", edi_own_ids=frozenset({US}))
    assert dead == []
    first, second = events
    assert first.ids == [f"edifact.unh:{US}>{SUPPLIER}:ICR00017:1",
                         f"edifact.unb:{US}>{SUPPLIER}:ICR00017", "order:PO-4711",
                         f"edifact.unh:{US}>{SUPPLIER}:ICR00017:1/ORDERS"]
    assert (first.action, first.partner, first.outcome) == ("sent", SUPPLIER, "success")
    assert first.timestamp_ms == iso_to_ms("2024-03-01T09:30:00Z")
    assert first.labels["edifact_message_type"] == "ORDERS"
    assert first.labels["edifact_message_version"] == "D:96A:UN"
    assert "order:PO-4712" in second.ids


def test_contrl_links_to_the_original_orders(parse_data):
    own = frozenset({US})
    orders, _ = parse_data("edifact", "edifact/orders.edi", edi_own_ids=own)
    acks, dead = parse_data("edifact", "edifact/contrl.edi", edi_own_ids=own)
    assert dead == []
    uci, ucm_ok, ucm_rejected, interchange_rejected, received = acks
    assert uci.ids == [orders[0].ids[1]]
    assert (uci.action, uci.outcome) == ("acknowledged", "success")
    # the ID by type a UCM builds (``_typed_id``), which each message has too
    assert ucm_ok.ids[0] == orders[0].ids[-1] and ucm_ok.action == "acknowledged"
    assert ucm_rejected.ids[0] == orders[1].ids[-1] != orders[0].ids[-1]
    assert (ucm_rejected.action, ucm_rejected.outcome, ucm_rejected.error_class) == (
        "rejected", "failure", "validation")
    assert ucm_rejected.error_message == "segment 4: 13 (missing); element 3.2: 12 (invalid value)"
    assert {e.partner for e in acks} == {SUPPLIER}
    assert interchange_rejected.error_code == "29"
    assert interchange_rejected.ids == [f"edifact.unb:{US}>{SUPPLIER}:ICR00018"]
    assert (received.action, received.outcome) == ("delivered", "success")


def test_groups_and_one_line_interchanges(parse_data):
    events, dead = parse_data("edifact", "edifact/supplier-documents.edi")
    assert dead == []
    desadv, invoic = events
    assert {"shipment:SHP-5521", "order:PO-4711"} <= set(desadv.ids)
    assert {"invoice:INV-88120", "order:PO-4711"} <= set(invoic.ids)
    assert all(e.outcome == "success" for e in events)
    assert desadv.partner == SUPPLIER  # no own IDs configured: documents assumed inbound


def test_release_character_escapes_separators():
    (ev,) = parse(interchange(body=("BGM+220+PO?+77?'A+9",)))
    assert "order:PO+77'A" in ev.ids


def test_una_with_other_service_characters():
    text = "UNA|*.? '" + interchange(una="").replace(":", "|").replace("+", "*")
    (ev,) = parse(text)
    assert ev.outcome == "success" and "order:PO-1" in ev.ids
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T09:30:00Z")
    assert ev.labels["edifact_message_type"] == "ORDERS"


def test_service_characters_inferred_without_una():
    text = interchange(una="").replace("'\n", "~")
    (ev,) = parse(text)
    assert ev.outcome == "success"
    assert ev.ids[0] == f"edifact.unh:{SUPPLIER}>{US}:REF42:M1"



@pytest.mark.parametrize("fmt", ["edifact", "auto"])
def test_level_b_information_separators(parse_data, fmt):
    """UNOB without UNA: IS4/IS3/IS1 (0x1C/0x1D/0x1F) are its separators. Read as blanks they
    made the interchange unreadable; read with the level A release character, the ``?`` that
    ends the FTX text escaped the terminator and swallowed the UNT."""
    events, dead = parse_data(fmt, "edifact/level-b-separators.edi")
    assert dead == []
    (ev,) = events
    assert ev.outcome == "success", ev.message
    assert ev.ids == ["edifact.unh:SENDERGLN>BUYERGLN:2001:1", "edifact.unb:SENDERGLN>BUYERGLN:2001",
                      "order:PO-2001", "edifact.unh:SENDERGLN>BUYERGLN:2001:1/ORDERS"]
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T09:30:00Z")
    assert ev.labels["edifact_syntax"] == "UNOB:3"

def test_bare_una_record_is_empty():
    assert parse("UNA:+.? '") == []


@pytest.mark.parametrize("mutate, reason", [
    (lambda t: t.replace("UNZ+1+REF42'\n", ""),
     "interchange REF42 has no UNZ trailer (found the end of the record)"),
    (lambda t: t.replace("UNZ+1+REF42", "UNZ+1+REF43"),
     "UNZ 0020 'REF43' does not match UNB 0020 'REF42'"),
    (lambda t: t.replace("UNZ+1+", "UNZ+2+"), "UNZ 0036 says 2 messages, interchange REF42 has 1"),
])
def test_interchange_defects(mutate, reason):
    ev = only_failure(parse(mutate(interchange())))
    assert ev.error_message == reason
    assert ev.ids == [f"edifact.unb:{SUPPLIER}>{US}:REF42"]


@pytest.mark.parametrize("mutate, reason", [
    (lambda t: t.replace("UNT+3+M1", "UNT+3+M2"), "UNT 0062 'M2' does not match UNH 0062 'M1'"),
    (lambda t: t.replace("UNT+3+", "UNT+5+"),
     "UNT 0074 says 5 segments, message has 3 (counting UNH and UNT)"),
    (lambda t: t.replace("UNT+3+M1'\n", ""), "message has no UNT trailer (found UNZ at segment 4)"),
])
def test_message_defects_fail_the_message(mutate, reason):
    ev = only_failure(parse(mutate(interchange())))
    assert ev.error_message == f"{reason} (ORDERS M1 in interchange REF42)"
    assert ev.ids[0] == f"edifact.unh:{SUPPLIER}>{US}:REF42:M1"


def test_group_defects():
    text = interchange().replace("UNH+", "UNG+ORDERS+A+B+240301:0930+G7+UN+D:96A'\nUNH+")
    ev = only_failure(parse(text))
    assert ev.error_message == "functional group G7 has no UNE trailer (found UNZ at segment 6)"
    closed = text.replace("UNZ+", "UNE+1+G8'\nUNZ+")
    assert only_failure(parse(closed)).error_message == "UNE 0048 'G8' does not match UNG 0048 'G7'"


def test_truncated_and_unusable_service_strings(parse_data):
    events, dead = parse_data("edifact", "edifact/malformed.edi")
    assert dead == []
    reasons = [e.error_message for e in events if e.outcome == "failure"]
    assert all(e.error_class == "validation" for e in events if e.outcome == "failure")
    assert reasons[-2] == ("UNA service string advice truncated: 6 characters, expected 9 "
                           "(UNA plus 6 service characters)")
    assert reasons[-1].startswith("service characters are unusable (component ':', element '+'")
    assert len(reasons) == 8


def test_contrl_without_uci_is_invalid():
    ev = only_failure(parse(interchange(msg_type="CONTRL", body=("UCM+1+ORDERS:D:96A:UN+7",))))
    assert ev.error_message == "CONTRL without a UCI segment: nothing is acknowledged"


def test_not_edifact():
    with pytest.raises(ParseError):
        parse("UNHAPPY customer")
    assert edifact.detect("UNB+UNOC:3+X") and edifact.detect("UNA:+.? '")
    assert not edifact.detect("UNBELIEVABLE")


def test_a_two_digit_unb_year_of_the_last_century():
    """UNB dates are YYMMDD in syntax versions 1-3; the specifications' examples are 1994."""
    (ev,) = parse(interchange().replace("+240301:0930+", "+940101:0950+"))
    assert ev.timestamp_ms == iso_to_ms("1994-01-01T09:50:00Z")


def test_a_customs_contrl_rejecting_an_interchange_names_the_syntax_error():
    """A CargoWise customs CONTRL as received: UCI action 4 with 0085 code 27 at UNB."""
    text = ("UNA:+.? 'UNB+UNOC:3+AAA336C::AAA336C+AAA347M+041210:1319+00000000000001'"
            "UNH+000001+CONTRL:D:3:UN'UCI+00000000261664+AAA374M::AAA374M+AAA336C+4+27+UNB'"
            "UNT+3+000001'UNZ+1+00000000000001'")
    (ev,) = parse(text)
    assert (ev.action, ev.outcome) == ("rejected", "failure")
    assert ev.error_message == "27 (security function not supported); in segment UNB"
    assert ev.timestamp_ms == iso_to_ms("2004-12-10T13:19:00Z")


def test_interchanges_back_to_back_on_one_line_each_with_its_una():
    """As Koha's test files hold them; the second may even choose other service characters."""
    first = interchange(control="REF1").replace("\n", "")
    second = interchange(una="UNA:*.# ~", control="REF2").replace("\n", "").replace(
        "'", "~").replace("+", "*")
    events = parse(first + second)
    assert [e.outcome for e in events] == ["success", "success"]
    assert [e.ids[1] for e in events] == [f"edifact.unb:{SUPPLIER}>{US}:REF1",
                                          f"edifact.unb:{SUPPLIER}>{US}:REF2"]


def test_a_unb_without_syntax_version_and_without_una(parse_data):
    """EdiFabric's CONTRL sample (Files/EDIFACT/CONTRL.txt) writes ``UNB+UNOB+RECEIVER1:1:ZZUK``:
    the syntax identifier has no version, so no component separator follows it, and there is
    no UNA; the components keep the default ``:``."""
    events, dead = parse_data("edifact", "edifact/contrl-unb-without-syntax-version.edi")
    assert dead == []
    assert [(e.action, e.outcome) for e in events] == [("delivered", "success")] * 2
    assert {e.ids[0] for e in events} == {"edifact.unb:SENDER1>RECEIVER1:131"}
    assert events[0].labels["edifact_sender_id"] == "RECEIVER1"
    assert events[0].timestamp_ms == iso_to_ms("2021-09-22T12:20:00Z")


EDIEL_CONTRL = ("UNA:+.? 'UNB+UNOC:3+7300000000001:14+7300000000002:14+261004:1200+A-2'"
                "UNH+1+CONTRL:2:2:UN:EDIEL2'UCI+ORIG-I+7300000000001:14+7300000000002:14+1'"
                "UNT+3+1'UNZ+1+A-2'")


def test_a_withdrawn_action_code_1_acknowledges_the_whole_interchange():
    """The Nordic Ediel CONTRL:2:2 answers with UCI action 1, "acknowledged (this level and
    all lower levels)" in the syntax 3 code lists before 2001 (from a Swedish Ediel inbound
    mail test); it must not come out as an unknown outcome."""
    (uci,) = parse(EDIEL_CONTRL)
    assert (uci.action, uci.outcome) == ("acknowledged", "success")
    assert uci.ids == ["edifact.unb:7300000000001>7300000000002:ORIG-I"]
    assert uci.labels["ack_scope"] == "interchange"


@pytest.mark.parametrize("code, action, outcome", [
    ("2", "acknowledged", "success"), ("3", "acknowledged", "failure"),
    ("5", "delivered", "success"), ("6", "rejected", "failure"),
])
def test_the_other_withdrawn_action_codes(code, action, outcome):
    """2, 3, 5 and 6 say nothing certain of the messages not listed: no scope."""
    (uci,) = parse(EDIEL_CONTRL.replace(":14+1'", f":14+{code}'"))
    assert (uci.action, uci.outcome) == (action, outcome)
    assert "ack_scope" not in uci.labels


def test_a_contrl_with_a_functional_group_response(parse_data):
    """A US CBP ACE CONTRL from a CargoWise eManifest test: UCI, UCF, UCMs with UCS/UCD."""
    events, dead = parse_data("edifact", "edifact/contrl-ace-functional-group.edi")
    assert dead == []
    uci, paxlst, cuscar, counted = events
    pair = "8CWS>CBP-ACE-TEST"
    assert uci.labels["ack_scope"] == "interchange"
    assert uci.labels["ack_except"].split("\n") == [  # by type, in the UCF's group 15
        f"edifact.unh:{pair}:15:{ref}/{kind}/15"
        for ref, kind in (("11", "PAXLST"), ("17", "CUSCAR"), ("18", "CUSCAR"))]
    assert (paxlst.action, cuscar.action, counted.action) == ("acknowledged", "rejected",
                                                              "rejected")
    assert cuscar.error_message.startswith("segment 5: error; element 2.1: 13 (missing)")
    assert counted.error_code == "29"


def test_a_rejected_functional_group_leaves_the_unlisted_messages_open(parse_data):
    """UCF action 4 rejects the group's messages, which the CONTRL does not list: the UCI's 7
    must not acknowledge them through an interchange scope."""
    events, _ = parse_data("edifact", "edifact/contrl-ace-functional-group.edi")
    text = (DATA / "edifact/contrl-ace-functional-group.edi").read_text()
    uci, *answered = parse(text.replace("CBP-ACE-TEST:ZZ+7'\nUCM+11", "CBP-ACE-TEST:ZZ+4'\nUCM+11"))
    assert (uci.action, uci.outcome) == ("acknowledged", "success")
    assert "ack_scope" not in uci.labels and "ack_except" not in uci.labels
    assert "functional groups not acknowledged by UCF: 15 (rejected)" in uci.message
    assert [e.ids for e in answered] == [e.ids for e in events[1:]]


def test_an_aperak_joins_the_document_it_answers_and_reports_its_application_errors():
    """EANCOM's APERAK example 2 (GS1, EANCOM 2000 part II): the buyer reports a duplicate
    invoice number (code 186) on invoice 2744. (The published example spells the segment
    ECR; it is ERC.) Without errors the APERAK is the application's acknowledgement."""
    body = ("BGM+12E::9+10015", "DTM+137:199808231200:203", "RFF+IV:2744",
            "DTM+171:199808231100:203", "NAD+BY+5412345000013::9", "NAD+SU+4012345500004::9",
            "ERC+186::92", "FTX+AAO+++Duplicate invoice number")
    (rejected,) = parse(interchange(body=body, msg_type="APERAK"))
    assert "invoice:2744" in rejected.ids
    assert (rejected.action, rejected.outcome, rejected.level) == ("rejected", "failure",
                                                                   "error")
    assert (rejected.error_type, rejected.error_code, rejected.error_class) == (
        "edifact.APERAK", "186", "validation")
    assert rejected.error_message == "Duplicate invoice number"
    assert rejected.message.endswith(": invoice:2744 rejected (Duplicate invoice number)")

    (accepted,) = parse(interchange(body=("BGM+305+ACK-9+9", "RFF+ON:652744:23"),
                                    msg_type="APERAK"))
    assert "order:652744" in accepted.ids
    assert (accepted.action, accepted.outcome) == ("acknowledged", "success")
    assert accepted.error_code is None


def test_a_una_on_a_line_of_its_own_is_framed_with_its_unb(parse_data):
    """The DFDLSchemas INVOIC (see SOURCES.md): UNA on line 1, UNB on line 2. They were two
    records, the UNA an empty one and the interchange read with inferred characters."""
    stats = ParseStats()
    with (DATA / "edifact" / "invoic-d03b-una-line.edi").open("rb") as stream:
        (ev,) = parse_stream(stream, "invoic.edi", "edifact", CTX, stats)
    assert (stats.records, stats.empty_records) == (1, 0)
    assert ev.outcome == "success" and "invoice:539602" in ev.ids
    assert ev.labels["edifact_syntax"] == "UNOC:4"


def test_the_release_character_of_a_una_on_its_own_line_is_used():
    """The same interchange from a sender whose UNA names another release character (UNA4)
    and releases the apostrophe in "Tolkien's" with it. Read without its UNA, the released
    apostrophe ended the segment and the UNT count no longer matched."""
    text = (DATA / "edifact" / "invoic-d03b-una-line.edi").read_text()
    text = text.replace("UNA:+.?*'", "UNA:+.!*'").replace("Tolkien?'s", "Tolkien!'s")
    events = list(parse_stream(io.BytesIO(text.encode()), "invoic.edi", "auto", CTX))
    assert [(e.outcome, e.error_message) for e in events] == [("success", None)]


def test_a_una_is_not_glued_to_a_later_interchange_without_one():
    assert edifact.continues(["UNA:+.? '"], "UNB+UNOC:3+A+B+240301:0930+1'")
    assert not edifact.continues(["UNA:+.? '", "UNB+UNOC:3+A+B+240301:0930+1'", "UNZ+0+1'"],
                                 "UNB+UNOC:3+A+B+240301:0930+2'")
    assert not edifact.continues(["UNA:+.? 'UNB+UNOC:3+A+B+240301:0930+1'"], "UNB+UNOC:3+A'")
    assert not edifact.continues(["UNA:+.? '"], "UNA:+.? '")


@pytest.mark.parametrize("una", ["", "UNA:+.?*'\n"])
def test_syntax_4_repetitions_are_split_by_the_repetition_separator(una):
    """Syntax 4 (the DFDLSchemas ORDERS, see SOURCES.md): a repeated data element's
    occurrences are split by UNA5, ``*`` by default, as in its COM segment. A repeated BGM
    C002 (as EdiFabric's repetition test writes it) read as one value "220*221"."""
    text = una + (DATA / "edifact" / "orders-d03b-syntax4.edi").read_text().replace(
        "BGM+220+", "BGM+220*221+")
    (ev,) = parse(text)
    assert ev.outcome == "success" and "order:BKOD99" in ev.ids
    assert ev.labels["edifact_document_code"] == "220"
    released = parse(text.replace("BGM+220*221+BKOD99", "BGM+220+BKOD?*99"))
    assert "order:BKOD*99" in released[0].ids


def test_before_syntax_4_the_reserved_una5_is_data():
    """``UNA:+.?*'`` is the UNA many writers put before any syntax version (pydifact, bots,
    IATA PNRGOV): before version 4 UNA5 is reserved and ``*`` in a value is data."""
    (ev,) = parse(interchange(una="UNA:+.?*'", body=("BGM+220+PO*4711+9",)))
    assert "order:PO*4711" in ev.ids


def test_an_invoice_referencing_several_orders_joins_none_of_them():
    """A consolidated INVOIC: line items reference two orders (RFF+ON in segment group 30),
    so linking both would merge the two orders' traces; one order is linked as before."""
    body = ("BGM+380+INV-7+9", "RFF+ON:PO-1", "LIN+1++4000862141404:SRS", "RFF+ON:PO-2")
    (ev,) = parse(interchange(msg_type="INVOIC", body=body))
    assert "invoice:INV-7" in ev.ids and not [i for i in ev.ids if i.startswith("order:")]
    body = ("BGM+380+INV-8+9", "RFF+ON:PO-1", "LIN+1++4000862141404:SRS", "RFF+ON:PO-1")
    (ev,) = parse(interchange(msg_type="INVOIC", body=body))
    assert "order:PO-1" in ev.ids


def test_a_message_reference_repeated_in_its_interchange_is_not_merged_with_the_first():
    """UNH 0062 is unique within an interchange; senders that write 1 for every message made
    two orders one ``edifact.unh`` ID and merged their traces silently. The repeat is a
    validation failure naming the first, with an ``edifact.unh`` ID of its own (``#2``)."""
    segs = ["UNB+UNOC:3+5412345000013:14+4012345000023:14+240301:0930+DUP1",
            "UNH+1+ORDERS:D:96A:UN", "BGM+220+PO-4+9", "UNT+3+1",
            "UNH+1+ORDERS:D:96A:UN", "BGM+220+PO-5+9", "UNT+3+1", "UNZ+2+DUP1"]
    first, second = edifact.parse(Record(text="'\n".join(segs) + "'\n", source="t.edi"), CTX)
    pair = "5412345000013>4012345000023"
    assert first.outcome == "success" and first.ids[0] == f"edifact.unh:{pair}:DUP1:1"
    assert "order:PO-4" in first.ids and "order:PO-5" in second.ids
    assert not set(first.ids) & set(second.ids) - {f"edifact.unb:{pair}:DUP1"}
    assert (second.outcome, second.error_class, second.error_type) == (
        "failure", "validation", "edifact.envelope")
    assert "UNH 0062 1 repeats" in second.error_message
    assert second.message_id != first.message_id
    assert second.ids[0] == f"edifact.unh:{pair}:DUP1:1#2"


@pytest.mark.parametrize("segs", [
    ["UNG+ORDERS+5412345000013+4012345000023+240301:0930+G1", "UNH+1+ORDERS:D:96A:UN",
     "BGM+220+PO-4+9", "UNT+3+1", "UNE+1+G1",
     "UNG+ORDERS+5412345000013+4012345000023+240301:0930+G2", "UNH+1+ORDERS:D:96A:UN",
     "BGM+220+PO-5+9", "UNT+3+1", "UNE+1+G2"],
    ["UNH+1+ORDERS:D:96A:UN", "BGM+220+PO-4+9", "UNT+3+1",
     "UNH+1+INVOIC:D:96A:UN", "BGM+380+INV-5+9", "UNT+3+1"]], ids=["per-group", "per-type"])
def test_a_message_reference_unique_per_type_and_group_is_no_repeat(segs):
    """EANCOM: 0062 with the message type is unique within its group, or the interchange
    without groups. Numbering restarting per UNG group, or ORDERS 1 next to INVOIC 1, was a
    false validation failure whose message had no edifact.unh ID. Both keep IDs of their own."""
    count = 2
    text = "'\n".join(["UNB+UNOC:3+5412345000013:14+4012345000023:14+240301:0930+IC2", *segs,
                       f"UNZ+{count}+IC2"]) + "'\n"
    first, second = edifact.parse(Record(text=text, source="t.edi"), CTX)
    pair = "5412345000013>4012345000023"
    assert [e.outcome for e in (first, second)] == ["success", "success"], second.message
    assert first.ids[0] == f"edifact.unh:{pair}:IC2:1"
    assert second.ids[0] == f"edifact.unh:{pair}:IC2:1#2"


@pytest.mark.parametrize(("segs", "ucf"), [
    (["UNH+1+DESADV:D:96A:UN:EAN007", "BGM+351+SHP-5521+9", "UNT+3+1",
      "UNH+1+INVOIC:D:96A:UN:EAN008", "BGM+380+INV-88120+9", "UNT+3+1"], ""),
    (["UNG+INVOIC+4012345000009+5412345000013+240301:0930+G1", "UNH+1+INVOIC:D:96A:UN",
      "BGM+380+INV-88119+9", "UNT+3+1", "UNE+1+G1",
      "UNG+INVOIC+4012345000009+5412345000013+240301:0930+G2", "UNH+1+INVOIC:D:96A:UN",
      "BGM+380+INV-88120+9", "UNT+3+1", "UNE+1+G2"],
     "UCF+G2+4012345000009+5412345000013+4'"),
], ids=["another-type", "another-group"])
def test_a_contrl_naming_only_the_invoice_answers_the_invoice_not_the_message_before(segs, ucf):
    """EANCOM numbers 0062 per message type (and group): DESADV 1 then INVOIC 1 is no repeat,
    yet the INVOIC's edifact.unh ID was the 2nd occurrence of 1 (``#2``) and a CONTRL listing
    only the message in error (``UCM+1+INVOIC``) answered the 1st: the invoice's rejection
    landed on the despatch advice, the invoice stayed unanswered. Each message now also has
    an ID by group, type and 0062, the one a UCM builds; the plain IDs stay as they were."""
    docs = "'".join(["UNB+UNOC:3+4012345000009:14+5412345000013:14+240301:0930+88001", *segs,
                     "UNZ+2+88001"]) + "'"
    contrl = ("UNB+UNOC:3+5412345000013:14+4012345000009:14+240301:1000+99001'"
              "UNH+C1+CONTRL:D:3:UN'UCI+88001+4012345000009:14+5412345000013:14+4'"
              f"{ucf}UCM+1+INVOIC:D:96A:UN:EAN008+4'UCS+3+13'UNT+{6 if ucf else 5}+C1'UNZ+1+99001'")
    first, invoice = parse(docs)
    pair = "4012345000009>5412345000013"
    assert (first.ids[0], invoice.ids[0]) == (f"edifact.unh:{pair}:88001:1",
                                              f"edifact.unh:{pair}:88001:1#2")
    _uci, ucm = parse(contrl)
    assert ucm.outcome == "failure"
    assert set(ucm.ids) & set(invoice.ids) - {f"edifact.unb:{pair}:88001"}
    assert not set(ucm.ids) & set(first.ids) - {f"edifact.unb:{pair}:88001"}


def test_an_interchange_of_700_messages_one_segment_a_line_is_read_whole(parse_text):
    """2,803 lines: past the 2000-line record cap (meant for stack traces) the last 200
    messages were dead-lettered in one lump instead of read."""
    segs = [f"UNB+UNOC:3+{SUPPLIER}:14+{US}:14+240301:0930+BIG1"]
    for n in range(1, 701):
        segs += [f"UNH+{n}+ORDERS:D:96A:UN", f"BGM+220+PO-{n}+9", "DTM+137:20240301:102",
                 f"UNT+4+{n}"]
    segs.append("UNZ+700+BIG1")
    events, dead = parse_text("edifact", "UNA:+.? '\n" + "'\n".join(segs) + "'\n")
    assert dead == []
    assert [e.labels["edifact_unh_0062"] for e in events] == [str(n) for n in range(1, 701)]
    assert all(e.outcome == "success" for e in events)


@pytest.mark.parametrize("pad", ["\x00" * 64, "\x00" * 30 + "\r\n" + "\x00" * 50],
                         ids=["nul", "nul-lines"])
def test_block_padding_after_the_unz_is_not_a_segment(parse_text, pad):
    """NUL bytes padding the last block of a transfer were read as a segment after the
    UNZ: a validation failure on every such file (a false alarm)."""
    events, dead = parse_text("edifact", interchange() + pad)
    assert dead == []
    assert [e.outcome for e in events] == ["success"]
