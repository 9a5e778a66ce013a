"""How much of the outbox one delivery pass reads, on the real SQLite outbox: the history of
an alert is read only for a resolve that is decided now, and all such alerts in one read.

The old code read each pending resolve's alert on its own every pass (``poll_s``, 1 s),
resolves waiting for a retry too: with the receiver down, 200 of them over 40k records took
16.5 s a pass (review H, /tmp/revH/cost.py) and sent nothing."""

from __future__ import annotations

from dataclasses import replace

from notify_support import delivery, note

from rules import outbox

NOW = 10_000_000


class Counting:
    """The real outbox, counting its history reads (every call is passed on)."""

    def __init__(self, box):
        self.box, self.reads = box, []

    def __getattr__(self, name):
        return getattr(self.box, name)

    def of_rule(self, rule, limit, *key):  # ``key``: the old per-alert read, counted too
        self.reads.append((rule, *key))
        return self.box.of_rule(rule, limit, *key)

    def of_alerts(self, alerts, limit):
        self.reads.append(tuple(alerts))
        return self.box.of_alerts(alerts, limit)


class Receiver:
    """A receiver that takes every send (what was sent is asserted, not faked away)."""

    kind, name = "webhook", "hook"

    def __init__(self):
        self.sent = []

    def send(self, n, owed=None):
        self.sent.append((n.key, n.action))


def _records(alerts: int, waiting: int, due: int) -> list[dict]:
    """Each alert's delivered firing; then resolves of the first ones, ``waiting`` of them
    not due before ``NOW + 300 s`` (the receiver was down), ``due`` of them due now."""
    out = []
    for k in range(alerts):
        n = replace(note("firing"), key=f"k{k}", at_ms=NOW - 600_000)
        out.append({**outbox.new_record("hook", n, NOW - 600_000), "state": "delivered"})
    for k in range(waiting + due):
        n = replace(note("resolved"), key=f"k{k}", at_ms=NOW - 1_000)
        later = {"next_ms": NOW + 300_000, "attempts": 3} if k < waiting else {}
        out.append({**outbox.new_record("hook", n, NOW - 1_000), **later})
    return out


def _pass(tmp_path, waiting: int, due: int) -> tuple[int, Counting, Receiver]:
    """One delivery pass over 300 alerts' records: (how many it sent, the reads, who got)."""
    hook = Receiver()
    d = delivery(tmp_path, [hook], [])
    d.box.put(_records(alerts=300, waiting=waiting, due=due))
    d.box = Counting(d.box)
    d.clock = lambda: NOW
    return d.deliver("hook"), d.box, hook


def test_resolves_waiting_for_a_retry_cost_no_history_reads(tmp_path):
    sent, box, _ = _pass(tmp_path, waiting=200, due=0)
    assert sent == 0
    assert box.reads == [()]  # the old code: 200 reads, one per waiting resolve


def test_due_resolves_are_read_in_one_read_and_sent(tmp_path):
    sent, box, hook = _pass(tmp_path, waiting=150, due=50)
    assert sent == 50
    assert len(box.reads) == 1
    assert sorted(box.reads[0]) == sorted((note().rule, f"k{k}") for k in range(150, 200))
    assert sorted(hook.sent) == sorted((f"k{k}", "resolved") for k in range(150, 200))


def test_the_alert_read_uses_its_index(tmp_path):
    d = delivery(tmp_path, [Receiver()], [])
    with d.box.store._read() as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT doc FROM outbox WHERE rule = ? AND "
                          "json_extract(doc, '$.key') = ? ORDER BY created_ms DESC LIMIT ?",
                          ("r", "k", 5)).fetchall()
    assert any("outbox_alert" in row[-1] for row in plan), plan
