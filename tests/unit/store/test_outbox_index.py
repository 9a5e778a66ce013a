"""The keyed outbox read (``of_rule(rule, limit, key)``, once per alert with a pending
resolve on every delivery pass) is an index lookup on SQLite, also on a database created
before the index existed; its timing is ``bench/outbox_keyed_read.py``, not a test."""

from __future__ import annotations

from collector.store import outbox_sqlite
from collector.store.outbox_sqlite import SQLiteOutbox
from collector.store.sqlite import SQLiteStore
from rules import outbox
from rules.notify.base import Notification

KEYED = ("SELECT doc FROM outbox WHERE rule = ? AND json_extract(doc, '$.key') = ? "
         "ORDER BY created_ms DESC LIMIT ?")


def _record(rule: str, key: str, action: str, at_ms: int) -> dict:
    n = Notification(action=action, rule=rule, key=key, severity="critical", labels={"k": key},
                     annotations={}, value=1.0, starts_ms=at_ms, at_ms=at_ms, expires_ms=0)
    return outbox.new_record("hook", n, at_ms)


def _plan(store: SQLiteStore) -> list[str]:
    with store._read() as db:
        return [row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + KEYED, ("r", "k", 500))]


def test_the_keyed_read_searches_the_alert_index(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    box = SQLiteOutbox(store)
    box.put([_record("r", f"k{i % 7}", ("firing", "resolved")[i % 2], i) for i in range(200)])
    # The query the store runs is the one planned here (the expression must match the
    # index's verbatim or SQLite falls back to scanning the rule).
    assert outbox_sqlite.OF_ALERT == KEYED
    assert "OF_ALERT" in SQLiteOutbox.of_rule.__code__.co_names
    plan = _plan(store)
    assert any("USING INDEX outbox_alert" in step for step in plan), plan
    assert not any(step.startswith("SCAN") or "TEMP B-TREE" in step for step in plan), plan
    found = box.of_rule("r", 500, "k3")
    assert [r["created_ms"] for r in found] == sorted((i for i in range(200) if i % 7 == 3),
                                                      reverse=True)
    assert box.of_rule("r", 5, "k3") == found[:5]
    assert box.of_alerts([("r", "k3")], 500) == {("r", "k3"): found}


def test_an_existing_database_gets_the_index_at_the_next_start(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    SQLiteOutbox(store).put([_record("r", "k", "firing", 1)])
    with store._tx() as db:  # the database as an older midwatch left it
        db.execute("DROP INDEX outbox_alert")
    assert not any("outbox_alert" in step for step in _plan(store))
    store.close()
    again = SQLiteStore(tmp_path / "s.sqlite")
    again.setup()
    box = SQLiteOutbox(again)
    assert any("USING INDEX outbox_alert" in step for step in _plan(again))
    assert [r["key"] for r in box.of_rule("r", 10, "k")] == ["k"]
