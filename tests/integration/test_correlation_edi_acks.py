"""Group- and interchange-level EDI acknowledgements, parsed from real-looking files and
correlated into the real stores (SQLite and Elasticsearch, same tests).

Many trading partners answer a whole X12 functional group with one 997 that holds only AK1
and AK9 (no AK2 loops), and a whole EDIFACT interchange with a CONTRL that holds only a UCI.
Such an acknowledgement must settle every document of that group or interchange for that
partner pair, whether its trace is still in memory or only in the store, and must not touch
the same group number of another partner pair.
"""

from __future__ import annotations

import io
import time

import test_correlation

from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.base import Store, TraceQuery
from collector.trace import Trace
from collector.yamlconf import loads

US, PARTNER, OTHER = "ACMEBUYER", "WIDGETSUPPLY", "GADGETCORP"
EU_US, EU_SUPPLIER = "5412345000013", "4012345000009"
store = test_correlation.store  # the same fixture: SQLite and Elasticsearch
packing = test_correlation.packing  # and each test with traces held as objects, then packed
CTX = ParseContext(now_ms=int(time.time() * 1000), edi_own_ids=frozenset({US, EU_US}))

CATALOG = build_catalog(loads("""
flows:
  - name: x12-850-out
    sla: 4h
    stages:
      - {name: x12.ack, terminal: ack, match: {platform: edi, labels: {x12_ack_type: ["997", "999"]}}}
      - {name: x12.850.sent, match: {platform: edi, transaction_set: "850", action: sent}}
  - name: edifact-orders-out
    sla: 4h
    stages:
      - {name: contrl, terminal: ack, match: {platform: edi, labels: {edifact_ack_action: ["7", "4"]}}}
      - {name: orders.sent, match: {platform: edi, transaction_set: ORDERS, action: sent}}
""", "edi-acks.yaml"))


def isa(sender: str, receiver: str, control: str) -> str:
    """The fixed-width ISA (106 characters with its terminator) as partners send it."""
    return "*".join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ",
                     receiver.ljust(15), "240301", "0930", "U", "00401", control, "0", "P", ">"])


def x12(sender: str, receiver: str, control: str, functional_id: str, gs06: str,
        sets: list[list[str]], *, newlines: bool) -> str:
    segs = [isa(sender, receiver, control),
            f"GS*{functional_id}*{sender}*{receiver}*20240301*0930*{gs06}*X*004010"]
    for body in sets:
        segs += body
    segs += [f"GE*{len(sets)}*{gs06}", f"IEA*1*{control}"]
    assert len(segs[0]) + 1 == 106
    return ("~\n" if newlines else "~").join(segs) + "~\n"


def orders(gs06: str, count: int, receiver: str = PARTNER) -> str:
    prefix = "PO" if receiver == PARTNER else receiver
    sets = [[f"ST*850*{n:04d}", f"BEG*00*SA*{prefix}-{gs06}-{n}**20240301", "PO1*1*10*EA*9.5**VP*W-1",
             f"SE*4*{n:04d}"] for n in range(1, count + 1)]
    return x12(US, receiver, f"{int(gs06):09d}", "PO", gs06, sets, newlines=True)


def group_ack(gs06: str, status: str, count: int, sender: str = PARTNER) -> str:
    """A 997 with AK1 and AK9 only, on one line (no newline after each ~)."""
    accepted = count if status in "AE" else 0
    ak9 = f"AK9*{status}*{count}*{count}*{accepted}" + ("" if accepted else "*5")
    sets = [["ST*997*0001", f"AK1*PO*{gs06}", ak9, "SE*4*0001"]]
    return x12(sender, US, f"{int(gs06) + 500:09d}", "FA", f"{int(gs06) + 500}", sets,
               newlines=False)


def edifact_orders(control: str, count: int) -> str:
    segs = [f"UNB+UNOC:3+{EU_US}:14+{EU_SUPPLIER}:14+240301:0930+{control}"]
    for n in range(1, count + 1):
        segs += [f"UNH+{n}+ORDERS:D:96A:UN", f"BGM+220+PO-{control}-{n}+9", f"UNT+3+{n}"]
    segs.append(f"UNZ+{count}+{control}")
    return "UNA:+.? '" + "'\n".join(segs) + "'\n"


def contrl(control: str, action: str) -> str:
    segs = [f"UNB+UNOC:3+{EU_SUPPLIER}:14+{EU_US}:14+240301:1015+C{control}",
            "UNH+1+CONTRL:D:3:UN", f"UCI+{control}+{EU_US}:14+{EU_SUPPLIER}:14+{action}",
            "UNT+3+1", f"UNZ+1+C{control}"]
    return "UNA:+.? '" + "'".join(segs) + "'\n"


