import pytest

from collector.event import Record, iso_to_ms
from collector.parsers import x12
from collector.parsers._base import ParseContext, ParseError

CTX = ParseContext(now_ms=1_709_900_000_000)
US, PARTNER = "ACMEBUYER", "WIDGETSUPPLY"


def isa(sender: str, receiver: str, control: str, *, sep: str = "*", term: str = "~") -> str:
    fields = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ",
              receiver.ljust(15), "240301", "0930", "U", "00401", control, "0", "P", ">"]
    return sep.join(fields) + term


def interchange(sender: str = PARTNER, receiver: str = US, *, control: str = "000000042",
                group: str = "77", sets: tuple[tuple[str, ...], ...] = (("850", "0001"),),
                body: tuple[str, ...] = ("BEG*00*SA*PO-1**20240301",)) -> str:
    segs = [isa(sender, receiver, control)[:-1],
            f"GS*PO*{sender}*{receiver}*20240301*0930*{group}*X*004010"]
    for set_id, st02 in sets:
        segs += [f"ST*{set_id}*{st02}", *body, f"SE*{len(body) + 2}*{st02}"]
    segs += [f"GE*{len(sets)}*{group}", f"IEA*1*{control}"]
    return "~\n".join(segs) + "~\n"


def parse(text: str, ctx: ParseContext = CTX):
    return x12.parse(Record(text=text, source="t.edi"), ctx)


def only_failure(events):
    failures = [e for e in events if e.outcome == "failure"]
    assert len(failures) == 1, [e.message for e in failures]
    ev = failures[0]
    assert ev.error_class == "validation" and ev.error_type == "x12.envelope"
    return ev


def test_purchase_orders_file_one_event_per_set(parse_data):
    events, dead = parse_data("x12", "x12/purchase-orders.edi")
    assert dead == []
    assert [e.labels["x12_transaction_set"] for e in events] == ["850", "850", "855", "856", "810"]
    first = events[0]
    assert first.ids == [f"x12.st:{US}>{PARTNER}:1001:0001", f"x12.gs:{US}>{PARTNER}:1001",
                         f"x12.isa:{US}>{PARTNER}:000001001", "order:PO-4711"]
    assert first.timestamp_ms == iso_to_ms("2024-03-01T09:30:00Z")
    assert first.outcome == "success" and first.dataset == "edi.x12" and first.platform == "edi"
    assert first.labels["x12_sender_qualifier"] == "ZZ" and first.labels["x12_gs06"] == "1001"
    assert "order:PO-4711" in events[2].ids  # 855 BAK03
    assert {"shipment:SHP-5521", "order:PO-4711"} <= set(events[3].ids)  # 856 BSN02 + PRF01
    assert {"invoice:INV-88120", "order:PO-4711"} <= set(events[4].ids)  # 810 BIG02 + BIG04
    assert len({e.id for e in events}) == 5


def test_partner_is_the_side_that_is_not_us():
    text = interchange(sender=US, receiver=PARTNER)
    (assumed,) = parse(text)
    assert (assumed.partner, assumed.action) == (US, "received")  # no config: inbound assumed
    (known,) = parse(text, ParseContext(now_ms=1, edi_own_ids=frozenset({US})))
    assert (known.partner, known.action) == (PARTNER, "sent")


def test_997_links_to_the_original_850_and_reports_errors(parse_data):
    orders, _ = parse_data("x12", "x12/purchase-orders.edi", edi_own_ids=frozenset({US}))
    acks, dead = parse_data("x12", "x12/acknowledgements.edi", edi_own_ids=frozenset({US}))
    assert dead == []
    accepted, rejected, group = acks[:3]
    assert accepted.ids[0] == orders[0].ids[0] == f"x12.st:{US}>{PARTNER}:1001:0001"
    assert rejected.ids[0] == orders[1].ids[0]
    assert accepted.partner == rejected.partner == orders[0].partner == PARTNER
    assert (accepted.action, accepted.outcome) == ("acknowledged", "success")
    assert (rejected.action, rejected.outcome, rejected.error_class) == (
        "rejected", "failure", "validation")
    assert rejected.error_code == "5"
    assert "segment N1 at position 3 in loop N1" in rejected.error_message
    assert "element 4: invalid code value (bad value '0043')" in rejected.error_message
    assert "element 2: invalid character in data element (bad value '5.0X')" in rejected.error_message
    assert group.ids == [f"x12.gs:{US}>{PARTNER}:1001"]
    assert (group.action, group.outcome, group.labels["x12_ack_status"]) == (
        "acknowledged", "failure", "P")
    assert group.labels["x12_ack_gs06"] == "520"  # the 997's own numbers stay labels


