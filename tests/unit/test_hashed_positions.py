"""Lines named by their content (syslog frames, bare HTTP lines, OTel Collector records) are
hashed only where their position is read, a record's first line
(``collector.envelopes.numbering``), and their event IDs stay exactly those of hashing every
line: an upgrade in the middle of a stream (or a worker restart re-parsing frames in hand)
must overwrite what was stored, not duplicate it.

``IDS`` holds the event IDs the code before this change (02eea42) made of the deliveries
below; ``python tests/unit/test_hashed_positions.py`` with that tree first on ``PYTHONPATH``
(``git archive 02eea42 | tar -x -C DIR``) writes it again. Repeated lines (the samples sent
ten times in one second, so the numbering counts continuation lines too) are the point.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from collector import native
from collector.config import CollectorSettings
from collector.envelopes.shipped import digest
from collector.event import DeadLetter, Event, Record
from collector.inputs import syslog_frames
from collector.inputs.base import parse_context
from collector.parse import ParseStats
from collector.shipping import Delivery

DATA = Path(__file__).resolve().parents[1] / "data"
IDS = Path(__file__).with_name("hashed_ids_02eea42.json")
SAMPLES = {"/opt/mule/logs/app.log": "mule/app-runtime.log",
           "/var/log/nginx/access.log": "apigw/nginx-access.log",
           "/data/edi/in/po.edi": "x12/purchase-orders.edi",
           "/var/log/app/orders.json": "json/app.jsonl"}
NOW_MS = 1_709_900_000_000


def rows(rel: str) -> list[str]:
    return (DATA / rel).read_text().splitlines()


def syslog(copies: int) -> list[bytes]:
    """The samples a line a frame, all in one second (so every repeated line is numbered),
    with the fixtures' RFC 5424 and 3164 frames and a frame of two lines."""
    out: list[bytes] = []
    for path, rel in SAMPLES.items():
        out += [(f'<134>1 2024-03-01T10:15:33.004Z mule-01 app - - [file@32473 path="{path}"] '
                 f'{row}').encode() for row in rows(rel) * copies]
    for name in ("syslog-5424.txt", "syslog-3164.txt"):
        out += [line.encode() for line in rows(f"shippers/{name}")] * 2
    out.append(b'<134>1 2024-03-01T10:15:35Z mule-01 app - - - java.lang.Error: x\n\tat a.b(C.java:1)')
    return out


def documents() -> list[str]:
    """What an HTTP request carries: the samples as bare lines and as Filebeat documents
    without an offset (hashed), the shipper fixtures (an OTLP export among them)."""
    out: list[str] = []
    for path, rel in SAMPLES.items():
        out += rows(rel) * 2
        out += [json.dumps({"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
                            "host": {"name": "mule-01"}, "log": {"file": {"path": path}},
                            "message": row}) for row in rows(rel) * 2]
    for name in sorted(p.name for p in (DATA / "shippers").glob("*.json")):
        out += [json.dumps(json.loads((DATA / "shippers" / name).read_text()))] * 2
    return out


def event_ids() -> dict[str, list[str]]:
    """Per way in, the IDs of the events (and "dead" per dead letter), in order."""
    ctx = parse_context(CollectorSettings(), frozenset(), None)
    ctx.now_ms = NOW_MS
    out: dict[str, list] = {}

    def ids(items: list) -> list[str]:
        return [i.id if isinstance(i, Event) else "dead" for i in items
                if isinstance(i, Event | DeadLetter)]

    frames = syslog(10)
    for name, size in (("syslog-batches-50", 50), ("syslog-one-read", len(frames))):
        delivery = Delivery(ctx, ParseStats())
        items: list = []
        for i in range(0, len(frames), size):
            delivery.tick()
            items += syslog_frames.parse(delivery, frames[i:i + size], "syslog:127.0.0.1", NOW_MS)
        out[name] = ids(items + delivery.finish())
    texts = documents()
    delivery = Delivery(ctx, ParseStats())
    out["frames"] = ids(delivery.frames([t.encode() for t in texts], "http:/ingest", NOW_MS)
                        + delivery.finish())
    delivery = Delivery(ctx, ParseStats())
    out["records"] = ids(delivery.records([Record(text=t, source="http:/_bulk", ingested_ms=NOW_MS)
                                           for t in texts], False) + delivery.finish())
    return out


