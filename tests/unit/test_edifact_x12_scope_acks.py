"""Which EDI acknowledgements answer a whole group or interchange (``ack_scope``).

A 997 with AK1/AK9 and no AK2 loop, or a CONTRL with a UCI (action 7 or 4) and no UCM,
speaks for every document. Where it also answers some documents one by one, the group/interchange
answer still holds for the others ("acknowledged unless explicitly rejected"): the scope then
names the answered documents in ``ack_except``, and an AK9 P (which rejects the sets it lists)
answers the others with a separate, accepting event, never with its own.
"""

from pathlib import Path

import pytest

from collector.event import Record
from collector.parsers import edifact, x12
from collector.parsers._base import ParseContext

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


def test_contrl_with_ucm_answers_them_and_the_uci_the_other_messages():
    text = "UNA" + (DATA / "edifact" / "contrl.edi").read_text().split("UNA", 2)[1]
    assert [s for _, s in scopes(edifact, text)] == ["interchange", None, None]
    uci, *_ = edifact.parse(Record(text=text, source="t.edi"), CTX)
    pair = "5412345000013>4012345000009"
    assert uci.labels["ack_except"].split("\n") == [f"edifact.unh:{pair}:ICR00017:1/ORDERS",
                                                     f"edifact.unh:{pair}:ICR00017:2/ORDERS"]
    assert uci.message.endswith("applies to the messages of the interchange not answered one "
                                "by one (2 are)")


def _997(ak2_sets: list[tuple[str, str]], ak9: str) -> str:
    segs = ["GS*FA*WIDGETSUPPLY*ACMEBUYER*20240301*1015*733*X*004010", "ST*997*0001",
            "AK1*PO*1001"]
    for st02, status in ak2_sets:
        segs += [f"AK2*850*{st02}", f"AK5*{status}" + ("*5" if status == "R" else "")]
    segs += [ak9, f"SE*{len(segs) + 1}*0001", "GE*1*733", "IEA*1*000000733"]
    return ISA + "~".join(segs) + "~"


@pytest.mark.parametrize("ak9, rest", [("AK9*P*3*3*2", ("acknowledged", "success", "A")),
                                       ("AK9*E*3*3*3", ("acknowledged", "success", "A")),
                                       ("AK9*R*3*3*0*5", ("rejected", "failure", "R"))])
def test_997_listing_only_sets_in_error_answers_the_others_with_its_ak9(ak9, rest):
    events = x12.parse(Record(text=_997([("0002", "R")], ak9), source="t.edi"), CTX)
    assert [s for _, s in ((e.action, e.labels.get("ack_scope")) for e in events)] == [
        None, None, "group"]
    one, group, others = events
    assert one.ids[0] == "x12.st:ACMEBUYER>WIDGETSUPPLY:1001:0002" and one.action == "rejected"
    assert (others.action, others.outcome, others.labels["x12_ack_status"]) == rest
    assert others.ids == group.ids == ["x12.gs:ACMEBUYER>WIDGETSUPPLY:1001"]
    assert others.labels["ack_except"] == one.ids[0]
    assert "not answered one by one" in others.message
    assert (others.error_message is None) == (rest[1] == "success")


def test_997_answering_every_set_one_by_one_has_no_answer_for_the_rest():
    events = x12.parse(Record(text=_997([("0001", "A"), ("0002", "R")], "AK9*P*2*2*1"),
                              source="t.edi"), CTX)
    assert [e.labels.get("ack_scope") for e in events] == [None, None, None]


def test_997_with_too_many_sets_to_list_leaves_the_rest_unanswered():
    sets = [(f"{n:04d}", "R") for n in range(1, 501)]
    events = x12.parse(Record(text=_997(sets, "AK9*P*900*900*400"), source="t.edi"), CTX)
    assert len(events) == 501 and not any("ack_scope" in e.labels for e in events)
    assert "500 sets answered one by one, too many to list" in events[-1].message