def test_999_ik5_and_ta1(parse_data):
    acks, _ = parse_data("x12", "x12/acknowledgements.edi")
    set_999, group_999, ta1 = acks[3:]
    assert set_999.ids[0] == f"x12.st:{US}>{PARTNER}:1002:0001"
    assert (set_999.action, set_999.error_code) == ("rejected", "I5")
    assert "segment BEG at position 2" in set_999.error_message
    assert "element 3: mandatory data element missing" in set_999.error_message
    assert group_999.action == "rejected"
    assert ta1.ids == [f"x12.isa:{US}>{PARTNER}:000001003"]
    assert (ta1.action, ta1.error_code) == ("rejected", "022")
    assert ta1.error_message == "TA105 022: invalid control structure"


@pytest.mark.parametrize("status, action, outcome", [
    ("A", "acknowledged", "success"), ("E", "acknowledged", "success"),
    ("R", "rejected", "failure"), ("M", "rejected", "failure"), ("X", "rejected", "failure"),
])
def test_ak5_status_codes(status, action, outcome):
    text = interchange(sender=PARTNER, receiver=US, sets=(("997", "0009"),),
                       body=("AK1*PO*1001", "AK2*850*0001", f"AK5*{status}"))
    (ev,) = parse(text)
    assert (ev.action, ev.outcome) == (action, outcome)
    assert ev.ids[0] == f"x12.st:{US}>{PARTNER}:1001:0001"


def test_other_delimiters_and_wrapped_lines(parse_data):
    events, dead = parse_data("x12", "x12/delimiters-and-wrapping.edi")
    assert dead == []
    newline_terminated, wrapped = events
    assert newline_terminated.ids[:2] == ["x12.st:SUPPLIERX>ACMEBUYER:7001:7001",
                                          "x12.gs:SUPPLIERX>ACMEBUYER:7001"]
    assert "shipment:SHP-9001" in newline_terminated.ids
    assert wrapped.outcome == "success"
    assert "x12.isa:SUPPLIERX>ACMEBUYER:000000778" in wrapped.ids
    assert "invoice:INV-9002" in wrapped.ids


def test_several_interchanges_on_one_line():
    text = interchange(control="000000001").replace("\n", "") + interchange(
        control="000000002", group="78").replace("\n", "")
    events = parse(text)
    assert [e.labels["x12_isa13"] for e in events] == ["000000001", "000000002"]
    assert all(e.outcome == "success" for e in events)


@pytest.mark.parametrize("mutate, reason", [
    (lambda t: t.replace("IEA*1*000000042~\n", ""),
     "interchange ISA13 000000042 has no IEA trailer (the record ends after segment 6)"),
    (lambda t: t.replace("IEA*1*000000042", "IEA*1*000000043"),
     "IEA02 '000000043' does not match ISA13 '000000042'"),
    (lambda t: t.replace("IEA*1*", "IEA*2*"),
     "IEA01 says 2 functional groups, interchange ISA13 000000042 has 1"),
    (lambda t: t.replace("GE*1*77~\n", ""),
     "functional group GS06 77 has no GE trailer (found IEA at segment 6)"),
    (lambda t: t.replace("GE*1*77", "GE*1*78"), "GE02 '78' does not match GS06 '77'"),
    (lambda t: t.replace("GE*1*", "GE*3*"),
     "GE01 says 3 transaction sets, group GS06 77 has 1"),
])
def test_envelope_defects(mutate, reason):
    ev = only_failure(parse(mutate(interchange())))
    assert ev.error_message == reason
    assert ev.ids[0] == f"x12.isa:{PARTNER}>{US}:000000042"


