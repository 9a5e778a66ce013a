"""Events shipped by a parse worker as their document bytes (``collector.encoded``): the same
documents, IDs and times as parsing in the process, and every consumer of an event (spool,
dead letters, batch accounting) takes them as it takes events."""

from __future__ import annotations

import pickle

import orjson
import pytest
from test_parse_worker import _content

from collector.config import CollectorSettings
from collector.encoded import EncodedEvent, encoded
from collector.event import DeadLetter, Event, from_doc, to_doc
from collector.inputs.base import parse_context
from collector.inputs.lines import LineReader
from collector.inputs.parse_worker import ParseWorker
from collector.service.pipeline import rejected_deadletter
from collector.service.spool import Spool

NOW = 1_700_000_000_000


@pytest.fixture
def encoding_worker():
    w = ParseWorker(parse_context(CollectorSettings(), frozenset(), None), "orders", encode=True)
    yield w
    w.close()


@pytest.mark.parametrize("chunk", [7, 4096])
def test_an_encoding_worker_ships_the_documents_the_process_would_write(encoding_worker, chunk):
    spec = ("mule", "/logs/mule.log", "42:0", 0, 0, 1024)
    local = LineReader.open(parse_context(CollectorSettings(), frozenset(), None), *spec)
    remote = encoding_worker.reader(*spec)
    data = _content()
    got_local, got_remote = [], []
    for at in range(0, len(data), chunk):
        got_local += local.feed(data[at:at + chunk], NOW)[0]
        got_remote += remote.feed(data[at:at + chunk], NOW)[0]
    got_local += local.flush(NOW + 1000)
    got_remote += remote.flush(NOW + 1000)
    assert len(got_remote) == len(got_local) == 9
    for mine, theirs in zip(got_local, got_remote, strict=True):
        if isinstance(mine, DeadLetter):
            assert theirs == mine
            continue
        assert isinstance(theirs, EncodedEvent)
        assert (theirs.id, theirs.timestamp_ms, theirs.ingested_ms) == (
            mine.id, mine.timestamp_ms, mine.ingested_ms)
        assert theirs.doc == orjson.dumps(to_doc(mine))
        assert from_doc(orjson.loads(theirs.doc)) == mine
    remote.close()


def test_an_event_orjson_refuses_stays_an_event_for_the_writer_to_dead_letter():
    bad = Event(NOW, "app", "generic", message="lone \ud800 surrogate", id="e1")
    good = Event(NOW, "app", "generic", message="fine", id="e2")
    dl = DeadLetter(reason="parse_error: x", source="/a", line=1, raw="x")
    out = encoded([bad, good, dl])
    assert out[0] is bad and out[2] is dl
    assert isinstance(out[1], EncodedEvent) and out[1].id == "e2"
    assert pickle.loads(pickle.dumps(out[1], protocol=pickle.HIGHEST_PROTOCOL)) == out[1]


def test_spool_and_dead_letters_take_encoded_events_as_events(tmp_path):
    ev = Event(NOW, "mule.app", "mulesoft", message="order 7 \u00e9", id="id-7",
               ingested_ms=NOW + 5, ids=["order:7"], labels={"k": "v"}, original="raw line")
    (enc,) = encoded([ev])
    spool = Spool(tmp_path / "spool")
    segment = spool.append([enc, ev], [])
    assert spool.read(segment) == ([ev, ev], [])

    from_encoded = rejected_deadletter(enc, "mapper_parsing_exception: boom")
    from_event = rejected_deadletter(ev, "mapper_parsing_exception: boom")
    assert from_encoded.source == from_event.source == "event:id-7"
    assert from_encoded.raw == from_event.raw and orjson.loads(from_encoded.raw)["message"] == \
        "order 7 \u00e9"
    assert from_encoded.reason == "store_rejected: mapper_parsing_exception: boom"
