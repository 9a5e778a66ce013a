"""Restore time with and without reading back the outbox's decisions (``rules.replay``).

Run: ``.venv/bin/python bench/restore_replay_bench.py [--rules 200] [--rows 40000]
[--rounds 5]`` with Elasticsearch at MIDWATCH_ES_URL (default http://127.0.0.1:9200); its
indices ``replay-bench-<pid>-*`` are deleted afterwards.

A new lease holder's ``Engine.restore`` reads the alert state and the rules' last runs; with
the outbox (``decided``) it also reads each rule's records since its last saved run
(``of_rules_since``: one ``_msearch`` per 100 rules). The outbox holds ``--rows`` delivered
records of ``--rules`` rules (one open alert each in the state), all created in the last
50 minutes. Two cases, each timed bare and with the read, interleaved round by round (the
machine's load hits both alike):

- ``saved runs``: every rule's last run saved after its records (a clean takeover: the reads
  find nothing);
- ``no runs``: the runs document missing (the first start, or runs never saved): each rule's
  reads go back the restart look-back and find up to ``rows / rules`` records each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import outbox_for
from collector.yamlconf import loads
from rules import outbox
from rules.config import load_rules_config
from rules.engine import RUNS_KEY, RUNS_NAMESPACE, STATE_NAMESPACE, Engine
from rules.notify.base import Notification
from rules.state import FIRING, Alert, dedup_key

ES_URL = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")


def _config(rules: int, work: Path):
    path = work / "rules.yaml"
    path.write_text("rules:\n" + "".join(
        f"  - {{name: r{i}, type: threshold, filter: {{midwatch.flow: f{i}}}, above: 0, "
        f"window: 5m, severity: critical}}\n" for i in range(rules)))
    cfg = load_rules_config(loads(
        f"rules: {{paths: ['{path}'], notify: [hook]}}\n"
        "notifiers: {hook: {type: webhook, url: 'http://127.0.0.1:9/hook'}}\n"))
    assert not cfg.errors, cfg.errors
    return cfg


def fill(store: ElasticsearchStore, rules: int, rows: int, now_ms: int) -> None:
    box = outbox_for(store)
    per = rows // rules
    recs = []
    for i in range(rules):
        labels = {"flow": f"f{i}"}
        key = dedup_key(f"r{i}", labels)
        for j in range(per):
            at = now_ms - 3_000_000 + j * 1_000
            n = Notification(action="firing" if j % 2 == 0 else "resolved", rule=f"r{i}",
                             key=key, severity="critical", labels=labels, annotations={},
                             value=1.0, starts_ms=at, at_ms=at, expires_ms=at + 3_600_000)
            recs.append({**outbox.new_record("hook", n, at), "state": outbox.DELIVERED})
        alert = Alert(f"r{i}", labels, key, FIRING, "critical", active_since_ms=now_ms - 60_000,
                      last_eval_ms=now_ms - 60_000, fired_ms=now_ms - 60_000,
                      last_notified_ms=now_ms - 60_000)
        store.put_state(STATE_NAMESPACE, f"r{i}", {"alerts": {key: alert.to_doc()}})
    for k in range(0, len(recs), 2_000):
        box.put(recs[k:k + 2_000])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=200)
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    prefix = f"replay-bench-{os.getpid()}"
    store = ElasticsearchStore(ES_URL, index_prefix=prefix)
    now = time.time_ns() // 1_000_000
    try:
        store.setup()
        with tempfile.TemporaryDirectory() as work:
            cfg = _config(args.rules, Path(work))
            fill(store, args.rules, args.rows, now)
            store.refresh()
            runs = {"last_run": {f"r{i}": now - 1_000 for i in range(args.rules)}}
            times: dict[tuple[str, str], list[float]] = {}
            found = {}
            for _ in range(args.rounds):
                for case in ("saved runs", "no runs"):
                    store.put_state(RUNS_NAMESPACE, RUNS_KEY, runs if case == "saved runs"
                                    else None)
                    for how in ("bare", "with outbox"):
                        box = outbox_for(store) if how == "with outbox" else None
                        engine = Engine(cfg, store, decided=box)
                        started = time.perf_counter()
                        engine.restore(now)
                        times.setdefault((case, how), []).append(time.perf_counter() - started)
                        found[(case, how)] = len(engine.alerts)
        print(f"{args.rules} rules, {args.rows} outbox records, {args.rounds} rounds, "
              f"load {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} cores)")
        for (case, how), ts in times.items():
            print(f"  {case:10s} {how:12s} median {statistics.median(ts) * 1000:7.1f} ms "
                  f"(min {min(ts) * 1000:.1f}, max {max(ts) * 1000:.1f}); "
                  f"{found[(case, how)]} alerts restored")
    finally:
        # by name: wildcard deletes are refused by default (action.destructive_requires_name)
        for name in store._client.indices.get(index=f"{prefix}-*"):
            store._client.options(ignore_status=404).indices.delete(index=name)
        store.close()


if __name__ == "__main__":
    main()