def parsed(text: str, name: str) -> list[Event]:
    out = list(parse_stream(io.BytesIO(text.encode()), name, "auto", CTX))
    events = [e for e in out if isinstance(e, Event) and e.error_type != "x12.envelope"
              and e.error_type != "edifact.envelope"]
    assert events == out, "the fixtures must be valid interchanges"
    return events


def feed(correlator: Correlator, store: Store, events: list[Event]) -> None:
    correlator.process(events)
    store.write_events(events)
    correlator.flush()


def all_traces(store: Store) -> dict[str, Trace]:
    store.refresh()
    return {t.trace_key: t for t in store.search_traces(TraceQuery(limit=500))}


def by_order(traces: dict[str, Trace]) -> dict[str, str]:
    """order number -> status, for every trace."""
    out = {}
    for t in traces.values():
        (order,) = [i for i in t.ids if i.startswith("order:")]
        out[order.removeprefix("order:")] = t.status
    return out


def test_a_997_without_ak2_settles_every_set_of_its_group_for_its_partner(store):
    correlator = Correlator(CATALOG, store, max_in_flight=2)  # most traces only in the store
    feed(correlator, store, parsed(orders("1001", 5) + orders("1002", 3), "out.edi"))
    # The other partner uses the same GS06: its sets must not be touched.
    feed(correlator, store, parsed(orders("1001", 2, receiver=OTHER), "out-other.edi"))
    store.refresh()
    acks = parsed(group_ack("1001", "A", 5) + group_ack("1002", "R", 3), "in.edi")
    assert [e.labels.get("ack_scope") for e in acks] == ["group", "group"]
    feed(correlator, store, acks)
    got = all_traces(store)
    assert len(got) == 10
    statuses = by_order(got)
    assert {o: s for o, s in statuses.items() if o.startswith("PO-1001")} == {
        **{f"PO-1001-{n}": "acknowledged" for n in range(1, 6)}}
    assert {o: s for o, s in statuses.items() if o.startswith("PO-1002")} == {
        f"PO-1002-{n}": "rejected" for n in range(1, 4)}
    other = [t for t in got.values() if f"x12.gs:{US}>{OTHER}:1001" in t.ids]
    assert [t.status for t in other] == ["in_flight", "in_flight"]
    acked = got[f"x12.st:{US}>{PARTNER}:1001:0003"]
    assert [h.stage for h in acked.hops] == ["x12.850.sent", "x12.ack"]
    assert acked.hop_count == 2 and not acked.sla_breached
    assert correlator.stats()["scope_ack_hops"] == 8

    # Replaying the acknowledgement (a restart re-reads it) changes nothing.
    again = Correlator(CATALOG, store)
    feed(again, store, parsed(group_ack("1001", "A", 5), "in.edi"))
    assert all_traces(store)[acked.trace_key].hop_count == 2


def test_a_contrl_with_only_a_uci_settles_every_message_of_its_interchange(store):
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, parsed(edifact_orders("ICR7", 3) + edifact_orders("ICR8", 2),
                                   "out.edi"))
    acks = parsed(contrl("ICR7", "7") + contrl("ICR8", "4"), "in.edi")
    assert [e.labels.get("ack_scope") for e in acks] == ["interchange", "interchange"]
    feed(correlator, store, acks)
    statuses = by_order(all_traces(store))
    assert statuses == {**{f"PO-ICR7-{n}": "acknowledged" for n in range(1, 4)},
                        **{f"PO-ICR8-{n}": "rejected" for n in range(1, 3)}}


def test_an_ack_in_the_same_batch_as_its_documents(store):
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, parsed(orders("1003", 2) + group_ack("1003", "E", 2), "mixed.edi"))
    assert set(by_order(all_traces(store)).values()) == {"acknowledged"}


def errors_only_ack(gs06: str, rejected: list[int], count: int) -> str:
    """A 997 that lists only the sets in error (AK2 loops), AK9 P for the group."""
    body = ["ST*997*0001", f"AK1*PO*{gs06}"]
    for n in rejected:
        body += [f"AK2*850*{n:04d}", "AK3*PO1*3**8", "AK5*R*5"]
    body += [f"AK9*P*{count}*{count}*{count - len(rejected)}", f"SE*{len(body) + 2}*0001"]
    return x12(PARTNER, US, f"{int(gs06) + 500:09d}", "FA", f"{int(gs06) + 500}", [body],
               newlines=True)


