"""The shipped flow catalog (deploy/flows.example.yaml) completes orders on the demo's own
logs, read as `midwatch run` reads them (file inputs, each file's path as its source). It
gave 285 in flight and 0 completed: the JSON parser ignored top-level `action`/`outcome`, and
`kafka.published` matched only records fed from Kafka. This test keeps catalog and demo in
step: a change to either that breaks the other fails here."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.base import TraceQuery
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import load
from midwatch.demo.scenario import OWN_EDI_ID, build

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"
NOW = 1_800_000_000_000
# scenario fate -> how its order-to-cash trace must end. Only mapping and validation failures
# end the flow in Boomi (boomi.mapping_failed); an expired certificate waits for a retry that
# never comes, so that order is stuck past its SLA.
EXPECTED = {"ok": "completed", "retry_storm": "completed", "mapping_failed": "failed",
            "cert_error": "stuck", "stuck_mule": "stuck", "stuck_kafka": "stuck"}


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    sc = build(7, 120, NOW)
    logs = tmp_path_factory.mktemp("demo") / "logs"
    logs.mkdir()
    events: list[Event] = []
    for name, (fmt, text) in sc.files.items():
        path = logs / name
        ctx = ParseContext(now_ms=NOW, edi_own_ids=frozenset({OWN_EDI_ID}))
        events += [e for e in parse_stream(io.BytesIO(text.encode()), str(path), fmt, ctx)
                   if isinstance(e, Event)]
    events.sort(key=lambda e: e.timestamp_ms)
    store = SQLiteStore(logs.parent / "m.sqlite")
    store.setup()
    correlator = Correlator(build_catalog(load(EXAMPLE)), store)
    for start in range(0, len(events), 500):
        batch = events[start:start + 500]
        correlator.process(batch)
        store.write_events(batch)
        correlator.flush()
    correlator.sweep(NOW)
    found = store.search_traces(TraceQuery(limit=10_000))
    store.close()
    return sc, found


def test_every_order_ends_as_its_scenario_says(traces):
    sc, found = traces
    by_id = {i: t for t in found if t.flow == "order-to-cash" for i in t.ids}
    # the gateway's correlation ID is on every order's trace (a mapping failure ends before
    # Mule logs the order number)
    ended = {order: by_id[f"correlation:{sc.starts[order][1]}"].status for order in sc.orders}
    assert len({by_id[f"correlation:{corr}"].trace_key for _, corr in sc.starts.values()}) \
        == len(sc.orders)
    assert ended == {order: EXPECTED[fate] for order, fate in sc.orders.items()}
    assert Counter(ended.values())["completed"] > 90  # of 120


def test_completed_orders_passed_every_hop_of_the_catalog(traces):
    sc, found = traces
    done = [t for t in found if t.flow == "order-to-cash" and t.status == "completed"]
    assert len(done) == sum(fate in ("ok", "retry_storm") for fate in sc.orders.values()) > 0
    for t in done:
        assert t.stages[0] == "api.received" and t.stages[-1] == "erp.posted", t.stages
        assert {"mule.transformed", "kafka.published", "boomi.processed"} <= set(t.stages)
        assert t.ended_ms is not None


def test_the_edi_flow_is_acknowledged_or_rejected(traces):
    _, found = traces
    edi = Counter(t.status for t in found if t.flow == "edi-850-outbound")
    assert edi["acknowledged"] > 0 and edi["rejected"] > 0
    assert not [t for t in found if t.flow == "unknown" and t.hop_count > 1]
