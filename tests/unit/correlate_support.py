"""What the correlation tests of real parsed lines share: events correlated into a real
SQLite store with the example catalog, as `midwatch run` does (process, write, flush)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from collector.correlation.catalog import build_catalog
from collector.correlation.correlator import Correlator
from collector.event import Event
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import load

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"


@contextmanager
def correlated(tmp_path: Path, events: list[Event]) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        correlator = Correlator(build_catalog(load(EXAMPLE)), store)
        correlator.process(events)
        store.write_events(events)
        correlator.flush()
        store.refresh()
        yield store
    finally:
        store.close()
