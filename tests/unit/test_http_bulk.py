"""The http input's ``_bulk`` reader: a request of action/document pairs as shippers send them
is cut in one go, anything else line by line, with the same result (a blank line first
makes a body take the line-by-line way: compared on every body here)."""

from __future__ import annotations

import pytest

from collector.inputs.http_bodies import BodyError, _uniform, bulk

DOC = b'{"message":"INFO  2024-03-01 10:15:33,004 x","log":{"offset":%d}}'
CREATE = b'{"create":{}}'


def body(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def read(raw: bytes) -> tuple[list, list[str]]:
    runs, actions = bulk(raw, "midwatch")
    return [(r.source, r.texts, r.ids) for r in runs], actions


def both_ways(raw: bytes) -> tuple[list, list[str]]:
    """``bulk`` of the body, asserted equal to the line-by-line reading of it."""
    got = read(raw)
    assert got == read(b"\n" + raw)
    return got


def one_go(raw: bytes) -> bool:
    return _uniform(raw.split(b"\n"), "midwatch", {}) is not None


def test_pairs_of_one_repeated_action_are_one_run():
    docs = [DOC % i for i in range(5)]
    raw = body(*[x for d in docs for x in (CREATE, d)])
    assert one_go(raw) and not one_go(b"\n" + raw)
    runs, actions = both_ways(raw)
    assert runs == [("bulk:midwatch", docs, None)] and actions == ["create"] * 5


def test_two_action_lines_of_one_index_and_crlf_line_ends():
    raw = body(CREATE, DOC % 1, b'{"index":{"_index":"midwatch"}}\r', DOC % 2 + b"\r")
    assert one_go(raw)
    runs, actions = both_ways(raw)
    assert runs == [("bulk:midwatch", [DOC % 1, DOC % 2 + b"\r"], None)]
    assert actions == ["create", "index"]


def test_a_document_that_reads_like_an_action_line_is_a_document():
    raw = body(CREATE, CREATE, CREATE, DOC % 2)
    assert one_go(raw)
    assert both_ways(raw) == ([("bulk:midwatch", [CREATE, DOC % 2], None)], ["create"] * 2)


@pytest.mark.parametrize("raw, runs, actions", [
    # a delete has no document: the pairs shift
    (body(b'{"delete":{"_id":"9"}}', CREATE, DOC % 1), [("bulk:midwatch", [DOC % 1], None)],
     ["delete", "create"]),
    (body(b'{"delete":{}}', CREATE, DOC % 1), [("bulk:midwatch", [DOC % 1], None)],
     ["delete", "create"]),
    # an update's partial document is no log line
    (body(b'{"update":{}}', b'{"doc":{}}', CREATE, DOC % 1),
     [("bulk:midwatch", [DOC % 1], None)], ["update", "create"]),
    # documents named by the sender: their _id is their identity
    (body(b'{"index":{"_id":"a"}}', DOC % 1, b'{"index":{"_id":"b"}}', DOC % 2),
     [("bulk:midwatch", [DOC % 1, DOC % 2], ["a", "b"])], ["index", "index"]),
    # two indices, and back: three runs in order
    (body(CREATE, DOC % 1, b'{"create":{"_index":"other"}}', DOC % 2, CREATE, DOC % 3),
     [("bulk:midwatch", [DOC % 1], None), ("bulk:other", [DOC % 2], None),
      ("bulk:midwatch", [DOC % 3], None)], ["create", "create", "create"]),
    # blank and whitespace lines are skipped wherever they are
    (body(CREATE, b"  ", DOC % 1, b"", CREATE, DOC % 2),
     [("bulk:midwatch", [DOC % 1, DOC % 2], None)], ["create", "create"]),
])
def test_anything_else_reads_as_line_by_line(raw, runs, actions):
    assert not one_go(raw)
    assert both_ways(raw) == (runs, actions)


@pytest.mark.parametrize("raw, message", [
    (body(CREATE, DOC % 1, CREATE), "bulk line 3: create without its document"),
    (body(b"not json", DOC % 1), "bulk line 1: not an action"),
    (body(b'{"a":{},"b":{}}', DOC % 1), "bulk line 1: expected one action"),
])
def test_a_broken_request_is_refused_naming_its_line(raw, message):
    with pytest.raises(BodyError) as refused:
        bulk(raw, "midwatch")
    assert refused.value.status == 400 and refused.value.message.startswith(message)


def test_the_answer_is_the_bytes_of_every_item_serialized_whole():
    """``bulk_answer`` joins each kind's item serialized once: the same bytes as the whole
    answer serialized at once, an item per action in order."""
    import orjson

    from collector.inputs.http_bodies import bulk_answer

    actions = ["create", "delete", "index", "create", "update"]
    created = {"_index": "logs", "status": 201, "result": "created"}
    refused = {a: {"_index": "logs", "status": 400, "error": {
        "type": "illegal_argument_exception",
        "reason": f"midwatch stores log events and does not perform {a}: nothing was "
                  f"changed"}} for a in ("delete", "update")}
    whole = {"took": 0, "errors": True,
             "items": [{a: refused.get(a, created)} for a in actions]}
    assert bulk_answer(actions, "logs") == orjson.dumps(whole)
    assert orjson.loads(bulk_answer(["create"] * 3, "logs")) == {
        "took": 0, "errors": False, "items": [{"create": created}] * 3}
    assert orjson.loads(bulk_answer([], "logs")) == {"took": 0, "errors": False, "items": []}