def test_a_997_listing_only_rejected_sets_acknowledges_the_others(store):
    correlator = Correlator(CATALOG, store, max_in_flight=2)  # most traces only in the store
    feed(correlator, store, parsed(orders("1004", 4), "out.edi"))
    store.refresh()
    acks = parsed(errors_only_ack("1004", [2], 4), "in.edi")
    assert [(e.action, e.labels.get("ack_scope")) for e in acks] == [
        ("rejected", None), ("acknowledged", None), ("acknowledged", "group")]
    feed(correlator, store, acks)
    assert by_order(all_traces(store)) == {"PO-1004-1": "acknowledged", "PO-1004-2": "rejected",
                                           "PO-1004-3": "acknowledged",
                                           "PO-1004-4": "acknowledged"}
    assert correlator.stats()["scope_ack_hops"] == 3

    # Replayed (a restart re-reads it): nothing changes, the rejected set stays rejected.
    again = Correlator(CATALOG, store)
    feed(again, store, parsed(errors_only_ack("1004", [2], 4), "in.edi"))
    got = all_traces(store)
    assert by_order(got)["PO-1004-2"] == "rejected"
    assert got[f"x12.st:{US}>{PARTNER}:1004:0002"].hop_count == 2


def test_a_contrl_rejecting_one_message_acknowledges_the_others(store):
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, parsed(edifact_orders("ICR9", 3), "out.edi"))
    segs = [f"UNB+UNOC:3+{EU_SUPPLIER}:14+{EU_US}:14+240301:1015+CICR9",
            "UNH+1+CONTRL:D:3:UN", f"UCI+ICR9+{EU_US}:14+{EU_SUPPLIER}:14+7",
            "UCM+2+ORDERS:D:96A:UN+4+13", "UNT+4+1", "UNZ+1+CICR9"]
    acks = parsed("UNA:+.? '" + "'".join(segs) + "'\n", "in.edi")
    assert [e.labels.get("ack_scope") for e in acks] == ["interchange", None]
    feed(correlator, store, acks)
    assert by_order(all_traces(store)) == {"PO-ICR9-1": "acknowledged", "PO-ICR9-2": "rejected",
                                           "PO-ICR9-3": "acknowledged"}


def test_two_orders_with_one_set_control_number_in_a_group_stay_two_traces(store):
    """A sender that hard-codes ST02 (both 850s of the group 0001): their x12.st ID was one,
    so the two orders were one trace, and the 997 answering ST02 0001 settled both. The
    repeat is a validation failure of its own trace; the 997 answers the first."""
    sets = [["ST*850*0001", f"BEG*00*SA*PO-DUP-{n}**20240301", "PO1*1*10*EA*9.5**VP*W-1",
             "SE*4*0001"] for n in (1, 2)]
    text = x12(US, PARTNER, "000001009", "PO", "1009", sets, newlines=True)
    events = [e for e in parse_stream(io.BytesIO(text.encode()), "out.edi", "auto", CTX)
              if isinstance(e, Event)]
    assert [e.outcome for e in events] == ["success", "failure"]
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, events)
    ack = ["ST*997*0001", "AK1*PO*1009", "AK2*850*0001", "AK5*A", "AK9*A*1*1*1", "SE*6*0001"]
    feed(correlator, store, parsed(x12(PARTNER, US, "000001509", "FA", "1509", [ack],
                                       newlines=True), "in.edi"))
    got = all_traces(store)
    assert len(got) == 2
    statuses = by_order(got)
    assert statuses["PO-DUP-1"] == "acknowledged"
    assert statuses["PO-DUP-2"] != "acknowledged"


def purchase_order(po: str, at: str) -> str:
    """An 850 from a sender that hard-codes its control numbers (ISA13 1, GS06 1, ST02 0001),
    written at ``at`` (HHMM)."""
    sets = [["ST*850*0001", f"BEG*00*SA*{po}**20240301", "PO1*1*10*EA*9.5**VP*W-1",
             "SE*4*0001"]]
    return x12(US, PARTNER, "000000001", "PO", "1", sets, newlines=True).replace(
        "*0930*", f"*{at}*")


