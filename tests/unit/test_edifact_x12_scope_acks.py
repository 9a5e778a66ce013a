"""Which EDI acknowledgements answer a whole group or interchange (``ack_scope``).

Only an acknowledgement without per-document answers speaks for every document: a 997 with
AK1/AK9 and no AK2 loop, a CONTRL with a UCI (action 7 or 4) and no UCM. Where per-document
answers exist, the group/interchange event stays a summary and must not fan out (an AK9 P
would otherwise reject the sets the AK2 loops accepted).
"""

from pathlib import Path

import pytest

from collector.event import Record
from collector.parsers import edifact, x12
from collector.parsers.base import ParseContext

DATA = Path(__file__).resolve().parents[1] / "data"
CTX = ParseContext(now_ms=1_709_900_000_000, edi_own_ids=frozenset({"ACMEBUYER", "5412345000013"}))
ISA = ("ISA*00*          *00*          *ZZ*WIDGETSUPPLY   *ZZ*ACMEBUYER      *240301*1015*U*"
       "00401*000000733*0*P*>~")


def scopes(module, text: str) -> list[tuple[str, str | None]]:
    return [(e.action, e.labels.get("ack_scope"))
            for e in module.parse(Record(text=text, source="t.edi"), CTX)]


@pytest.mark.parametrize("sep", ["~", "~\n", "~\r\n"])
@pytest.mark.parametrize("status, action", [("A", "acknowledged"), ("E", "acknowledged"),
                                            ("R", "rejected"), ("W", "rejected")])
def test_997_with_only_ak9_answers_the_group(sep, status, action):
    segs = ["GS*FA*WIDGETSUPPLY*ACMEBUYER*20240301*1015*733*X*004010", "ST*997*0001",
            "AK1*PO*1001", f"AK9*{status}*3*3*{3 if status in 'AE' else 0}", "SE*4*0001",
            "GE*1*733", "IEA*1*000000733"]
    text = ISA[:-1] + sep + sep.join(segs) + sep
    (ev,) = x12.parse(Record(text=text, source="t.edi"), CTX)
    assert (ev.action, ev.labels["ack_scope"]) == (action, "group")
    assert ev.ids == ["x12.gs:ACMEBUYER>WIDGETSUPPLY:1001"]
    assert "applies to every set of the group" in ev.message


def test_997_with_ak2_loops_answers_sets_not_the_group():
    text = (DATA / "x12" / "acknowledgements.edi").read_text()
    interchange = text.split("IEA*2*000000520~")[0] + "IEA*2*000000520~"
    assert [s for _, s in scopes(x12, interchange)] == [None] * 5


@pytest.mark.parametrize("action, expected", [("7", ("acknowledged", "interchange")),
                                              ("4", ("rejected", "interchange")),
                                              ("8", ("delivered", None))])
def test_contrl_with_only_a_uci_answers_the_interchange(action, expected):
    text = ("UNA:+.? 'UNB+UNOC:3+4012345000009:14+5412345000013:14+240301:1015+C9'"
            "UNH+1+CONTRL:D:3:UN'"
            f"UCI+ICR9+5412345000013:14+4012345000009:14+{action}'UNT+3+1'UNZ+1+C9'")
    assert scopes(edifact, text) == [expected]


def test_contrl_with_ucm_answers_messages_not_the_interchange():
    text = (DATA / "edifact" / "contrl.edi").read_text().split("UNA", 2)[1]
    assert [s for _, s in scopes(edifact, "UNA" + text)] == [None, None, None]
