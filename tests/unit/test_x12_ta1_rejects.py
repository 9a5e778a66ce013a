"""A TA1 that rejects an interchange rejects every set in it, on their traces.

The TA1 carries only the original's ``x12.isa``, which is a label (it must not join the sets
of one interchange), so the rejection reached no trace: the sets stayed ``in_flight`` until
their SLA made them ``stuck``, though the partner had refused them and no 997 would come.
An accepted TA1 answers the envelope only and settles nothing (the 997 still must come).
Correlated into the real SQLite store with the example catalog.
"""

from __future__ import annotations

import io
from pathlib import Path

from correlate_support import correlated

from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext


def _isa(sender: str, receiver: str, control: str) -> str:
    return (f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{receiver:<15}*240331*0930*U*"
            f"00401*{control}*0*P*>~\n")


def _two_orders(control: str, gs: str) -> str:
    sets = "".join(f"ST*850*000{n}~\nBEG*00*SA*PO-{gs}-{n}**20240331~\nCTT*0~\nSE*4*000{n}~\n"
                   for n in (1, 2))
    return (_isa("ACMEBUYER", "WIDGETSUPPLY", control)
            + f"GS*PO*ACMEBUYER*WIDGETSUPPLY*20240331*0930*{gs}*X*004010~\n{sets}"
            + f"GE*2*{gs}~\nIEA*1*{control}~\n")


def _ta1(control: str, status: str, note: str) -> str:
    return (_isa("WIDGETSUPPLY", "ACMEBUYER", "000000900")
            + f"TA1*{control}*240331*0930*{status}*{note}~\nIEA*0*000000900~\n")


def _statuses(tmp_path: Path, text: str) -> dict[str, str]:
    ctx = ParseContext(now_ms=1_796_000_000_000, edi_own_ids=frozenset({"ACMEBUYER"}))
    events = [e for e in parse_stream(io.BytesIO(text.encode()), "b2b.edi", "x12", ctx)
              if isinstance(e, Event)]
    with correlated(tmp_path, events) as store:
        return {po: store.find_traces(f"order:{po}")[0].status
                for po in ("PO-1001-1", "PO-1001-2", "PO-2002-1", "PO-2002-2")}


def test_a_rejecting_ta1_rejects_the_sets_of_its_interchange_only(tmp_path):
    text = (_two_orders("000000007", "1001") + _two_orders("000000008", "2002")
            + _ta1("000000007", "R", "022") + _ta1("000000008", "A", "000"))
    assert _statuses(tmp_path, text) == {"PO-1001-1": "rejected", "PO-1001-2": "rejected",
                                         "PO-2002-1": "in_flight", "PO-2002-2": "in_flight"}


def test_an_ack_of_a_reused_control_number_leaves_answered_interchanges_alone(tmp_path):
    # ISA13 000000007 wrapped: a month ago its sets were acknowledged by a 997 (group ack);
    # the TA1 rejecting the new interchange of that number must not reject them
    old = _two_orders("000000007", "1001").replace("240331", "240301")
    ack_997 = (_isa("WIDGETSUPPLY", "ACMEBUYER", "000000520").replace("240331", "240301")
               + "GS*FA*WIDGETSUPPLY*ACMEBUYER*20240301*0930*520*X*004010~\nST*997*0001~\n"
               "AK1*PO*1001~\nAK9*A*2*2*2~\nSE*4*0001~\nGE*1*520~\nIEA*1*000000520~\n")
    text = old + ack_997 + _two_orders("000000007", "2002") + _ta1("000000007", "R", "022")
    assert _statuses(tmp_path, text) == {"PO-1001-1": "acknowledged", "PO-1001-2": "acknowledged",
                                         "PO-2002-1": "rejected", "PO-2002-2": "rejected"}