def test_control_numbers_reused_by_the_next_order_do_not_merge_the_two(store):
    """The next purchase order under the same hard-coded control numbers 30 minutes later
    (inside the x12.st join window) joined the first one's trace: one trace held PO-1 and
    PO-2. Other business keys: two documents. The same order re-sent is one trace, its
    second sending counted as a retry."""
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, parsed(purchase_order("PO-1", "0930"), "a.edi"))
    feed(correlator, store, parsed(purchase_order("PO-2", "1000"), "b.edi"))
    feed(correlator, store, parsed(purchase_order("PO-2", "1010"), "b-resent.edi"))
    got = all_traces(store)
    assert sorted(sorted(i for i in t.ids if i.startswith("order:")) for t in got.values()) == [
        ["order:PO-1"], ["order:PO-2"]]
    (resent,) = [t for t in got.values() if "order:PO-2" in t.ids]
    assert (resent.hop_count, resent.retry_count) == (2, 1)

    # A restarted collector (nothing in memory) finds the stored traces apart too.
    again = Correlator(CATALOG, store)
    feed(again, store, parsed(purchase_order("PO-3", "1020"), "c.edi"))
    got = all_traces(store)
    assert sorted(sorted(i for i in t.ids if i.startswith("order:")) for t in got.values()) == [
        ["order:PO-1"], ["order:PO-2"], ["order:PO-3"]]


def _repeat_statuses(store: Store) -> dict[str, tuple[str, list[str]]]:
    return {order: (t.status, [h.action for h in t.hops]) for t in all_traces(store).values()
            for order in [i.removeprefix("order:") for i in t.ids if i.startswith("order:")]}


def _with_failures(text: str, name: str) -> list[Event]:
    """``parsed`` for an interchange with envelope defects (a repeated control number)."""
    return [e for e in parse_stream(io.BytesIO(text.encode()), name, "auto", CTX)
            if isinstance(e, Event)]


def _answer_repeated_st02(store: Store, control: str, answers: list[str]) -> dict:
    """Two 850s under ST02 0001 in group ``control``, then a 997 with these AK2..AK9 lines."""
    sets = [["ST*850*0001", f"BEG*00*SA*PO-{control}-{n}**20240301", "PO1*1*10*EA*9.5**VP*W-1",
             "SE*4*0001"] for n in (1, 2)]
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, _with_failures(
        x12(US, PARTNER, f"{int(control):09d}", "PO", control, sets, newlines=True), "out.edi"))
    ack = ["ST*997*0001", f"AK1*PO*{control}", *answers, f"SE*{len(answers) + 3}*0001"]
    gs06 = str(int(control) + 500)
    feed(correlator, store, parsed(x12(PARTNER, US, f"{int(gs06):09d}", "FA", gs06, [ack],
                                       newlines=True), "in.edi"))
    return _repeat_statuses(store)


def test_a_997_rejecting_the_repeated_st02_answers_the_repeat_not_the_first(store):
    """The translator answers both sets of a group whose ST02 repeats: AK2 0001 accepted,
    then AK2 0001 rejected with AK502 23 (not unique). The second AK2 naming 0001 is the
    second set; the rejection landed on the first, valid order."""
    got = _answer_repeated_st02(store, "1011", ["AK2*850*0001", "AK5*A", "AK2*850*0001",
                                                "AK5*R*23", "AK9*P*2*2*1"])
    assert got["PO-1011-1"] == ("acknowledged", ["sent", "acknowledged"])
    assert got["PO-1011-2"] == ("rejected", ["failed", "rejected"])


def test_an_errors_only_997_rejecting_the_repeated_st02_leaves_the_first_acknowledged(store):
    """Partners that list only the sets in error: AK2 0001 AK5 R 23 is the repeat (23 never
    answers the first set), and the AK9's rest of the group acknowledges the first. The
    result was inverted: the first order rejected, the rejected repeat acknowledged."""
    got = _answer_repeated_st02(store, "1012", ["AK2*850*0001", "AK5*R*23", "AK9*P*2*2*1"])
    assert got["PO-1012-1"] == ("acknowledged", ["sent", "acknowledged"])
    assert got["PO-1012-2"] == ("rejected", ["failed", "rejected"])


def test_a_contrl_rejecting_the_repeated_unh_answers_the_repeat_not_the_first(store):
    """Two ORDERS under UNH 1; the CONTRL rejects the duplicate (UCM 1, action 4, syntax
    error 26 duplicate detected) and acknowledges the rest with its UCI 7."""
    segs = [f"UNB+UNOC:3+{EU_US}:14+{EU_SUPPLIER}:14+240301:0930+ICRD"]
    for n in (1, 2):
        segs += ["UNH+1+ORDERS:D:96A:UN", f"BGM+220+PO-U-{n}+9", "UNT+3+1"]
    segs.append("UNZ+2+ICRD")
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, _with_failures("UNA:+.? '" + "'\n".join(segs) + "'\n", "out.edi"))
    ack = [f"UNB+UNOC:3+{EU_SUPPLIER}:14+{EU_US}:14+240301:1015+CICRD", "UNH+1+CONTRL:D:3:UN",
           f"UCI+ICRD+{EU_US}:14+{EU_SUPPLIER}:14+7", "UCM+1+ORDERS:D:96A:UN+4+26", "UNT+4+1",
           "UNZ+1+CICRD"]
    feed(correlator, store, parsed("UNA:+.? '" + "'".join(ack) + "'\n", "in.edi"))
    got = _repeat_statuses(store)
    assert got["PO-U-1"][0] == "acknowledged"
    assert got["PO-U-2"][0] == "rejected"


