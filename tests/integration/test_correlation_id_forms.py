"""One UUID in a SOAP hop's URN form and a REST hop's bare form is one message; a nil GUID
in .NET's braced form or as a URN names none. On SQLite and Elasticsearch, with the first
hop's trace in memory or only in the store (a restart), looked up by any form.

Before: the URN hop and the bare hop made two traces (each form another ID), and every
message whose SOAP header carried ``urn:uuid:00000000-...`` or whose .NET service logged
``Guid.Empty`` braced folded into one trace.
"""

from __future__ import annotations

import time

import pytest
import test_correlation

from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event, event_id
from collector.store.base import Store
from collector.tracequery import find_by_id

store = test_correlation.store  # SQLite and Elasticsearch
packing = test_correlation.packing  # traces held as objects, then packed

MINUTE = 60_000
T0 = (int(time.time() * 1000) // MINUTE) * MINUTE - 60 * MINUTE
A = "6f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
B = "0b7e4c1a-1111-4222-9333-444455556666"
NIL = "00000000-0000-0000-0000-000000000000"


def ev(name: str, at: int, ids: list[str]) -> Event:
    e = Event(timestamp_ms=at, dataset="test.forms", platform="generic",
              id=event_id("forms", name))
    for i in ids:
        e.add_id(*i.split(":", 1))
    e.message_id = e.ids[0]
    return e


def run(correlator: Correlator, s: Store, events: list[Event]) -> None:
    correlator.process(events)
    s.write_events(events)
    correlator.flush()


@pytest.mark.parametrize("restarted", [False, True], ids=["same-process", "restarted"])
def test_a_soap_urn_and_the_bare_uuid_are_one_message_and_a_nil_guid_joins_none(
        store, restarted):
    c = Correlator(empty_catalog(), store)
    # the WCF service: WS-Addressing MessageID (upper case, as some stacks write it), and a
    # reply that names no request (RelatesTo the nil URN); a .NET job logging Guid.Empty
    run(c, store, [ev("soap-a", T0, [f"correlation:urn:uuid:{A.upper()}", "order:PO-1"]),
                   ev("soap-b", T0 + 1_000, [f"correlation:urn:uuid:{B}", "order:PO-2"]),
                   ev("nil-1", T0 + 2_000, [f"correlation:urn:uuid:{NIL}", "order:PO-3"]),
                   ev("nil-2", T0 + 3_000, ["correlation:{" + NIL + "}", "order:PO-4"]),
                   ev("nil-3", T0 + 4_000, ["correlation:{" + NIL + "}", "order:PO-5"])])
    if restarted:
        store.refresh()
        c = Correlator(empty_catalog(), store)  # the SOAP hops' traces are in the store only
    # the REST service behind it logs the bare X-Correlation-ID
    run(c, store, [ev("rest-a", T0 + 5_000, [f"correlation:{A}"]),
                   ev("rest-b", T0 + 6_000, [f"correlation:{B}"]),
                   ev("nil-4", T0 + 7_000, [f"correlation:urn:uuid:{NIL}", "order:PO-6"])])
    store.refresh()
    for n, hops in ((1, 2), (2, 2), (3, 1), (4, 1), (5, 1), (6, 1)):
        (t,) = store.find_traces(f"order:PO-{n}")
        assert [i for i in t.ids if i.startswith("order:")] == [f"order:PO-{n}"]
        assert t.hop_count == hops, n
    (one,) = store.find_traces("order:PO-1")
    assert f"correlation:{A}" in one.ids and f"correlation:{B}" not in one.ids
    # asked for in any form, by an analyst holding BizTalk's or the SOAP log's copy
    for form in (f"urn:uuid:{A}", "{" + A.upper() + "}", f"correlation:{A.replace('-', '')}"):
        assert [t.trace_key for t in find_by_id(store, form, 10)[1]] == [one.trace_key], form
