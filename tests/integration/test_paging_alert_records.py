"""The outbox read by alert on the real stores (SQLite file and Elasticsearch): whether a
resolve's firing reached the receiver is decided from its own alert's records, newest first,
so another busy alert of the same rule cannot push the delivered firing out of sight."""

from __future__ import annotations

import pytest
from paging_support import paging_stores  # noqa: F401 (the fixture "store")

from collector.store.paging import outbox_for
from rules import outbox
from rules.notify.base import Notification

pytestmark = pytest.mark.integration


def _record(key: str, created_ms: int, rule: str = "o2c-failures") -> dict:
    n = Notification(action="firing", rule=rule, key=key, severity="critical",
                     labels={"flow": "o2c"}, annotations={}, value=1.0, starts_ms=created_ms,
                     at_ms=created_ms, expires_ms=created_ms + 60_000)
    return outbox.new_record("hook", n, created_ms)


def test_of_rule_with_a_key_reads_that_alert_alone_newest_first(store):
    box = outbox_for(store)
    box.put([_record("k1", 1_000), _record("k1", 2_000), _record("k1", 3_000, rule="other")]
            + [_record("k2", 4_000 + i) for i in range(5)])
    assert [(r["key"], r["created_ms"]) for r in box.of_rule("o2c-failures", 3)] == [
        ("k2", 4_004), ("k2", 4_003), ("k2", 4_002)]
    assert [(r["key"], r["created_ms"]) for r in box.of_rule("o2c-failures", 3, "k1")] == [
        ("k1", 2_000), ("k1", 1_000)]
    assert box.of_rule("o2c-failures", 1, "k1")[0]["created_ms"] == 2_000
    assert box.of_rule("o2c-failures", 5, "k9") == []
