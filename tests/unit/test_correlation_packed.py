"""Packed traces (collector.correlation.packed) come back exactly as they went in, and what
cannot be packed exactly is refused rather than changed."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.correlation import packed
from collector.trace import Hop, Trace

T0 = 1_709_546_400_000


def _hop(n: int, **kw) -> Hop:
    fields = {"stage": "mule.transformed", "service": "order-sync-v2", "platform": "mulesoft",
              "timestamp_ms": T0 + n, "outcome": "success",
              "event_id": f"{n:032x}", "action": "received", "latency_ms": None}
    return Hop(**{**fields, **kw})


def _trace(**kw) -> Trace:
    fields = {"trace_key": "correlation:c-1", "ids": ["correlation:c-1", "order:1"],
              "started_ms": T0, "last_seen_ms": T0, "flow": "order-to-cash",
              "stages": ("mule.transformed",), "hops": [_hop(0)], "hop_count": 1,
              "sla_ms": 900_000}
    return Trace(**{**fields, **kw})


def _round_trip(t: Trace, touched: float = 12.5) -> Trace:
    blob = packed.pack(t, touched)
    assert blob is not None
    back, when = packed.unpack(t.trace_key, blob)
    assert when == touched
    return back


def test_a_one_hop_trace_packs_small_and_comes_back_equal():
    t = _trace()
    blob = packed.pack(t, 1.0)
    assert blob is not None and sys.getsizeof(blob) < 170  # ~950 bytes as objects
    assert packed.unpack(t.trace_key, blob)[0] == t
    assert packed.touched(blob) == 1.0
    assert packed.summary(t.trace_key, blob) == ("in_flight", "order-to-cash", T0)


def test_everything_a_trace_holds_survives():
    failed = _hop(5, outcome="failure", error_class="mapping", latency_ms=5,
                  error_message="Map 'Order->IDoc': field PO_NUMBER is required",
                  event_id="not-hex-" + "x" * 40, stage=None, service=None)
    t = _trace(ids=["order:1", "correlation:c-1", "boomi.exec:é-1"], partner="ACME",
               status="failed", ended_ms=T0 + 5, last_seen_ms=T0 + 5, hop_count=7,
               error_count=3, retry_count=2, hops=[_hop(0), failed], sla_breached=True,
               dead_lettered=True, version=(41, 2), stages=("a", "b"),
               last_error={"class": "mapping", "message": failed.error_message,
                           "stage": None})
    assert _round_trip(t) == t
    assert packed.ids(t.trace_key, packed.pack(t, 0.0)) == t.ids
    assert _round_trip(_trace(version=17, sla_ms=None, flow="unknown")) == _trace(
        version=17, sla_ms=None, flow="unknown")


def test_a_word_never_seen_goes_inline_once_the_table_is_full(monkeypatch):
    monkeypatch.setattr(packed, "MAX_WORDS", len(packed._words))
    t = _trace(flow="a-flow-never-seen", status="in_flight",
               hops=[_hop(0, service="a-service-never-seen")])
    blob = packed.pack(t, 3.0)
    assert blob is not None and packed.unpack(t.trace_key, blob)[0] == t
    assert packed.summary(t.trace_key, blob) == ("in_flight", "a-flow-never-seen", T0)
    assert "a-flow-never-seen" not in packed._codes


def test_what_cannot_be_packed_exactly_is_refused():
    assert packed.pack(_trace(trace_key="not-among-the-ids"), 0.0) is None
    assert packed.pack(_trace(version="opaque-token"), 0.0) is None
    assert packed.pack(_trace(hop_count=2**32), 0.0) is None  # out of its field's range
    assert packed.pack(_trace(last_seen_ms=T0 + 2**31), 0.0) is None
    assert packed.pack(_trace(last_error={"class": "x"}), 0.0) is None


_text = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_text, _text, st.integers(-10**6, 10**6), st.booleans(), _text),
                min_size=1, max_size=5),
       st.lists(st.text(min_size=1, max_size=20), max_size=4, unique=True),
       st.integers(0, 10**6), st.one_of(st.none(), st.integers(-10**12, 10**12)))
def test_any_trace_of_representable_values_packs_exactly(hops, ids, count, version):
    t = _trace(ids=["correlation:c-1", *ids], hop_count=count, version=version,
               hops=[_hop(n, stage=s, service=svc, timestamp_ms=T0 + at,
                          outcome="failure" if bad else "success", error_message=msg)
                     for n, (s, svc, at, bad, msg) in enumerate(hops)])
    assert _round_trip(t, 0.5) == t
    assert packed.ids(t.trace_key, packed.pack(t, 0.5)) == t.ids
