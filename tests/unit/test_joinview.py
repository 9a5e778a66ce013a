"""Events classified by their parse worker (``collector.correlation.joinview``) correlate into
the same traces, and are stored as the same documents, as events the collector's process
classifies itself: every sample log of tests/data, the example flow catalog, a real SQLite
store on each side."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import orjson
import pytest
from correlate_support import EXAMPLE

from collector.config import CollectorSettings
from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.correlation.joinview import CatalogSource, needs_collector
from collector.encoded import EncodedEvent, document_bytes, encoded
from collector.event import ACK_SCOPE_LABEL, Event, to_doc
from collector.inputs.base import parse_context
from collector.inputs.lines import LineReader
from collector.inputs.parse_worker import ParseWorker
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.store.documents import trace_doc
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import load

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = 1_700_000_000_000


def _sample_events() -> list[Event]:
    events: list[Event] = []
    for path in sorted(p for p in DATA.rglob("*") if p.is_file()):
        with path.open("rb") as fh:
            events.extend(x for x in parse_stream(fh, str(path), "auto", ParseContext(now_ms=NOW))
                          if isinstance(x, Event))
    return events


def _correlate(tmp_path: Path, name: str, events: list) -> tuple[list[dict], dict[str, dict]]:
    """(event documents as the store gets them, trace documents by key) after one
    process/flush, as the pipeline runs them."""
    store = SQLiteStore(tmp_path / f"{name}.sqlite")
    store.setup()
    try:
        correlator = Correlator(build_catalog(load(EXAMPLE)), store)
        correlator.process(events)
        docs = [orjson.loads(document_bytes(ev)) for ev in events]
        correlator.flush()
        store.refresh()
        ids = sorted({i for d in docs for i in d["midwatch"]["ids"]})
        traces = {t.trace_key: trace_doc(t) for t in store.get_traces_by_ids(ids)}
        return docs, traces
    finally:
        store.close()


def test_worker_classified_events_make_the_same_documents_and_traces(tmp_path):
    events = _sample_events()
    catalog = CatalogSource(str(EXAMPLE)).load()
    shipped = pickle.loads(pickle.dumps(encoded(copy.deepcopy(events), catalog),
                                        protocol=pickle.HIGHEST_PROTOCOL))
    # The samples hold every kind: joined in the worker, unlinked, and kept whole (Boomi
    # executions, EDI scope acknowledgements).
    joined = [e for e in shipped if isinstance(e, EncodedEvent) and e.join is not None]
    unlinked = [e for e in shipped if isinstance(e, EncodedEvent) and e.join is None]
    whole = [e for e in shipped if isinstance(e, Event)]
    assert len(joined) > 100 and unlinked and whole
    assert any(e.labels.get(ACK_SCOPE_LABEL) for e in whole)
    assert all(needs_collector(e) for e in whole)

    docs_here, traces_here = _correlate(tmp_path, "here", events)
    docs_worker, traces_worker = _correlate(tmp_path, "worker", shipped)
    assert len(traces_here) > 50
    assert docs_worker == docs_here
    assert traces_worker == traces_here
    # Flows and stages were assigned by the catalog, not left to the fallback.
    assert {d["midwatch"].get("stage") for d in docs_worker} - {None}


def test_a_correlating_worker_ships_joined_documents():
    ctx = parse_context(CollectorSettings(), frozenset(), None)
    worker = ParseWorker(ctx, "orders", encode=CatalogSource(str(EXAMPLE)))
    try:
        spec = ("mule", "/logs/mule.log", "42:0", 0, 0, 4096)
        data = (DATA / "mule" / "app-runtime.log").read_bytes()
        remote = worker.reader(*spec)
        local = LineReader.open(ctx, *spec)
        got = remote.feed(data, NOW)[0] + remote.flush(NOW + 1000)
        want = local.feed(data, NOW)[0] + local.flush(NOW + 1000)
    finally:
        worker.close()
    catalog = build_catalog(load(EXAMPLE))
    assert len(got) == len(want) > 3
    assert any(isinstance(e, EncodedEvent) and e.join for e in got)
    for theirs, mine in zip(got, want, strict=True):
        assert isinstance(theirs, EncodedEvent)
        links = [i for i in mine.ids if catalog.is_link(i)]
        mine.flow, mine.stage = catalog.classify(mine)
        assert theirs.doc == orjson.dumps(to_doc(mine))
        if links:
            assert (theirs.join.links, theirs.join.hop.event_id) == (links, mine.id)
        else:
            assert theirs.join is None


@pytest.mark.parametrize("labels,ids", [({ACK_SCOPE_LABEL: "group"}, ["x12.gs:7"]),
                                        ({}, ["boomi.exec:e-1", "order:4"])])
def test_events_that_need_the_collectors_state_travel_whole_and_unclassified(labels, ids):
    ev = Event(NOW, "app", "boomi", id="e1", ids=ids, labels=labels)
    (out,) = encoded([ev], build_catalog(load(EXAMPLE)))
    assert out is ev and ev.flow is None and ev.stage is None