@pytest.mark.parametrize("mutate, reason", [
    (lambda t: t.replace("SE*3*0001", "SE*3*0002"), "SE02 '0002' does not match ST02 '0001'"),
    (lambda t: t.replace("SE*3*", "SE*12*"),
     "SE01 says 12 segments, transaction set has 3 (counting ST and SE)"),
    (lambda t: t.replace("SE*3*0001~\n", ""),
     "transaction set has no SE trailer (found GE at segment 5)"),
])
def test_transaction_set_defects_fail_the_set(mutate, reason):
    ev = only_failure(parse(mutate(interchange())))
    assert ev.error_message == f"{reason} (850 ST02 0001 in GS06 77)"
    assert ev.ids[0] == f"x12.st:{PARTNER}>{US}:77:0001"  # still linked to its documents


def test_second_isa_before_iea():
    text = interchange().replace("IEA*1*000000042~\n", "") + interchange(control="000000043")
    events = parse(text)
    assert only_failure(events).error_message == (
        "interchange ISA13 000000042 has no IEA trailer (a new ISA starts at segment 7)")
    assert len(events) == 3


def test_truncated_isa():
    ev = only_failure(parse(isa(PARTNER, US, "000000001")[:80]))
    assert ev.error_message.startswith("ISA segment truncated: the interchange has 80 characters")
    assert ev.timestamp_estimated


def test_an_isa_not_padded_to_fixed_width_is_read_and_labelled():
    """As stupidedi's FA997 sample writes it: ISA06 not padded; X12 libraries accept it."""
    text = interchange().replace("*ZZ*WIDGETSUPPLY   *", "*ZZ*WIDGETSUPPLY*")
    (ev,) = parse(text)
    assert ev.outcome == "success" and ev.labels["x12_isa_not_fixed_width"] == "true"
    assert ev.ids[:3] == [f"x12.st:{PARTNER}>{US}:77:0001", f"x12.gs:{PARTNER}>{US}:77",
                          f"x12.isa:{PARTNER}>{US}:000000042"]
    assert "x12_isa_not_fixed_width" not in parse(interchange())[0].labels


def test_isa_with_a_missing_separator_is_unreadable():
    text = interchange().replace("*ZZ*WIDGETSUPPLY   *", "*ZZWIDGETSUPPLY   *")
    ev = only_failure(parse(text))
    assert ev.error_message.startswith("ISA character ") and "not fixed width" in ev.error_message


def test_unusable_delimiters():
    text = interchange().replace("*P*>~", "*P*~~", 1)
    ev = only_failure(parse(text))
    assert "ISA delimiters are unusable" in ev.error_message


def test_elements_with_another_separator():
    text = interchange().replace("GS*", "GS|").replace("ST*", "ST|")
    failures = [e for e in parse(text) if e.outcome == "failure"]
    assert failures[0].error_message == (
        "segment 2 starts 'GS|PO', not a segment ID: its elements are not "
        "separated by the ISA element separator '*' (wrong delimiters?); segments 3-6 "
        "skipped with it")


def test_ack_without_status_is_invalid():
    text = interchange(sets=(("997", "0003"),), body=("AK1*PO*1001",))
    ev = only_failure(parse(text))
    assert "997 ST02 0003 has no AK5/IK5 or AK9 segment" in ev.error_message


def test_malformed_fixture_never_raises(parse_data):
    events, dead = parse_data("x12", "x12/malformed.edi")
    assert dead == []
    reasons = [e.error_message for e in events if e.outcome == "failure"]
    assert all(e.error_class == "validation" for e in events if e.outcome == "failure")
    expected = ["interchange ISA13 000000901 has no IEA", "IEA02 '000000999' does not match",
                "GE02 '9904' does not match", "SE02 '0009' does not match", "SE01 says 7",
                "GE01 says 2", "functional group GS06 9907 has no GE", "IEA01 says 3",
                "ISA segment truncated", "segment 2 starts 'GS|PO'"]
    assert [r for r in reasons if r.startswith(tuple(expected))] == [
        next(r for r in reasons if r.startswith(p)) for p in expected]


