"""How several traces of one ID are listed: at most MAX_MATCHES, saying when there were more,
each linked to the API path that names it alone."""

from __future__ import annotations

from collector.trace import Hop, Trace
from collector.tracequery import MAX_MATCHES, matches_doc, render_matches


def _traces(n: int) -> list[Trace]:
    return [Trace(f"x12.st:A>B:7:{i:04d}", [f"x12.st:A>B:7:{i:04d}", "x12.gs:A>B:7"], i, i,
                  hops=[Hop("edi.850.sent", None, "edi", i, "success", f"e{i}")], hop_count=1)
            for i in range(n)]


def test_more_than_the_limit_is_cut_and_said():
    many = _traces(MAX_MATCHES + 1)
    doc = matches_doc("x12.gs:A>B:7", many, full=False)
    assert (doc["count"], doc["truncated"], len(doc["matches"])) == (MAX_MATCHES, True, MAX_MATCHES)
    assert doc["matches"][0]["href"] == "/api/traces/x12.st%3AA%3EB%3A7%3A0000"
    assert "hops" not in doc["matches"][0]
    text = render_matches("x12.gs:A>B:7", many)
    assert text.startswith(f"{MAX_MATCHES} traces have the ID x12.gs:A>B:7 (the most recently "
                           "seen; narrow with a typed ID):")
    assert text.count("\n\ntrace     ") == MAX_MATCHES


def test_two_are_listed_whole():
    doc = matches_doc("x12.gs:A>B:7", _traces(2), full=True)
    assert (doc["count"], doc["truncated"]) == (2, False)
    assert [m["hops"][0]["event_id"] for m in doc["matches"]] == ["e0", "e1"]
