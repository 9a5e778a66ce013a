"""The rules side's per-alert store round trips, one request per alert (before) against the
batched requests (now), on real search engines.

Run: ``.venv/bin/python bench/rules_roundtrips_bench.py [--urls URL,URL] [--rows 40000]
[--resolves 200] [--cut 200] [--rounds 5]``; default URLs: ES 9 (MIDWATCH_ES_URL,
:9200) and OpenSearch 2 (MIDWATCH_OPENSEARCH_URL, :9220). Everything it writes is under the
prefix ``rtbench-<pid>-`` and deleted afterwards.

1. A delivery pass (``Delivery.deliver``) with ``--resolves`` pending resolves (waiting for a
   retry: nothing is sent, the pass is its reads) among ``--rows`` outbox documents: each
   alert's records read one search after another (``of_rule``, as before) or in ``_msearch``
   chunks (``of_alerts``, as now).
2. An evaluation tick of a ratio rule whose answer is full (``max_groups`` 2) with ``--cut``
   open alerts cut out of it: each judged alone with its own request (as before) or all of
   them in one ``_send`` (now; ``ALONE_PER_PASS`` raised to ``--cut`` so both judge every
   alert, and the default cap's tick besides).

Old and new run interleaved round by round in one process, so the machine's load (2 shared
cores) hits both alike; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from outbox_keyed_read import fill, one_pass, records

import rules.engine
from collector.event import Event, event_id
from collector.store import engines
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import outbox_for
from collector.yamlconf import loads
from rules.config import load_rules_config
from rules.delivery import UNOPENED_LOOKBACK
from rules.engine import Engine

MIN = 60_000
RULE = """\
rules:
  - {name: failing, type: ratio, group_by: [midwatch.flow], where: {event.outcome: failure},
     above: 0.5, min_events: 5, window: 10m, max_groups: MAX}
"""


class OneByOne:
    """The outbox with ``of_alerts`` as it was before: one ``of_rule`` search per alert."""

    def __init__(self, box) -> None:
        self.box = box

    def __getattr__(self, name: str):
        return getattr(self.box, name)

    def of_alerts(self, alerts, limit):
        return {(rule, key): self.box.of_rule(rule, limit, key) for rule, key in alerts}


class AloneOneByOne(Engine):
    """The engine with each cut alert judged alone in its own request, as before."""

    def _alone(self, rule, alerts, at_ms):
        out = {}
        for a in alerts:
            out.update(super()._alone(rule, [a], at_ms))
        return out


def _times(xs: list[float]) -> str:
    return (f"median {statistics.median(xs):.3f} s (rounds: "
            f"{', '.join(f'{x:.3f}' for x in xs)})")


def bench_outbox(store: ElasticsearchStore, args) -> None:
    box = outbox_for(store)
    fill(box, records(args.rows, args.resolves, 1, time.time_ns() // 1_000_000))
    alerts = [(f"rule-{0}", f"alert-{a:06d}") for a in range(args.resolves)]
    assert box.of_alerts(alerts, UNOPENED_LOOKBACK) == OneByOne(box).of_alerts(
        alerts, UNOPENED_LOOKBACK), "batched reads differ from the single ones"
    old, new = [], []
    for k in range(args.rounds):  # which goes first alternates round by round
        for out, b in ((old, OneByOne(box)), (new, box))[::1 if k % 2 else -1]:
            seconds, sent = one_pass(b)
            assert sent == 0, "a pass sent something: not a read pass"
            out.append(seconds)
    print(f"  delivery pass, {args.resolves} pending resolves x {args.rows} outbox docs:")
    print(f"    one search per alert: {_times(old)}")
    print(f"    of_alerts (_msearch): {_times(new)}")


def _ev(n: int, i: int, ts: int, flow: str, failed: bool) -> Event:
    return Event(ts, "mulesoft.log", "mulesoft", "m", outcome="failure" if failed else "success",
                 level="error" if failed else "info", id=event_id("rtbench", f"{flow}-{n}-{i}"),
                 flow=flow, message_id=f"{flow}-{i}")


def _config(work: Path, max_groups: int):
    (work / "rules.yaml").write_text(RULE.replace("MAX", str(max_groups)))
    cfg = load_rules_config(loads(f"rules:\n  paths: [{work}/rules.yaml]\n"))
    assert not cfg.errors, cfg.errors
    return cfg


def bench_cut(store: ElasticsearchStore, args, work: Path) -> None:
    t0 = (time.time_ns() // 1_000_000 // MIN) * MIN
    store.write_events([_ev(n, i, t0 - MIN + i * 1000, f"c{n:04d}", True)
                        for n in range(args.cut) for i in range(10)]
                       + [_ev(0, i, t0 + i * 100, flow, False) for flow in ("a", "b")
                          for i in range(50)])
    store.refresh()
    engines_ = {}
    for name, cls in (("old", AloneOneByOne), ("new", Engine), ("capped", Engine)):
        e = cls(_config(work, args.cut + 10), store, persist=False)
        firing = [a for a in e.evaluate(t0).alerts if a.state == "firing"]
        e.reconfigure(_config(work, 2), t0)
        engines_[name] = e
    assert len(firing) == args.cut, len(firing)
    times: dict[str, list[float]] = {name: [] for name in engines_}
    default_cap = rules.engine.ALONE_PER_PASS
    for k in range(1, args.rounds + 1):
        for name, e in list(engines_.items())[::1 if k % 2 else -1]:
            rules.engine.ALONE_PER_PASS = default_cap if name == "capped" else args.cut
            t = time.perf_counter()
            out = e.evaluate(t0 + k * 1000)
            times[name].append(time.perf_counter() - t)
            assert not [a for a in out.alerts if a.state == "resolved"], name
    rules.engine.ALONE_PER_PASS = default_cap
    print(f"  evaluation tick, {args.cut} open alerts cut from a full answer:")
    print(f"    one request per alert:           {_times(times['old'])}")
    print(f"    one _send, all {args.cut} judged:       {_times(times['new'])}")
    print(f"    one _send, cap {default_cap} (the rest held): {_times(times['capped'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--urls", default=",".join((
        os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200"),
        os.environ.get("MIDWATCH_OPENSEARCH_URL", "http://127.0.0.1:9220"))))
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--resolves", type=int, default=200)
    ap.add_argument("--cut", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    logging.getLogger("midwatch.rules").setLevel(logging.ERROR)  # "more groups than max_groups"
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for url in args.urls.split(","):
        client = engines.client(url, request_timeout=60)
        prefix = f"rtbench-{os.getpid()}-"
        store = ElasticsearchStore(client=client, index_prefix=prefix)
        try:
            store.setup()
            print(f"{store.engine().name} at {url}")
            bench_outbox(store, args)
            with TemporaryDirectory() as work:
                bench_cut(store, args, Path(work))
        finally:
            engines.delete_prefix(client, prefix)
            client.close()
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