def test_not_x12_is_a_parse_error():
    with pytest.raises(ParseError):
        parse("hello world")
    assert x12.detect("ISA*00*          *00*")
    assert not x12.detect("ISAAC said hi")


def test_a_ta1_before_any_group_is_an_acknowledgement_and_finds_its_unpadded_interchange():
    """Seen in imsweb/x12-parser's 999 sample: TA101 ``101`` answers ISA13 ``000000101``."""
    text = (isa(PARTNER, US, "000000555") + "TA1*101*240301*0930*A*000~"
            + "IEA*0*000000555~")
    (ev,) = parse(text)
    assert ev.ids == [f"x12.isa:{US}>{PARTNER}:000000101"]
    assert (ev.action, ev.partner) == ("acknowledged", US)  # it leaves us: partner receives


@pytest.mark.parametrize("yymmdd, iso", [("991231", "1999-12-31T09:30:00Z"),
                                         ("690101", "1969-01-01T09:30:00Z"),
                                         ("680101", "2068-01-01T09:30:00Z"),
                                         ("240301", "2024-03-01T09:30:00Z")])
def test_two_digit_isa_years_pivot_like_posix(yymmdd, iso):
    text = isa(PARTNER, US, "000000555").replace("*240301*", f"*{yymmdd}*") + "IEA*0*000000555~"
    (ev,) = parse(text.replace("IEA*0", "TA1*000000001*240301*0930*A*000~IEA*0"))
    assert ev.timestamp_ms == iso_to_ms(iso)


def test_interchanges_on_one_line_each_with_its_own_delimiters(parse_data):
    """Three published interchanges joined on one line (see tests/data/x12/SOURCES.md):
    stupidedi's 856 (``*`` ``~``), EdiFabric's 810 with ``|`` elements and imsweb's 837 with
    ``~`` elements and ``_`` terminators. Each ISA declares the delimiters of its interchange;
    reading the second and third with the first's made them text outside any interchange."""
    events, dead = parse_data("x12", "x12/interchanges-with-own-delimiters.edi")
    assert dead == []
    assert [e.outcome for e in events] == ["success"] * 3
    assert [e.labels["x12_transaction_set"] for e in events] == ["856", "810", "837"]
    assert events[1].ids[:2] == ["x12.st:102096559TEST>PARTNERTEST:810000263:166061414",
                                 "x12.gs:102096559TEST>PARTNERTEST:810000263"]
    assert "invoice:0013833070" in events[1].ids
    assert events[2].ids[0] == "x12.st:SUBMITTERS.ID>RECEIVERS.ID:1:987654"


def test_a_broken_interchange_after_a_good_one_keeps_the_good_one():
    unpadded = interchange().replace(f"{PARTNER.ljust(15)}", PARTNER)
    events = parse(unpadded.replace("\n", "") + "ISA|00|")
    assert events[0].outcome == "success"
    assert events[0].labels["x12_isa_not_fixed_width"] == "true"
    assert only_failure(events).error_message.startswith("ISA segment truncated")
    assert "x12_isa_not_fixed_width" not in events[1].labels


@pytest.mark.parametrize("gs06, st02, ak102, ak202", [
    ("1001", "0001", "000001001", "1"),      # the 997 pads GS06 to nine digits, drops ST02's
    ("000001001", "000000001", "1001", "0001"),  # the 850 padded both to nine digits
    ("1001", "0001", "01001", "00001"),
])
def test_a_997_matches_control_numbers_written_with_other_leading_zeros(gs06, st02, ak102,
                                                                        ak202):
    """GS06 (N0 1/9) and ST02 are numbers; writers pad them or not, and the AK102/AK202 that
    echo them need not agree. Compared as text, the 997 answered no document."""
    (doc,) = parse(interchange(sender=US, receiver=PARTNER, group=gs06, sets=(("850", st02),)))
    set_ack, group_ack = parse(interchange(
        sets=(("997", "0009"),), body=(f"AK1*PO*{ak102}", f"AK2*850*{ak202}", "AK5*A",
                                        "AK9*A*1*1*1")))
    assert set_ack.ids[0] == doc.ids[0] == f"x12.st:{US}>{PARTNER}:1001:0001"
    assert group_ack.ids[0] == doc.ids[1] == f"x12.gs:{US}>{PARTNER}:1001"
    assert doc.labels["x12_gs06"] == set_ack.labels["x12_gs06"] == "1001"
    assert doc.labels["x12_st02"] == set_ack.labels["x12_st02"] == "0001"


