"""The acknowledgement window is one-sided (``Catalog.joins``): an ack answers a document up
to 7 days after it, but one stamped before a document joins it only within the partner's
clock skew (``ACK_SKEW_MS``). An orphan 997 on a partner that hard-codes ST02 used to swallow
that partner's next 850 for a week, which then read as acknowledged at once."""

from __future__ import annotations

from collector.correlation.catalog import ACK_SKEW_MS, build_catalog
from collector.trace import Hop, Trace
from collector.yamlconf import loads

HOUR, DAY = 3_600_000, 86_400_000
ST = "x12.st:ME:ACME:1:0001"
CATALOG = build_catalog(loads("flows: []\n", "flows.yaml"))


def one(at: int, action: str) -> Trace:
    hop = Hop(stage=None, service=None, platform="edi", timestamp_ms=at, outcome="success",
              event_id=f"{action}-{at}", action=action)
    return Trace(trace_key=f"{action}-{at}", ids=[ST], started_ms=at, last_seen_ms=at,
                 hops=[hop])


def test_an_ack_after_its_document_joins_for_the_ack_window():
    doc = one(0, "sent")
    assert CATALOG.joins(ST, doc, one(6 * DAY, "acknowledged"))
    assert CATALOG.joins(ST, one(6 * DAY, "acknowledged"), doc)  # either argument order
    assert not CATALOG.joins(ST, doc, one(8 * DAY, "acknowledged"))


def test_an_ack_before_its_document_joins_only_within_clock_skew():
    assert ACK_SKEW_MS == 14 * HOUR
    doc = one(10 * DAY, "sent")
    assert CATALOG.joins(ST, one(10 * DAY - 5 * HOUR, "acknowledged"), doc)
    assert CATALOG.joins(ST, one(10 * DAY - 14 * HOUR, "acknowledged"), doc)
    assert not CATALOG.joins(ST, one(10 * DAY - 15 * HOUR, "acknowledged"), doc)
    assert not CATALOG.joins(ST, doc, one(8 * DAY, "acknowledged"))  # the orphan of Monday


def test_an_id_window_longer_than_the_skew_holds_for_an_early_ack():
    custom = build_catalog(loads("ids:\n  join_window: {x12.st: 2d}\n", "flows.yaml"))
    early = one(DAY, "acknowledged")
    assert custom.joins(ST, early, one(DAY + 40 * HOUR, "sent"))
    assert not custom.joins(ST, early, one(DAY + 50 * HOUR, "sent"))


def test_two_documents_keep_the_ids_own_window():
    assert CATALOG.joins(ST, one(0, "sent"), one(2 * HOUR, "sent"))
    assert not CATALOG.joins(ST, one(0, "sent"), one(5 * HOUR, "sent"))


def test_store_reach_is_the_ids_own_one_sided_windows():
    """Documents look forward to their acks and back by the skew; acks look back a week."""
    assert CATALOG.reach_ms(ST, acks_only=False) == (ACK_SKEW_MS, 7 * DAY)
    assert CATALOG.reach_ms(ST, acks_only=True) == (7 * DAY, ACK_SKEW_MS)
    assert CATALOG.reach_ms("order:4711", acks_only=False) == (DAY, 7 * DAY)
