"""A Kafka record key names the entity whose records stay in order, not one message.

Shape: ``kafka-console-consumer --property print.timestamp=true --property print.partition=true
--property print.offset=true --property print.headers=true --property print.key=true`` lines
(Kafka's DefaultMessageFormatter, tab-separated) of an orders topic keyed by customer, the
usual producer choice: "messages with the same key go to the same partition", so a
customer's orders are consumed in order (kafka.apache.org/documentation, producer
``partitioner``). Every order of one customer carried ``kafka.key:customer-42``, and linking
on it folded them all into one trace within the day-long join window. The key stays on the
trace (a lookup by it lists the customer's orders) but joins nothing, in the built-in
defaults and the example catalog. Correlated into the real SQLite store.
"""

from __future__ import annotations

import io
import logging

from correlate_support import correlated

from collector.correlation.catalog import empty_catalog, load_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.sqlite import SQLiteStore

LINES = "".join(
    f"CreateTime:17963520{n}0000\tPartition:3\tOffset:{100 + n}\tcorrelation-id:corr-{n}"
    f'\tcustomer-42\t{{"orderId":"K-{n}","status":"NEW"}}\n' for n in range(3))


def _events(text: str) -> list[Event]:
    ctx = ParseContext(now_ms=1_796_000_000_000)
    return [e for e in parse_stream(io.BytesIO(text.encode()), "orders.v1", "kafka-record", ctx)
            if isinstance(e, Event)]


def test_orders_of_one_customer_key_are_separate_traces(tmp_path):
    events = _events(LINES)
    assert [e.ids for e in events][0] == ["correlation:corr-0", "kafka.key:customer-42",
                                          "order:K-0"]
    with correlated(tmp_path, events) as store:
        traces = store.find_traces("kafka.key:customer-42")
        assert len(traces) == 3
        for n in range(3):
            (trace,) = store.find_traces(f"order:K-{n}")
            assert trace.hop_count == 1 and f"correlation:corr-{n}" in trace.ids
            assert "kafka.key:customer-42" in trace.ids


def test_the_built_in_defaults_keep_the_key_as_a_label():
    assert not empty_catalog().is_link("kafka.key:customer-42")


def test_a_labels_list_without_the_key_is_warned_about_at_start_up(tmp_path, caplog):
    """Review G item 7: a catalog with its own ``ids.labels`` (copied from the old example)
    silently kept joining on record keys."""
    old = load_catalog({"ids": {"labels": ["x12.isa", "batch"]}, "flows": []})
    assert old.is_link("kafka.key:customer-42")
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        with caplog.at_level(logging.WARNING):
            Correlator(old, store)
        assert [r.getMessage() for r in caplog.records if "kafka.key" in r.getMessage()]
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            Correlator(load_catalog({"ids": {"labels": ["batch", "kafka.key"]}}), store)
            Correlator(empty_catalog(), store)
        assert not [r for r in caplog.records if "kafka.key" in r.getMessage()]
    finally:
        store.close()