def test_trailers_may_write_their_control_numbers_with_other_leading_zeros():
    text = interchange(group="1001", sets=(("850", "0001"),))
    text = text.replace("GE*1*1001", "GE*1*000001001").replace("SE*3*0001", "SE*3*1")
    (ev,) = parse(text)
    assert ev.outcome == "success"
    (alpha,) = parse(interchange(sets=(("850", "A001"),)))
    assert alpha.ids[0] == f"x12.st:{PARTNER}>{US}:77:A001"


def test_health_care_claim_and_its_payment_share_the_partner_scoped_claim(parse_data):
    """An 837P and the 835 that pays it, in the segment shapes of the X12 5010 TR3 examples:
    both carry the claim qualified by the payer, so they correlate, and another payer's claim
    with the same patient control number would not."""
    events, dead = parse_data("auto", "x12/health-care-claim-and-payment.edi",
                              edi_own_ids=frozenset({"PREMIERBILLING"}))
    assert dead == []
    claim, payment = events
    assert (claim.action, claim.partner) == ("sent", "KEYINSURANCE")
    assert claim.message.startswith("X12 837 health care claim ST02 0021 sent to KEYINSURANCE")
    assert "claim:KEYINSURANCE:26463774" in claim.ids
    assert (payment.action, payment.partner) == ("received", "KEYINSURANCE")
    assert {"claim:KEYINSURANCE:26463774", "payment:KEYINSURANCE:12345"} <= set(payment.ids)


def test_a_repeated_key_segment_names_no_document():
    """Two PRF loops: the ASN ships two orders, so it is linked to neither (linking both
    would merge the two orders' traces); its own BSN02 is still its key."""
    (asn,) = parse(interchange(sets=(("856", "0001"),), body=(
        "BSN*00*SHP-9*20240301*0930", "HL*1**S", "HL*2*1*O", "PRF*PO-1", "HL*3*1*O",
        "PRF*PO-2")))
    assert "shipment:SHP-9" in asn.ids
    assert not [i for i in asn.ids if i.startswith("order:")]
    (one,) = parse(interchange(sets=(("856", "0001"),), body=(
        "BSN*00*SHP-8*20240301*0930", "HL*1**S", "HL*2*1*O", "PRF*PO-1")))
    assert "order:PO-1" in one.ids


@pytest.mark.parametrize("fmt", ["x12", "auto"])
def test_information_separators_as_delimiters(parse_data, fmt):
    """ISA delimiters 0x1D (element), 0x1F (ISA16) and 0x1C (terminator): Python's str
    methods and ``\\s`` take them for blanks, which rejected the element separator and
    stripped ISA16 off the ISA."""
    events, dead = parse_data(fmt, "x12/information-separators.edi")
    assert dead == []
    (ev,) = events
    assert ev.outcome == "success", ev.message
    assert ev.ids == [f"x12.st:{PARTNER}>{US}:51:0001", f"x12.gs:{PARTNER}>{US}:51",
                      f"x12.isa:{PARTNER}>{US}:000000051", "order:PO-5101"]
    assert "x12_isa_not_fixed_width" not in ev.labels


@pytest.mark.parametrize("fmt", ["x12", "auto"])
def test_an_interchange_of_600_sets_one_segment_a_line_is_read_whole(parse_text, fmt):
    """Translators (Sterling, Cleo) write one segment a line: 600 purchase orders are 3,000
    lines, 50 KB. The 2000-line record cap meant for stack traces cut the interchange and
    dead-lettered the last 200 orders in one lump, which are documents, not repeated frames;
    the same interchange on one line was read whole."""
    sets = tuple(("850", f"{n:04d}") for n in range(1, 601))
    text = interchange(sender=US, receiver=PARTNER, sets=sets, body=(
        "BEG*00*SA*PO-1**20240301", "PO1*1*120*EA*9.25*PE*BP*WID-100", "CTT*1"))
    assert text.count("\n") > 3000
    events, dead = parse_text(fmt, text)
    assert dead == []
    assert [e.labels["x12_st02"] for e in events] == [st02 for _s, st02 in sets]
    assert all(e.outcome == "success" for e in events)