def test_a_contrl_naming_the_invoice_answers_the_invoice_not_the_orders_with_its_0062(store):
    """EANCOM numbers 0062 per message type: ORDERS 1 and INVOIC 1 in one interchange. A
    CONTRL that lists only the INVOIC in error (UCM+1+INVOIC, action 4) and acknowledges
    the rest (UCI 7) rejected the ORDERS (the 1st message with 0062 1) and left the invoice
    unanswered."""
    segs = [f"UNB+UNOC:3+{EU_US}:14+{EU_SUPPLIER}:14+240301:0930+ICRT",
            "UNH+1+ORDERS:D:96A:UN", "BGM+220+PO-T-1+9", "UNT+3+1",
            "UNH+1+INVOIC:D:96A:UN", "BGM+380+INV-T-1+9", "RFF+ON:PO-T-9", "UNT+4+1",
            "UNZ+2+ICRT"]
    correlator = Correlator(CATALOG, store)
    feed(correlator, store, parsed("UNA:+.? '" + "'\n".join(segs) + "'\n", "out.edi"))
    ack = [f"UNB+UNOC:3+{EU_SUPPLIER}:14+{EU_US}:14+240301:1015+CICRT", "UNH+1+CONTRL:D:3:UN",
           f"UCI+ICRT+{EU_US}:14+{EU_SUPPLIER}:14+7", "UCM+1+INVOIC:D:96A:UN+4", "UCS+2+13",
           "UNT+5+1", "UNZ+1+CICRT"]
    feed(correlator, store, parsed("UNA:+.? '" + "'".join(ack) + "'\n", "in.edi"))
    got = {key: (t.status, [h.action for h in t.hops]) for t in all_traces(store).values()
           for key in t.ids if key in ("order:PO-T-1", "invoice:INV-T-1")}
    assert got["order:PO-T-1"] == ("acknowledged", ["sent", "acknowledged"])
    assert got["invoice:INV-T-1"][1] == ["sent", "rejected"]


def _supplier_document(set_id: str, lines: list[str]) -> list[str]:
    return [f"ST*{set_id}*0001", *lines, f"SE*{len(lines) + 2}*0001"]


def test_an_orders_documents_under_one_reused_control_number_stay_one_trace(store):
    """Our 850 PO-9; the supplier, hard-coding GS06 1 / ST02 0001, answers with an 855, an
    856 SH-1, an 810 INV-1, then a second 856 SH-2 (a partial shipment): all name PO-9. The
    second ASN shares the supplier's x12.st with the trace and its shipment differs from
    SH-1, so it was told apart and opened a trace of its own: one order, two traces."""
    correlator = Correlator(CATALOG, store)
    po = [["ST*850*0042", "BEG*00*SA*PO-9**20240301", "PO1*1*10*EA*9.5**VP*W-1", "SE*4*0042"]]
    feed(correlator, store, parsed(x12(US, PARTNER, "000000042", "PO", "42", po,
                                       newlines=True), "po.edi"))
    docs = [("PR", "1000", _supplier_document("855", ["BAK*00*AC*PO-9*20240301"])),
            ("SH", "1100", _supplier_document("856", ["BSN*00*SH-1*20240301*1100", "PRF*PO-9"])),
            ("IN", "1130", _supplier_document("810", ["BIG*20240301*INV-1**PO-9"])),
            ("SH", "1200", _supplier_document("856", ["BSN*00*SH-2*20240301*1200", "PRF*PO-9"]))]
    for n, (fid, at, doc) in enumerate(docs):
        text = x12(PARTNER, US, "000000001", fid, "1", [doc], newlines=True).replace(
            "*0930*", f"*{at}*")
        feed(correlator, store, parsed(text, f"s{n}.edi"))
    (trace,) = [t for t in all_traces(store).values() if "order:PO-9" in t.ids]
    assert {"shipment:SH-1", "shipment:SH-2", "invoice:INV-1"} <= set(trace.ids)
    assert trace.hop_count == 5