@pytest.mark.parametrize("fast", [True, False])
def test_event_ids_are_those_hashing_every_line_made(fast):
    before = native.use(fast)
    try:
        now = event_ids()
    finally:
        native.use(before)
    old = json.loads(IDS.read_text())
    assert sum(map(len, old.values())) > 700
    for way, ids in old.items():
        # The same IDs; the order may differ since an EDI record is handed over at its
        # trailer (IEA/UNZ), not when the next record starts.
        assert sorted(now[way]) == sorted(ids), way
    # However a sender's frames fall into reads, the same events in the same order.
    assert now["syslog-batches-50"] == now["syslog-one-read"]
    # The deliveries do repeat lines within a second: numbered positions were compared.
    events = [i for i in old["syslog-one-read"] if i != "dead"]
    assert len(set(events)) == len(events) > 100


def reference(texts: list[str], max_seen: int) -> list[str]:
    """The numbering before: every line hashed, the hashes counted (``Delivery._unique``)."""
    seen: dict[str, int] = {}
    out = []
    for text in texts:
        position = digest(text)
        count = seen.get(position, 0)
        if len(seen) >= max_seen:
            seen.clear()
        seen[position] = count + 1
        out.append(f"{position}#{count}" if count else position)
    return out


@pytest.mark.parametrize("kept_chars", [10**9, 400, 0])
def test_numbering_past_its_bounds_numbers_as_the_hashes_did(monkeypatch, kept_chars):
    """Past ``MAX_SEEN`` the count starts afresh, past ``MAX_KEPT_CHARS`` it counts hashes:
    the positions are those of counting hashes throughout, run by run or line by line."""
    from collector.envelopes import numbering

    monkeypatch.setattr(numbering, "MAX_SEEN", 40)
    monkeypatch.setattr(numbering, "MAX_KEPT_CHARS", kept_chars)
    rng = random.Random(7)
    lines = [(f"line {rng.randrange(60)}", None, 0, False, True) for _ in range(500)]
    created = [rng.choice((0, 1_709_288_133_004)) for _ in lines]
    texts = [f"{ms}\x1f{line[0]}" for line, ms in zip(lines, created, strict=True)]
    expected = reference(texts, 40)
    counting = numbering.Numbering()
    assert [str(p) for _, p, *_ in counting.lines(lines, created)] == expected
    one_by_one = numbering.Numbering()
    assert [one_by_one.position(text) for text in texts] == expected
    assert len(set(expected)) < len(expected)  # repeats were numbered


def test_only_first_lines_of_records_are_hashed(monkeypatch):
    """The point of the change: an X12 interchange (one record of many segment lines) sent
    over syslog is hashed once, for its event, not once a segment."""
    from collector.envelopes import numbering

    calls: list[str] = []
    monkeypatch.setattr(numbering, "digest", lambda text: calls.append(text) or digest(text))
    frames = [(f'<134>1 2024-03-01T10:15:33.004Z edi-01 app - - [file@32473 '
               f'path="/data/edi/in/po.edi"] {row}').encode()
              for row in rows("x12/purchase-orders.edi")]
    ctx = parse_context(CollectorSettings(), frozenset(), None)
    ctx.now_ms = NOW_MS
    delivery = Delivery(ctx, ParseStats())
    items = syslog_frames.parse(delivery, frames, "syslog:127.0.0.1", NOW_MS) + delivery.finish()
    events = [i for i in items if isinstance(i, Event)]
    interchanges = [row for row in rows("x12/purchase-orders.edi") if row.startswith("ISA")]
    assert len(events) >= len(interchanges) > 1
    assert [text.partition("\x1f")[2] for text in calls] == interchanges


if __name__ == "__main__":
    IDS.write_text(json.dumps(event_ids(), indent=0) + "\n")
    print(f"wrote {IDS} with {__import__('collector').__file__}", file=sys.stderr)
