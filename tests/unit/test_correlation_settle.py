"""The correlator settles a trace's status once per flush, not once per event, so whatever
reads statuses between ``process`` and the next successful flush settles first. The SLA sweep
does: a message completed by an event not yet written is not marked stuck."""

from __future__ import annotations

from collector.correlation.catalog import load_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.store.sqlite import SQLiteStore

CATALOG = {"flows": [{"name": "orders", "sla": "1m", "stages": [
    {"name": "received", "match": {"platform": "mulesoft"}},
    {"name": "delivered", "terminal": "success", "match": {"platform": "generic"}},
]}]}
T0 = 1_709_546_400_000


def test_the_sweep_settles_what_process_left_before_it_looks_for_overdue_traces(tmp_path):
    store = SQLiteStore(tmp_path / "traces.sqlite")
    store.setup()
    correlator = Correlator(load_catalog(CATALOG), store)
    correlator.process([Event(T0, "mule.app", "mulesoft", id="e1",
                              ids=["correlation:m1"])])
    correlator.flush()
    correlator.process([Event(T0 + 1_000, "sap.bridge", "generic", id="e2",
                              ids=["correlation:m1"])])  # the terminal stage: completed

    assert correlator.sweep(T0 + 3_600_000) == []  # an hour later, long past the SLA

    correlator.flush()
    (trace,) = store.find_traces("correlation:m1")
    assert (trace.status, trace.stages, trace.hop_count) == ("completed",
                                                             ("received", "delivered"), 2)
