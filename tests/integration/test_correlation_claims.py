"""Two collectors writing parts of one message into Elasticsearch make one trace, not two.

The scale-out case (issue 25, "spread"): each process of a consumer group sees part of every
message. A trace written within the store's refresh interval is invisible to another
collector's search, and a real-time get finds a trace only under its own key, so both
created a trace for the same message (repaired later by ``trace_repair``, at a cost). With
ID claims (``ElasticsearchStore.claim_ids``) the second one finds the first in real time by
any shared ID, or loses the claim and joins it. No ``refresh`` in these tests on purpose: that
is the window the claims close. Two different messages must stay two traces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event, event_id
from collector.store.base import Store, TraceQuery
from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import load, loads

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"
CATALOG = build_catalog(load(EXAMPLE))
T0 = (int(time.time()) // 60) * 60_000 - 3_600_000
DAY = 86_400_000


def _ev(n: int, at: int, service: str, ids: list[str]) -> Event:
    ev = Event(timestamp_ms=at, dataset="bench.test", platform="json", service=service,
               id=event_id("claims", str(n)), outcome="success")
    for i in ids:
        ev.add_id(*i.split(":", 1))
    return ev


def _message(k: int, at: int) -> tuple[list[Event], list[Event]]:
    """A message's gateway and worker events (one collector), and its sink event (the other):
    the gateway knows only the correlation ID, the sink only the order."""
    return ([_ev(3 * k, at, "gw", [f"correlation:c-{k}"]),
             _ev(3 * k + 1, at, "worker", [f"correlation:c-{k}", f"order:{k}"])],
            [_ev(3 * k + 2, at, "sink", [f"order:{k}"])])


@pytest.fixture
def store(es, es_index_prefix) -> Iterator[Store]:
    s = ElasticsearchStore(client=es, index_prefix=es_index_prefix)
    s.setup()
    yield s


def _write(correlator: Correlator, store: Store, events: list[Event]) -> None:
    correlator.process(events)
    store.write_events(events)
    correlator.flush()


def _traces(store: Store) -> dict[str, list[str]]:
    store.refresh()
    return {t.trace_key: sorted(h.event_id for h in t.hops)
            for t in store.search_traces(TraceQuery(limit=100))}


class _OtherWritesMeanwhile:
    """The real store, with another collector's flush run right after this one's look-up:
    both look up before either writes (the race of two processes flushing at once)."""

    def __init__(self, store: Store, other: Correlator):
        self.store, self.other = store, other

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def get_traces_by_ids(self, *args, **kwargs):
        found = self.store.get_traces_by_ids(*args, **kwargs)
        if self.other is not None:
            other, self.other = self.other, None
            other.flush()
        return found


def test_a_part_written_moments_ago_is_found_by_a_shared_id(store):
    """Not searchable yet, and not under the shared ID's key: found through the claim."""
    mine, theirs = _message(1, T0)
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    _write(one, store, mine)
    _write(two, store, theirs)
    got = _traces(store)
    assert list(got) == ["correlation:c-1"]
    assert len(got["correlation:c-1"]) == 3


def test_two_collectors_creating_one_message_at_once_make_one_trace(store):
    """Both look up before either writes: the second to claim the shared ID joins the
    first's trace instead of creating its own."""
    mine, theirs = _message(2, T0)
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    one.process(mine)
    store.write_events(mine)
    two.store = _OtherWritesMeanwhile(store, one)
    _write(two, store, theirs)
    got = _traces(store)
    assert list(got) == ["correlation:c-2"]
    assert len(got["correlation:c-2"]) == 3


def test_the_sink_first_then_the_gateway_at_once_make_one_trace(store):
    """The other order: the sink's collector claims first; the gateway's joins it."""
    mine, theirs = _message(3, T0)
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    two.process(theirs)
    store.write_events(theirs)
    one.store = _OtherWritesMeanwhile(store, two)
    _write(one, store, mine)
    got = _traces(store)
    assert len(got) == 1 and len(next(iter(got.values()))) == 3


def test_a_reused_id_days_apart_keeps_two_messages_apart(store):
    """The claim names the earlier message's trace; joining is still decided by the join
    window, so the later message gets a trace of its own, and the write ends (no claim
    retried for ever)."""
    one, two = Correlator(CATALOG, store), Correlator(CATALOG, store)
    _write(one, store, [_ev(100, T0 - 3 * DAY, "sink", ["order:7"])])
    _write(two, store, [_ev(101, T0, "sink", ["order:7"])])
    got = _traces(store)
    assert len(got) == 2 and sorted(len(hops) for hops in got.values()) == [1, 1]


def test_two_messages_at_once_sharing_an_id_but_not_their_order_stay_apart(store):
    """``one_per_message`` (order): a claim lost to another message's trace does not merge."""
    catalog = build_catalog(loads(EXAMPLE.read_text().replace(
        "  # one_per_message: [order]", "  one_per_message: [order]")))
    assert catalog.apart(["order:8"], ["order:9"])
    one, two = Correlator(catalog, store), Correlator(catalog, store)
    a = [_ev(200, T0, "worker", ["correlation:c-x", "order:8"])]
    b = [_ev(201, T0, "worker", ["correlation:c-x", "order:9"])]
    one.process(a)
    store.write_events(a)
    two.store = _OtherWritesMeanwhile(store, one)
    _write(two, store, b)
    got = _traces(store)
    assert len(got) == 2
