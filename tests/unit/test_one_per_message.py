"""``ids.one_per_message``: two orders are never one trace, whatever other ID they share.

Shapes: JSON Logger lines (Mule's JSON logger, one object a line) from an app that sends one
hard-coded ``X-Correlation-ID`` on every message (a constant ``correlationIdGeneratorExpression``
or a client copying a sample header), and OTel-instrumented JSON logs of a scheduled poll that
handles three orders inside one W3C trace (``trace_id`` on every record: the trace ID is shared by
every span of a distributed trace). Both folded every order into one trace; with
``one_per_message: [order]`` each order is its own trace, which its later hops still join, in
memory and through the store (a fresh correlator per batch, as after a restart). Correlated
into the real SQLite store.
"""

from __future__ import annotations

import io

import pytest

from collector.correlation.catalog import load_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import ConfigError

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _line(second: int, message: str, **fields: str) -> str:
    extra = "".join(f',"{k}":"{v}"' for k, v in fields.items())
    return (f'{{"timestamp":"2026-12-07T07:00:{second:02d}.000Z","level":"INFO",'
            f'"message":"{message}"{extra}}}\n')


HARD_CODED = "".join(_line(n, "order received", correlationId="12345", orderId=f"PO-{n}")
                     for n in range(4)) + _line(9, "order posted", orderId="PO-2")
POLL = "".join(_line(n, "order picked up", trace_id=TRACE, span_id=f"00f067aa0ba902b{n}",
                     orderId=f"SO-{n}") for n in range(3)) + _line(8, "order posted",
                                                                  orderId="SO-1")


def _events(text: str) -> list[Event]:
    ctx = ParseContext(now_ms=1_796_000_000_000)
    return [e for e in parse_stream(io.BytesIO(text.encode()), "app.log", "json", ctx)
            if isinstance(e, Event)]


def _correlate(tmp_path, events: list[Event], ids: dict, batches: int) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    catalog = load_catalog({"ids": ids, "flows": []})
    size = -(-len(events) // batches)
    for start in range(0, len(events), size):
        batch = events[start:start + size]
        correlator = Correlator(catalog, store)  # a fresh one: earlier traces are stored only
        correlator.process(batch)
        store.write_events(batch)
        correlator.flush()
        store.refresh()
    return store


@pytest.mark.parametrize("batches", [1, 5], ids=["in memory", "through the store"])
@pytest.mark.parametrize(("text", "orders", "shared"), [
    (HARD_CODED, [f"order:PO-{n}" for n in range(4)], "correlation:12345"),
    (POLL, [f"order:SO-{n}" for n in range(3)], f"otel.trace:{TRACE}"),
], ids=["hard-coded correlation ID", "one W3C trace for a poll"])
def test_orders_sharing_another_id_stay_apart(tmp_path, text, orders, shared, batches):
    store = _correlate(tmp_path, _events(text), {"one_per_message": ["order"]}, batches)
    try:
        keys = set()
        for order in orders:
            (trace,) = store.find_traces(order)
            assert [i for i in trace.ids if i.startswith("order:")] == [order]
            keys.add(trace.trace_key)
        assert len(keys) == len(orders)
        # the later hop naming only its order joined that order's trace
        last = _events(text)[-1].ids[0]
        (posted,) = store.find_traces(last)
        assert posted.hop_count == 2
        assert len(store.find_traces(shared)) >= 1
    finally:
        store.close()


def test_off_by_default_a_shared_id_joins_different_orders(tmp_path):
    """The default keeps joining them: a PO number and the receiver's order number are both
    ``order`` when fields are named so (a Boomi execution tracks OrderNumber and its document
    PO Number), and one message holding both must stay one trace."""
    store = _correlate(tmp_path, _events(HARD_CODED), {}, 1)
    try:
        (trace,) = store.find_traces("correlation:12345")
        assert {f"order:PO-{n}" for n in range(4)} <= set(trace.ids)
    finally:
        store.close()


def test_orders_sharing_one_of_several_order_ids_still_join(tmp_path):
    """An X12 940 names the depositor's and the purchaser's order numbers (W05 02, 03): a
    trace holding both joins one holding either."""
    text = (_line(0, "po", correlationId="c-1", orderId="PO-7")
            + _line(1, "940", correlationId="c-1", orderId="D-9")
            + _line(2, "945", correlationId="c-2", orderId="D-9"))
    events = _events(text)
    events[1].ids.append("order:PO-7")  # the 940 carries both
    store = _correlate(tmp_path, events, {"one_per_message": ["order"]}, 1)
    try:
        (trace,) = store.find_traces("order:PO-7")
        assert trace.hop_count == 3
    finally:
        store.close()


def test_the_setting_is_a_list_of_id_types():
    with pytest.raises(ConfigError, match="one_per_message"):
        load_catalog({"ids": {"one_per_message": ["order:PO-1"]}, "flows": []})
