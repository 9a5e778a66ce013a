"""What the anomaly rule's integration tests share: a real store (Elasticsearch or SQLite)
holding a test's events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.event import Event
from collector.store.base import Store
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore

STORES = ["elasticsearch", "sqlite"]  # the params of a test's ``store`` fixture


def filled_store(request: pytest.FixtureRequest, tmp_path: Path,
                 events: list[Event]) -> Iterator[Store]:
    """The store ``request.param`` names, set up, holding ``events``, closed afterwards."""
    if request.param == "sqlite":
        s: Store = SQLiteStore(tmp_path / "anomaly.sqlite")
    else:
        s = ElasticsearchStore(client=request.getfixturevalue("es"),
                               index_prefix=request.getfixturevalue("es_index_prefix"))
    s.setup()
    result = s.write_events(events)
    assert result.written == len(events) and not result.rejected
    s.refresh()
    yield s
    s.close()
