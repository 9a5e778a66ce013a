"""Paging speed: the notification outbox and the rules lease against the real stores.

Run: ``.venv/bin/python bench/paging_bench.py [--alerts 1000] [--rules 500]
[--store elasticsearch|sqlite|both]`` with Elasticsearch at MIDWATCH_ES_URL
(default http://127.0.0.1:9200); indices ``mwbench-paging-*`` are deleted afterwards.

Reports, per store:

- 1,000 alerts firing at once through 4 notifiers (local HTTP receivers answering 202):
  the time from the engine handing them over until every one of the 4,000 notifications is
  delivered (each through its outbox record: written, sent, outcome written back);
- outbox write overhead: the one write of all 4,000 records (the engine's flush, per
  notification) and a single record's write round trip (median of 50);
- one evaluation tick of 500 rules (50 of them firing on the first tick) with the lease
  held and the outbox written, next to the same tick by a bare engine (no lease, no
  outbox): cold (first tick, every alert new) and steady (median of the next five).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from collector.event import Event
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import outbox_for
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.delivery import Delivery
from rules.engine import Engine
from rules.notify import pagerduty, webhook
from rules.notify.base import Notification
from rules.scheduler import RuleScheduler
from rules.state import dedup_key

ES_URL = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
PREFIX = "mwbench-paging"
TICKS = 6  # the first is cold (every alert new), the median of the rest is "steady"


class Counting(ThreadingHTTPServer):
    """A receiver that answers 202 and counts."""

    daemon_threads = True

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the vendors' endpoints
            disable_nagle_algorithm = True  # else header and body writes wait 40 ms for an ACK

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server.lock:
                    server.count += 1
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server_port}"


def open_store(kind: str, work: Path, suffix: str):
    if kind == "sqlite":
        store = SQLiteStore(work / f"{suffix}.sqlite")
    else:
        store = ElasticsearchStore(ES_URL, index_prefix=f"{PREFIX}-{suffix}")
    store.setup()
    return store


def note(i: int, at_ms: int) -> Notification:
    labels = {"flow": f"flow-{i}"}
    return Notification(action="firing", rule="bench", key=dedup_key("bench", labels),
                        severity="critical", labels=labels, annotations={"summary": f"alert {i}"},
                        value=float(i), starts_ms=at_ms, at_ms=at_ms, expires_ms=at_ms + 3_600_000)


def bench_delivery(kind: str, work: Path, alerts: int) -> None:
    store = open_store(kind, work, "delivery")
    receivers = [Counting() for _ in range(4)]
    notifiers = [pagerduty.PagerDuty("pd", pagerduty.Options(_secret(), f"{receivers[0].url}/e"))]
    notifiers += [webhook.Webhook(f"hook{k}", webhook.Options(f"{receivers[k].url}/h"))
                  for k in (1, 2, 3)]
    delivery = Delivery(notifiers, outbox_for(store), store.append_alert_history, poll_s=0.2)
    delivery.start()
    now = time.time_ns() // 1_000_000
    started = time.perf_counter()
    for i in range(alerts):
        delivery.submit([n.name for n in notifiers], note(i, now))
    delivery.flush()
    flushed = time.perf_counter() - started
    total = alerts * len(notifiers)
    while sum(r.count for r in receivers) < total:
        time.sleep(0.05)
    done = time.perf_counter() - started
    delivery.stop()
    single = []
    for i in range(50):
        t = time.perf_counter()
        delivery.submit(["pd"], note(alerts + i, now + 1))
        delivery.flush()
        single.append(time.perf_counter() - t)
    print(f"[{kind}] {alerts} alerts x {len(notifiers)} notifiers: all {total} delivered in "
          f"{done:.2f} s ({total / done:.0f}/s); outbox write of all {total}: {flushed:.2f} s "
          f"({flushed / total * 1000:.2f} ms per notification); one record's write: "
          f"median {statistics.median(single) * 1000:.1f} ms")
    for r in receivers:
        r.shutdown()
    store.close()


def _secret():
    from collector.yamlconf import Secret

    return Secret("b" * 32, "env:BENCH")


def rules_yaml(n: int, firing: int) -> str:
    lines = ["rules:"]
    for i in range(n):
        above = 0 if i < firing else 1_000_000
        lines.append(f"  - {{name: r{i}, type: threshold, filter: {{midwatch.flow: f{i % 100}}}, "
                     f"group_by: [midwatch.stage], above: {above}, window: 10m}}")
    return "\n".join(lines) + "\n"


def bench_tick(kind: str, work: Path, n_rules: int) -> None:
    results = {}
    renewals: list[float] = []
    for mode in ("bare", "lease+outbox"):
        store = open_store(kind, work, f"tick-{mode.replace('+', '-')}")
        now = time.time_ns() // 1_000_000
        store.write_events([Event(now - 60_000 + i, "app.log", "generic", "m", id=f"e{i}",
                                  flow=f"f{i % 100}", stage=f"s{i % 3}") for i in range(3000)])
        store.refresh()
        (work / "r.yaml").write_text(rules_yaml(n_rules, n_rules // 10))
        cfg = load_rules_config(loads(
            f"rules: {{paths: ['{work / 'r.yaml'}'], notify: [hook]}}\n"
            "notifiers: {hook: {type: webhook, url: 'http://127.0.0.1:9/never'}}\n"))
        times = []
        if mode == "bare":
            engine = Engine(cfg, store)
            for tick in range(TICKS):
                t = time.perf_counter()
                engine.evaluate(now + tick * 30_000)
                times.append(time.perf_counter() - t)
        else:
            scheduler = RuleScheduler(cfg, store)
            for tick in range(TICKS):
                t = time.perf_counter()
                assert scheduler.leadership.renew()  # its own thread's work, timed apart
                renewals.append(time.perf_counter() - t)
                t = time.perf_counter()
                scheduler.tick(now + tick * 30_000)
                times.append(time.perf_counter() - t)
            scheduler.leadership.stop()
        results[mode] = times
        store.close()
    print(f"[{kind}] {n_rules}-rule tick ({n_rules // 10} firing at first): "
          + "; ".join(f"{m}: cold {t[0]:.2f} s, steady {statistics.median(t[1:]):.2f} s "
                      f"(median of {TICKS - 1})" for m, t in results.items())
          + f"; a lease renewal (the lease thread's, every ttl/3): median "
            f"{statistics.median(renewals) * 1000:.1f} ms")


def cleanup() -> None:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(ES_URL)
    found = es.indices.get(index=f"{PREFIX}-*", expand_wildcards="all", allow_no_indices=True)
    if found:
        es.indices.delete(index=",".join(found), ignore_unavailable=True)
    templates = es.options(ignore_status=404).indices.get_index_template(name=f"{PREFIX}-*")
    for t in templates.body.get("index_templates", []):
        es.indices.delete_index_template(name=t["name"])
    es.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=1000)
    ap.add_argument("--rules", type=int, default=500)
    ap.add_argument("--store", choices=("elasticsearch", "sqlite", "both"), default="both")
    args = ap.parse_args()
    kinds = ("elasticsearch", "sqlite") if args.store == "both" else (args.store,)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for kind in kinds:
                bench_delivery(kind, Path(tmp), args.alerts)
                bench_tick(kind, Path(tmp), args.rules)
        finally:
            if "elasticsearch" in kinds:
                cleanup()


if __name__ == "__main__":
    main()