def test_a_set_control_number_repeated_in_its_group_is_not_merged_with_the_first():
    """ST02 is unique within a group (997 AK502 code 23 rejects a repeat). Senders that
    hard-code it (every 850 ST02 0001) made two purchase orders one ``x12.st`` ID, so their
    traces merged silently; the repeat is a validation failure naming the first, with an
    x12.st ID of its own (``#2``) that the 997 rejecting it (AK502 23) names."""
    text = interchange(sender=US, receiver=PARTNER, sets=(("850", "0001"), ("850", "0001")),
                       body=("BEG*00*SA*PO-1**20240301",))
    cut = text.rfind("PO-1")
    text = f"{text[:cut]}PO-2{text[cut + 4:]}"
    first, second = parse(text)
    assert first.outcome == "success" and first.ids[0] == f"x12.st:{US}>{PARTNER}:77:0001"
    assert "order:PO-1" in first.ids and "order:PO-2" in second.ids
    assert not set(first.ids) & set(second.ids) - {f"x12.gs:{US}>{PARTNER}:77",
                                                    f"x12.isa:{US}>{PARTNER}:000000042"}
    assert (second.outcome, second.error_class, second.error_type) == (
        "failure", "validation", "x12.envelope")
    assert "ST02 0001 repeats" in second.error_message and "set 1" in second.error_message
    assert second.message_id != first.message_id
    assert second.ids[0] == f"x12.st:{US}>{PARTNER}:77:0001#2"


@pytest.mark.parametrize("pad", ["\x00" * 64, "\x00" * 30 + "\r\n" + "\x00" * 50, " " * 80],
                         ids=["nul", "nul-lines", "blanks"])
def test_block_padding_after_the_last_interchange_is_not_a_segment(parse_text, pad):
    """Transfers that write fixed-size blocks pad the file's end with NUL bytes (or blanks):
    the NULs were read as a segment outside any interchange, a validation failure, on every
    file of that partner (a false alarm)."""
    events, dead = parse_text("x12", interchange(sender=US, receiver=PARTNER) + pad)
    assert dead == []
    assert [(e.outcome, e.labels.get("x12_st02")) for e in events] == [("success", "0001")]


def test_a_set_control_number_repeated_in_another_group_with_the_same_gs06_is_distinct():
    """The x12.st ID is (GS06, ST02), but the repeat check was per group: two groups of one
    interchange with GS06 1 (a sender hard-coding it), each with ST02 0001, gave both sets one
    ID and no failure. Another GS06 keeps the same ST02 legitimate."""
    def two_groups(second_gs06: str) -> str:
        text = interchange(sender=US, receiver=PARTNER, group="1")
        head, _, rest = text.partition("GS*")
        group = "GS*" + rest[:rest.index("IEA*")]
        second = group.replace("*1*X*", f"*{second_gs06}*X*").replace(
            "GE*1*1~", f"GE*1*{second_gs06}~").replace("PO-1", "PO-2")
        return head + group + second + rest[rest.index("IEA*"):].replace("IEA*1*", "IEA*2*")

    first, second = parse(two_groups("1"))
    assert first.ids[0] == f"x12.st:{US}>{PARTNER}:1:0001" and first.outcome == "success"
    assert second.ids[0] == f"x12.st:{US}>{PARTNER}:1:0001#2"
    assert second.outcome == "failure" and "an earlier group" in second.error_message
    first, second = parse(two_groups("2"))
    assert [e.outcome for e in (first, second)] == ["success", "success"]
    assert second.ids[0] == f"x12.st:{US}>{PARTNER}:2:0001"


