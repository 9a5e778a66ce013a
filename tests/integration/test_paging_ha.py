"""Three ``midwatch run`` processes on one Elasticsearch store, 20 rules firing and resolving
over a scripted timeline, the leader killed with SIGKILL half-way: one process evaluates at a
time (the rules lease), a new leader takes over within 2 x TTL, and every firing and every
resolve reaches each receiver exactly once (a request in flight at the kill may be repeated,
with the same dedup key: counted and bounded).

Local receivers stand in for PagerDuty and two webhooks (contract stand-ins); the store, the
processes and the Alertmanager are real.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest
from faults_support import Collector, wait_for, write_config
from paging_support import Receiver, action_of, paging_top, rules_yaml

from collector.event import Event
from collector.store.elasticsearch import ElasticsearchStore

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

RULES = 20
TTL_S = 5
STEP_S = 1.5  # rule i's events are written at i x STEP_S
WINDOW = "15s"  # longer than 2 x TTL: no alert can start and end inside a takeover


def _leader(procs: list[Collector]) -> list[int]:
    return [i for i, p in enumerate(procs)
            if p.alive() and p.metrics().get("midwatch_rules_leader") == 1]


def _am_active(url: str, run: str) -> list[dict]:
    q = urllib.parse.urlencode({"filter": f'run="{run}"', "active": "true"})
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{q}", timeout=10) as r:
        return json.load(r)


def test_three_processes_page_once_through_a_leader_kill(tmp_path, es_url, es_index_prefix,
                                                         alertmanager_url, unique_name,
                                                         monkeypatch):
    monkeypatch.setenv("PD_KEY", "ha-test-routing-key")
    receivers = {"pd": Receiver(), "hook1": Receiver(), "hook2": Receiver()}
    names = [f"{unique_name}-r{i}" for i in range(RULES)]
    (tmp_path / "rules.yaml").write_text(rules_yaml(names, window=WINDOW, run=unique_name))
    (tmp_path / "app.log").write_text("")
    prefix = f"{es_index_prefix}ha"
    top = paging_top([str(tmp_path / "rules.yaml")], receivers, ttl=f"{TTL_S}s",
                     alertmanager_url=alertmanager_url)
    store = ElasticsearchStore(es_url, index_prefix=prefix)
    store.setup()
    procs: list[Collector] = []
    try:
        for k in range(3):
            work = tmp_path / f"p{k}"
            work.mkdir()
            cfg, port = write_config(
                work, es_url, prefix,
                f"  - {{type: file, name: app, paths: ['{tmp_path / 'app.log'}']}}",
                extra_top=top)
            procs.append(Collector(cfg, port, work / "run.log"))

        def logs() -> str:
            return "\n".join(p.output()[-1500:] for p in procs)

        wait_for(lambda: len(_leader(procs)) == 1, 60, "one leader", logs)
        start = time.monotonic()
        killed_at = takeover_s = None
        for i, name in enumerate(names):
            while time.monotonic() - start < i * STEP_S:
                time.sleep(0.05)
            now = time.time_ns() // 1_000_000
            store.write_events([Event(now, "app.log", "generic", f"{name} failed", id=f"{name}-e",
                                      flow=name, outcome="failure")])
            store.refresh()
            if i == RULES // 2:
                (leader,) = _leader(procs)
                procs[leader].kill9()
                killed_at = time.monotonic()
                takeover_s = wait_for(lambda: len(_leader(procs)) == 1, 2 * TTL_S,
                                      "a new leader within 2 x TTL", logs)
        assert all(len(_leader(procs)) <= 1 for _ in range(3))

        def complete() -> bool:
            return all({a for (_, a) in r.accepted()} == {"firing", "resolved"}
                       and len(r.accepted()) == 2 * RULES for r in receivers.values())

        wait_for(complete, 90, "every firing and resolve at every receiver",
                 lambda: f"{[dict(r.accepted()) for r in receivers.values()]}\n{logs()}")
        time.sleep(2 * TTL_S)  # quiet period after completion: a late duplicate would land here
        duplicates = {name: sum(c - 1 for c in r.accepted().values())
                      for name, r in receivers.items()}
        print(f"takeover {takeover_s:.1f} s after kill -9; duplicates per receiver {duplicates}")
        # Only a request in flight at the kill may repeat (same dedup key): at most one per
        # receiver, first accepted just before the kill, again only after the takeover.
        for name, r in receivers.items():
            for (key, action), n in r.accepted().items():
                if n > 1:
                    times = [t for t, b in r.requests if b.get("dedup_key") == key
                             and action_of(b) == action]
                    print("DUP", name, key, action, [round(t - killed_at, 2) for t in times])
                    assert killed_at - 2 < times[0] <= killed_at < times[1], (name, key, times)
        assert all(d <= 1 for d in duplicates.values()), duplicates
        assert killed_at is not None and takeover_s < 2 * TTL_S
        assert _am_active(alertmanager_url, unique_name) == []  # all resolved in Alertmanager
    finally:
        for p in procs:
            p.close()
        for r in receivers.values():
            r.close()
        store.close()
