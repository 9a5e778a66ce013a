"""A rule's ``notify`` changed while its alert fires (hot reload or a restart), against the
real SQLite store and the real Elasticsearch: the resolve must reach the receivers that got
the page, or their incident stays open for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from paging_support import paging_stores  # noqa: F401 (the fixture "store")
from rules_stores import rules_config, write

from collector.event import Event, event_id
from collector.store.base import Store
from rules.config import RulesConfig
from rules.engine import Engine

T0 = 1_709_546_400_000  # Monday 2024-03-04T10:00:00Z
MIN = 60_000
RULE = ("rules:\n  - {{name: errors, type: threshold, filter: {{log.level: error}},"
        " group_by: [midwatch.flow], above: 4, window: 10m, notify: [{to}],"
        " repeat_interval: {repeat}}}\n")



def _config(tmp_path: Path, to: str, repeat: str = "4h") -> RulesConfig:
    return rules_config(tmp_path, RULE.format(to=to, repeat=repeat),
                        "notifiers:\n  pager: {type: webhook, url: 'http://127.0.0.1:9/pager'}\n"
                        "  chat: {type: webhook, url: 'http://127.0.0.1:9/chat'}\n")


def _errors(store: Store) -> None:
    events = [Event(T0 - 5 * MIN + i * 1000, "mulesoft.log", "mulesoft", "m", level="error",
                    outcome="failure", id=event_id("notify-change", str(i)), flow="o2c")
              for i in range(6)]
    write(store, events)


@pytest.mark.parametrize("restart", [False, True], ids=["reload", "restart"])
def test_the_resolve_goes_where_the_page_went(store: Store, tmp_path: Path, restart: bool):
    _errors(store)
    engine = Engine(_config(tmp_path, "pager"), store)
    fired = engine.evaluate(T0)
    assert [(name, n.action) for name, n in fired.notified] == [("pager", "firing")]
    # The rule now pages chat instead, while o2c's alert is open at the pager.
    if restart:
        engine = Engine(_config(tmp_path, "chat"), store)
        engine.restore(T0 + MIN)
    else:
        engine.reconfigure(_config(tmp_path, "chat"), T0 + MIN)
    assert not engine.evaluate(T0 + MIN).notified  # still firing: not paged again yet
    done = engine.evaluate(T0 + 20 * MIN)  # the errors left the window
    assert [(name, n.action) for name, n in done.notified] == [("pager", "resolved")]


def test_a_repeat_to_the_new_receivers_is_resolved_at_both(store: Store, tmp_path: Path):
    _errors(store)
    engine = Engine(_config(tmp_path, "pager", "1m"), store)
    assert [name for name, _ in engine.evaluate(T0).notified] == ["pager"]
    engine.reconfigure(_config(tmp_path, "chat", "1m"), T0 + MIN)
    assert [(name, n.action) for name, n in engine.evaluate(T0 + MIN).notified] == [
        ("chat", "firing")]
    done = engine.evaluate(T0 + 20 * MIN)
    assert [(name, n.action) for name, n in done.notified] == [
        ("pager", "resolved"), ("chat", "resolved")]