_997_LINES = ("ISA*00*          *00*          *ZZ*WIDGETSUPPLY   *ZZ*ACMEBUYER      *240301*1005*U"
              "*00401*000000501*0*P*>~\nGS*FA*WIDGETSUPPLY*ACMEBUYER*20240301*1005*501*X*004010~\n"
              "ST*997*0001~\nAK1*PO*1~\nAK2*850*0001~\nAK5*A~\nAK9*A*1*1*1~\nSE*6*0001~\n"
              "GE*1*501~\nIEA*1*000000501~\n")
_CONTRL_LINES = ("UNA:+.? '\nUNB+UNOC:3+4012345000023:14+5412345000013:14+240301:1015+C-1'\n"
                 "UNH+1+CONTRL:D:3:UN'\nUCI+ONE1+5412345000013:14+4012345000023:14+7'\n"
                 "UNT+3+1'\nUNZ+1+C-1'\n")


@pytest.mark.parametrize(("fmt", "edi"), [("x12", _997_LINES), ("auto", _997_LINES),
                                          ("edifact", _CONTRL_LINES), ("auto", _CONTRL_LINES)],
                         ids=["x12", "x12-auto", "edifact", "edifact-auto"])
def test_lines_after_an_interchanges_trailer_are_not_glued_into_it(parse_text, fmt, edi):
    """A translator's log lines after an interchange written a segment a line continued it
    (no START), up to the 1 MiB record cap: 3,000 lines vanished into one validation
    failure ("segment 11 is '<log lines>'") without a dead letter. The trailer ends it."""
    log = "".join(f"2024-03-01 10:00:{n % 60:02d},000 INFO  [main] c.t.Sender - sent file {n}\n"
                  for n in range(3000))
    alone, _ = parse_text(fmt, edi)
    events, dead = parse_text(fmt, edi + log + edi)
    edi_events = [e for e in events if e.platform == "edi"]
    assert [e.outcome for e in edi_events] == ["success"] * (2 * len(alone)), [
        e.message[:200] for e in edi_events]
    others = [e for e in events if e.platform != "edi"]
    assert dead or others  # the log lines are read or dead-lettered, never inside an interchange
    assert not any("sent file" in (e.message or "") for e in edi_events)


def test_the_isa_password_is_masked_in_what_is_stored_of_the_raw_interchange():
    """ISA04 (security information: a password when ISA03 is 01) and ISA02 were stored in clear
    in ``event.original`` and in dead letters' raw text; a credential never reaches the store."""
    from collector.event import DeadLetter, Record
    from collector.parse import parse_record
    from collector.parsers._base import ParseContext

    isa = ("ISA*03*AUTHCODE01*01*PASSWORD01*ZZ*SENDER         *ZZ*RECEIVER       *240301*0930*U"
           "*00401*000000001*0*P*>~")
    one = (isa + "GS*PO*SENDER*RECEIVER*20240301*0930*1*X*004010~ST*850*0001~BEG*00*SA*PO-1**20240301~"
           "SE*3*0001~GE*1*1~IEA*1*000000001~")
    (ev,) = parse_record(Record(text=one, source="in.edi"), "x12", ParseContext())
    assert "PASSWORD01" not in ev.original and "AUTHCODE01" not in ev.original
    assert ev.original.startswith("ISA*03*" + "*" * 10 + "*01*" + "*" * 10 + "*ZZ*SENDER")
    assert len(ev.original) == len(one)
    broken = isa + "GS*PO*SENDER~"  # no trailers: a parse_error dead letter... or failure events
    out = parse_record(Record(text=broken, source="in.edi"), "x12", ParseContext())
    stored = " ".join(o.raw if isinstance(o, DeadLetter) else (o.original or "") for o in out)
    assert "PASSWORD01" not in stored and "AUTHCODE01" not in stored
    # data that merely ends in ISA (a card type), or an element "ISA", is left as it is
    data = "N1*ST*VISA*92*ACCT-7788-99*X*Y~SE*3*0001~REF*ZZ*ISA*12*ABCDEFGHIJ*01*SECRETSTUF~"
    assert x12.HIDE(data) is data
