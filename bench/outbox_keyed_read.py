"""The keyed outbox read at scale: one delivery pass with resolves waiting for a retry.

Run: ``.venv/bin/python bench/outbox_keyed_read.py [--rows 40000] [--resolves 200]
[--rules 1] [--rounds 3] [--big 400000] [--store sqlite|elasticsearch|both]`` with
Elasticsearch at MIDWATCH_ES_URL (default http://127.0.0.1:9200); its index
``outbox-bench-<pid>-outbox`` is deleted afterwards.

Every pass of a notifier's worker reads, per alert with a pending resolve, that alert's
newest outbox records (``Delivery._alert_records``: ``of_rule(rule, limit, key)``). The
outbox here holds ``--rows`` finished records of many alerts (``--rules`` rules; one rule
is the worst case, as its rows are what an unindexed read walks) and ``--resolves`` pending
resolves waiting for a retry (not due, so nothing is sent: the pass is its reads).

Reports, per store:

- SQLite: the pass without the ``outbox_alert`` index (the database as it was) and with it,
  interleaved round by round in one run (the load of the machine hits both alike), the
  query plan of the keyed read, and the time ``CREATE INDEX`` takes on ``--rows`` and on
  ``--big`` rows (what the next start of an existing database spends once);
- Elasticsearch: the same pass and one keyed read (median), the mapping of ``key`` and
  ``rule`` and the Lucene query the keyed read becomes (``_validate/query?explain``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from collector.store.elasticsearch import ElasticsearchStore
from collector.store.outbox_sqlite import SQLiteOutbox
from collector.store.paging import outbox_for
from collector.store.sqlite import SQLiteStore
from rules import outbox
from rules.delivery import UNOPENED_LOOKBACK, Delivery
from rules.notify import webhook
from rules.notify.base import Notification

ES_URL = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
NOTIFIER = "hook"
EPISODES = 10  # firing + resolve pairs per alert: rows / 20 alerts
KEYED = ("SELECT doc FROM outbox WHERE rule = ? AND json_extract(doc, '$.key') = ? "
         "ORDER BY created_ms DESC LIMIT ?")
INDEX = ("CREATE INDEX IF NOT EXISTS outbox_alert ON outbox "
         "(rule, json_extract(doc, '$.key'), created_ms)")


def records(rows: int, resolves: int, rules: int, now_ms: int) -> list[dict]:
    """``rows`` finished records (delivered firings and resolves, EPISODES per alert) plus
    ``resolves`` pending resolves waiting for a retry an hour from now, each of an alert
    whose last firing was delivered (so the pass must read that alert's records)."""
    out = []
    alerts = max(resolves, rows // (2 * EPISODES))
    for a in range(alerts):
        rule, key = f"rule-{a % rules}", f"alert-{a:06d}"
        t = now_ms - 3_600_000 + a
        for _ in range(EPISODES):
            for action in ("firing", "resolved"):
                if len(out) < rows:
                    t += 1
                    out.append(_done(rule, key, action, t))
        if a < resolves:
            last = _done(rule, key, "firing", t + 1)
            waiting = {**outbox.new_record(NOTIFIER, _note(rule, key, "resolved", t + 2), t + 2),
                       "attempts": 1, "next_ms": now_ms + 3_600_000, "last_error": "HTTP 503"}
            out += [last, waiting]
    return out


def _note(rule: str, key: str, action: str, at_ms: int) -> Notification:
    return Notification(action=action, rule=rule, key=key, severity="critical",
                        labels={"flow": key}, annotations={"summary": key}, value=1.0,
                        starts_ms=at_ms, at_ms=at_ms, expires_ms=at_ms + 3_600_000)


def _done(rule: str, key: str, action: str, at_ms: int) -> dict:
    r = outbox.new_record(NOTIFIER, _note(rule, key, action, at_ms), at_ms)
    return {**r, "state": outbox.DELIVERED, "attempts": 1, "delivered_ms": at_ms}


def one_pass(box) -> tuple[float, int]:
    """Seconds of one delivery pass of the notifier and how many records it sent (none:
    every resolve waits for its retry)."""
    hook = webhook.Webhook(NOTIFIER, webhook.Options("http://127.0.0.1:9/never-called"))
    delivery = Delivery([hook], box, lambda docs: None)
    t = time.perf_counter()
    sent = delivery.deliver(NOTIFIER)
    return time.perf_counter() - t, sent


def fill(box, recs: list[dict]) -> None:
    for i in range(0, len(recs), 1_000):
        box.put(recs[i:i + 1_000])


def bench_sqlite(args, work: Path) -> None:
    now = time.time_ns() // 1_000_000
    store = SQLiteStore(work / "outbox.sqlite")
    store.setup()
    box = SQLiteOutbox(store)
    recs = records(args.rows, args.resolves, args.rules, now)
    fill(box, recs)
    with store._read() as db:
        plan = [row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + KEYED,
                                              ("rule-0", "alert-000000", UNOPENED_LOOKBACK))]
    before, after, build = [], [], []
    for _ in range(args.rounds):
        with store._tx() as db:
            db.execute("DROP INDEX outbox_alert")
        before.append(one_pass(box))
        build.append(_timed_index(store))
        after.append(one_pass(box))
    assert {sent for _, sent in before + after} == {0}, "a pass sent something: not a read pass"
    b, a = statistics.median(s for s, _ in before), statistics.median(s for s, _ in after)
    print(f"[sqlite] {len(recs)} outbox rows ({args.rules} rule(s), {args.resolves} resolves "
          f"waiting for a retry): one pass without the index {b:.3f} s (rounds: "
          f"{', '.join(f'{s:.3f}' for s, _ in before)}), with it {a:.4f} s (rounds: "
          f"{', '.join(f'{s:.4f}' for s, _ in after)}): {b / a:.0f}x")
    print(f"[sqlite] keyed read plan: {'; '.join(plan)}")
    print(f"[sqlite] CREATE INDEX outbox_alert on {len(recs)} rows: median "
          f"{statistics.median(build):.3f} s")
    store.close()
    if args.big:
        big = SQLiteStore(work / "big.sqlite")
        big.setup()
        fill(SQLiteOutbox(big), records(args.big, args.resolves, args.rules, now))
        with big._tx() as db:
            db.execute("DROP INDEX outbox_alert")
        t = time.perf_counter()
        SQLiteOutbox(big)  # what the next start does on a database without the index
        print(f"[sqlite] the next start on {args.big} rows without the index: outbox setup "
              f"{time.perf_counter() - t:.3f} s (the index built once)")
        big.close()


def _timed_index(store: SQLiteStore) -> float:
    t = time.perf_counter()
    with store._tx() as db:
        db.execute(INDEX)
    return time.perf_counter() - t


def bench_es(args) -> None:
    now = time.time_ns() // 1_000_000
    # No store setup (templates, event indices): the outbox creates its own index.
    store = ElasticsearchStore(ES_URL, index_prefix=f"outbox-bench-{os.getpid()}")
    box = outbox_for(store)
    try:
        recs = records(args.rows, args.resolves, args.rules, now)
        fill(box, recs)
        passes = [one_pass(box) for _ in range(args.rounds)]
        assert {sent for _, sent in passes} == {0}, "a pass sent something: not a read pass"
        reads = []
        for i in range(50):
            t = time.perf_counter()
            found = box.of_rule(f"rule-{i % args.rules}", UNOPENED_LOOKBACK, f"alert-{i:06d}")
            reads.append(time.perf_counter() - t)
            assert len(found) == 2 * EPISODES + 2, len(found)
        client = store._client
        props = client.indices.get_mapping(index=box.index)[box.index]["mappings"]["properties"]
        explained = client.indices.validate_query(index=box.index, explain=True, query={
            "bool": {"filter": [{"term": {"rule": "rule-0"}}, {"term": {"key": "alert-000000"}}]}})
        print(f"[elasticsearch {ES_URL}] {len(recs)} outbox docs: one pass "
              f"{statistics.median(s for s, _ in passes):.3f} s (rounds: "
              f"{', '.join(f'{s:.3f}' for s, _ in passes)}); one keyed read median "
              f"{statistics.median(reads) * 1000:.1f} ms")
        print(f"[elasticsearch] mapping rule: {props['rule']['type']}, key: "
              f"{props['key']['type']}; keyed read as Lucene: "
              f"{explained['explanations'][0]['explanation']}")
    finally:
        store._client.options(ignore_status=404).indices.delete(index=box.index)
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--resolves", type=int, default=200)
    ap.add_argument("--rules", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--big", type=int, default=400_000, help="rows to time CREATE INDEX on (0: skip)")
    ap.add_argument("--store", choices=("sqlite", "elasticsearch", "both"), default="both")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.store in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            bench_sqlite(args, Path(tmp))
    if args.store in ("elasticsearch", "both"):
        bench_es(args)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
