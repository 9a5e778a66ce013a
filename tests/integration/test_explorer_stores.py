"""The explorer's store questions answer the same from SQLite and Elasticsearch: ID search
(typed, bare, shared), filtered and paginated lists, the flow funnel, and the trace page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from test_store_contract import _sqlite_store

from collector.event import Event
from collector.explorer import queries, routes
from collector.store.base import Store
from collector.trace import Hop, Trace

NOW = int(time.time() * 1000)


@pytest.fixture(params=["sqlite", "elasticsearch"])
def store(request, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = contextmanager(_sqlite_store)(tmp_path / "store.sqlite")
    else:
        opened = request.getfixturevalue("engine_store")(
            "elasticsearch", request.getfixturevalue("es_index_prefix"))
    with opened as s:
        yield from _filled(s)


def _filled(s: Store) -> Iterator[Store]:
    t0 = NOW - 60_000
    s.write_events([
        Event(timestamp_ms=t0, dataset="t", platform="apigw", id="e1", stage="api.received",
              ids=["order:4711", "correlation:c-1"], outcome="success"),
        Event(timestamp_ms=t0 + 500, dataset="t", platform="mulesoft", id="e2",
              stage="mule.failed", ids=["correlation:c-1"], outcome="failure",
              signature="sig-1", error_message="boom"),
    ])
    hops = [Hop("api.received", None, "apigw", t0, "success", "e1"),
            Hop("mule.failed", "order-sync", "mulesoft", t0 + 500, "failure", "e2")]
    s.upsert_traces([
        Trace("order:4711", ["order:4711", "correlation:c-1"], t0, t0 + 500, flow="o2c",
              status="failed", hop_count=2, stages=("api.received", "mule.failed"), hops=hops),
        Trace("po:9", ["po:9", "correlation:c-1"], t0, t0 - 100, flow="o2c", status="stuck",
              hop_count=1, stages=("api.received",), hops=hops[:1]),
        *(Trace(f"order:{n}", [f"order:{n}"], t0, t0 - 1000 * (n + 1), flow="o2c",
                status="completed", hop_count=1, stages=("api.received",), hops=hops[:1])
          for n in range(4)),
    ])
    s.refresh()
    yield s


def test_search_lists_and_funnel_agree_across_stores(store):
    assert [t.trace_key for t in queries.find(store, "order:4711")] == ["order:4711"]
    assert [t.trace_key for t in queries.find(store, "c-1")] == ["order:4711", "po:9"]
    assert queries.find(store, "nope") == []

    page = queries.list_traces(store, queries.ListQuery(flow="o2c"), page_size=3)
    assert [t.trace_key for t in page.traces] == ["order:4711", "po:9", "order:0"]
    rest = queries.list_traces(store, queries.ListQuery(flow="o2c", until_ms=page.next_until_ms))
    assert [t.trace_key for t in rest.traces] == ["order:1", "order:2", "order:3"]
    only = queries.list_traces(store, queries.ListQuery(platform="mulesoft"))
    assert [t.trace_key for t in only.traces] == ["order:4711"]
    signed = queries.list_traces(store, queries.ListQuery(signature="sig-1"))
    assert [t.trace_key for t in signed.traces] == ["order:4711"]

    f = queries.funnel(store, "o2c", NOW - 3_600_000)
    assert f.stages == [("api.received", 6), ("mule.failed", 1)]
    assert f.statuses == {"failed": 1, "stuck": 1, "completed": 4}
    assert queries.flows(store, NOW - 3_600_000, NOW) == [("o2c", 6)]


def test_trace_page_renders_from_either_store(store):
    status, page = routes._page(store, "/traces/order%3A4711", {})
    assert status == 200
    assert page.count('class="wrow"') == 2 and "boom" in page
    status, page = routes._page(store, "/flows/o2c", {"since": "1h"})
    assert status == 200 and "reached api.received but not mule.failed" in page
