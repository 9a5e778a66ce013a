"""A Boomi execution that failed and was retried successfully ends ``completed`` (it ended
``stuck``), and the steps of its ``process_log.xml``, which name no process, still match the
catalog's ``process:`` stages (they fell into flow ``unknown``). Fixture shapes:
tests/data/boomi/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.correlation.catalog import load_catalog
from collector.correlation.correlator import Correlator
from collector.event import DeadLetter, Event, iso_to_ms
from collector.parse import parse_stream
from collector.parsers._base import ParseContext
from collector.process_names import ProcessNames
from collector.store.base import TraceQuery
from collector.store.sqlite import SQLiteStore

DATA = Path(__file__).resolve().parents[1] / "data" / "boomi"
FAILED_LOG = DATA / "execution-3456789a-bcde-f012-3456-789abcdef012-2024.03.01" / "process_log.xml"
BARE_LOG = DATA / "execution-68523591-b704-4e4c-abf3-ad659798a7b6-2024.06.04" / "process_log.xml"
RECORDS = DATA / "execution_records.json"
CATALOG = {"flows": [{"name": "orders-to-sap", "sla": "1h", "stages": [
    {"name": "sap.send_failed", "terminal": "failure",
     "match": {"platform": "boomi", "process": "Orders to SAP", "outcome": "failure"}},
    {"name": "boomi.completed", "terminal": "success",
     "match": {"platform": "boomi", "process": "Orders to SAP", "dataset": "boomi.execution",
               "outcome": "success"}},
    {"name": "boomi.step", "match": {"platform": "boomi", "process": "Orders to SAP"}},
]}]}


def _events(path: Path) -> list[Event]:
    with path.open("rb") as f:
        out = list(parse_stream(f, str(path), "boomi", ParseContext(now_ms=1)))
    assert not [d for d in out if isinstance(d, DeadLetter)]
    return [e for e in out if isinstance(e, Event)]


def test_the_process_log_header_names_the_process_and_later_steps_inherit_it():
    steps = _events(BARE_LOG)  # a real runtime's log: no processName on the root element
    assert steps[0].service == "5 min process" and steps[1].service is None
    names = ProcessNames()
    for ev in steps:
        names.fill(ev)
    assert {ev.service for ev in steps} == {"5 min process"}


def test_names_are_bounded_and_never_cross_executions():
    names = ProcessNames(limit=2)
    for n in range(3):
        names.fill(Event(0, "boomi.process", "boomi", service=f"P{n}", ids=[f"boomi.exec:e{n}"]))
    assert len(names) == 2
    lost, kept, other = (Event(0, "boomi.process", "boomi", ids=[i])
                         for i in ("boomi.exec:e0", "boomi.exec:e2", "boomi.exec:e9"))
    for ev in (lost, kept, other):
        names.fill(ev)
    assert (lost.service, kept.service, other.service) == (None, "P2", None)


def test_the_steps_of_one_execution_are_not_retries(tmp_path):
    """Four LogEvents of one successful execution at one stage: plain log lines, 0 retries
    (the same step repeated counted 3 before the steps had a stage to repeat)."""
    steps = _events(BARE_LOG)
    catalog = load_catalog({"flows": [{"name": "five-min", "stages": [
        {"name": "boomi.ran", "terminal": "success",
         "match": {"platform": "boomi", "process": "5 min process"}}]}]})
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        correlator = Correlator(catalog, store)
        correlator.process(steps)
        correlator.flush()
        (trace,) = store.search_traces(TraceQuery())
        assert (trace.hop_count, trace.retry_count, trace.status) == (4, 0, "completed")
    finally:
        store.close()


@pytest.mark.parametrize("order", ["log first", "records first"])
def test_failed_then_retried_execution_completes_and_every_step_matches(tmp_path, order):
    log, records = _events(FAILED_LOG), _events(RECORDS)
    batch = log + records if order == "log first" else records + log
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        correlator = Correlator(load_catalog(CATALOG), store)
        correlator.process(batch)
        store.write_events(batch)
        correlator.flush()
        assert {(e.flow, e.stage) for e in log} == {("orders-to-sap", "boomi.step"),
                                                   ("orders-to-sap", "sap.send_failed")}
        trace = store.get_trace("order:4711")
        assert trace is not None and trace.flow == "orders-to-sap"
        retry = next(e for e in records if e.action == "retried")
        assert retry.stage == "boomi.completed"
        assert trace.status == "completed"
        assert trace.ended_ms == iso_to_ms("2024-03-01T10:30:00Z") == retry.timestamp_ms
        assert trace.error_count == 3  # the SEVERE step, the ERROR record, the connector record
        assert trace.stages[-1] == "boomi.completed"
    finally:
        store.close()
