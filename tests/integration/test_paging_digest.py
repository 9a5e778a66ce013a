"""Digests (``group_by`` on a notifier) through the real outbox on both stores: ten alerts of
one rule become one Slack post and one webhook post listing ten, while PagerDuty gets ten
events; their resolves become one resolve digest each; a process killed between a digest's
post and its outbox write makes the next process send that digest once more (same id), and
nothing is lost. Slack, webhook and PagerDuty are contract stand-ins (local HTTP receivers);
the stores are real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from faults_support import wait_for
from paging_support import Receiver

from collector.metrics import Registry
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.paging import outbox_for
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import Secret
from rules.delivery import Delivery
from rules.digest import Grouping
from rules.notify import pagerduty, slack, webhook
from rules.notify.base import Notification
from rules.outbox import Policy

pytestmark = pytest.mark.integration
FAST = Policy(first_backoff_ms=50, max_backoff_ms=300, expire_ms=60_000)
# wait_ms: the ten submits (outbox writes, to Elasticsearch too) must all land within it to make
# one digest; 500 ms split the group in two on a loaded machine (two xdist workers, load 12),
# and 3 s did too at load 10-15 (eight engineers' tests on two cores).
GROUP = Grouping(by=("rule", "flow"), wait_ms=8_000, interval_ms=1_000)
REPO = Path(__file__).resolve().parents[2]


def _store(kind: str, path: Path, es_url: str | None = None, prefix: str | None = None):
    s = (SQLiteStore(path) if kind == "sqlite"
         else ElasticsearchStore(es_url, index_prefix=f"{prefix}mw"))
    s.setup()
    return s


@pytest.fixture(params=["sqlite", "elasticsearch"])
def where(request, tmp_path) -> dict:
    if request.param == "sqlite":
        return {"kind": "sqlite", "path": tmp_path / "s.sqlite"}
    return {"kind": "elasticsearch", "path": tmp_path / "unused",
            "es_url": request.getfixturevalue("es_url"),
            "prefix": request.getfixturevalue("es_index_prefix")}


@pytest.fixture
def receivers():
    rs = {name: Receiver() for name in ("slack", "hook", "pd")}
    rs["slack"].status, rs["slack"].body = 200, b"ok"  # as Slack's incoming webhooks answer
    yield rs
    for r in rs.values():
        r.close()


def _n(action: str, i: int, at_ms: int) -> Notification:
    return Notification(action=action, rule="o2c-failures", key=f"k{i}", severity="critical",
                        labels={"flow": "o2c", "partner": f"p{i}"},
                        annotations={"summary": f"o2c failing for p{i}"}, value=float(i),
                        starts_ms=at_ms, at_ms=at_ms, expires_ms=at_ms + 60_000)


def _notifiers(rs: dict[str, Receiver]) -> list:
    return [slack.Slack("slack", slack.Options(Secret(f"{rs['slack'].url}/hooks", "env:X"))),
            webhook.Webhook("hook", webhook.Options(f"{rs['hook'].url}/alerts")),
            pagerduty.PagerDuty("pd", pagerduty.Options(Secret("rk", "env:PD"),
                                                        url=f"{rs['pd'].url}/v2/enqueue"))]


def _bodies(r: Receiver) -> list[dict]:
    with r.lock:
        return [b for _, b in r.requests]


def _all_delivered(store, n: int) -> bool:
    recs = outbox_for(store).of_rule("o2c-failures", 200)
    return len(recs) == n and {r["state"] for r in recs} == {"delivered"}


def test_ten_alerts_one_digest_per_grouped_notifier_ten_pagerduty_events(where, receivers):
    store = _store(**where)
    d = Delivery(_notifiers(receivers), outbox_for(store), lambda docs: None, policy=FAST,
                 poll_s=0.05, grouping={"slack": GROUP, "hook": GROUP})
    registry = Registry()
    d.expose(registry)
    d.start()
    try:
        for i in range(10):  # ten alerts fire over one evaluation and the next
            d.submit(["slack", "hook", "pd"], _n("firing", i, 1_000 + i))
            if i == 4:
                d.flush()
        d.flush()
        wait_for(lambda: _all_delivered(store, 30), 90, "30 records delivered")
        (post,) = _bodies(receivers["hook"])
        assert post["status"] == "firing" and post["group"] == {"rule": "o2c-failures",
                                                                "flow": "o2c"}
        assert sorted(a["dedup_key"] for a in post["alerts"]) == [f"k{i}" for i in range(10)]
        (chat,) = _bodies(receivers["slack"])
        assert chat["text"] == "[FIRING:10] rule=o2c-failures flow=o2c"
        listed = chat["blocks"][1]["text"]["text"].splitlines()
        assert sorted(line.split(" partner=")[1] for line in listed) == sorted(
            f"p{i} value {i}.0: o2c failing for p{i}" for i in range(10))
        pd = _bodies(receivers["pd"])
        assert sorted(b["dedup_key"] for b in pd) == [f"k{i}" for i in range(10)]
        assert {b["event_action"] for b in pd} == {"trigger"}

        for i in range(10):
            d.submit(["slack", "hook", "pd"], _n("resolved", i, 60_000 + i))
        d.flush()
        wait_for(lambda: _all_delivered(store, 60), 90, "60 records delivered")
        first, resolved = _bodies(receivers["hook"])
        assert resolved["status"] == "resolved" and len(resolved["alerts"]) == 10
        assert {a["action"] for a in resolved["alerts"]} == {"resolved"}
        assert resolved["digest"] != first["digest"]
        assert _bodies(receivers["slack"])[1]["text"] == "[RESOLVED:10] rule=o2c-failures flow=o2c"
        assert len(_bodies(receivers["pd"])) == 20
        text = registry.expose()
        assert 'midwatch_notification_digests_total{notifier="hook",result="delivered"} 2' in text
        assert ('midwatch_notifications_total{notifier="slack",action="resolved",'
                'result="delivered"} 10') in text
    finally:
        d.stop()
        store.close()


def test_a_burst_larger_than_a_read_batch_is_one_digest(tmp_path, receivers):
    """A group's digest lists every pending record of it up to DIGEST_BATCH (1,000), not
    only the BATCH (200) an ungrouped notifier reads per pass."""
    store = _store("sqlite", tmp_path / "s.sqlite")
    d = Delivery(_notifiers(receivers)[1:2], outbox_for(store), lambda docs: None,
                 grouping={"hook": Grouping(("rule",), wait_ms=0)})
    for i in range(250):
        d.submit(["hook"], _n("firing", i, 1_000))
    d.flush()
    assert d.deliver("hook") == 250
    (post,) = _bodies(receivers["hook"])
    assert len({a["dedup_key"] for a in post["alerts"]}) == 250
    assert d.deliver("hook") == 0
    store.close()


CHILD = textwrap.dedent("""
    import sys, time
    from collector.store.elasticsearch import ElasticsearchStore
    from collector.store.paging import outbox_for
    from collector.store.sqlite import SQLiteStore
    from rules.delivery import Delivery
    from rules.digest import Grouping
    from rules.notify import webhook
    from rules.outbox import Policy
    kind, path, url, es_url, prefix = sys.argv[1:6]
    store = SQLiteStore(path) if kind == "sqlite" else ElasticsearchStore(
        es_url, index_prefix=prefix + "mw")
    hook = webhook.Webhook("hook", webhook.Options(url))
    Delivery([hook], outbox_for(store), lambda docs: None,
             policy=Policy(50, 300, 60_000), poll_s=0.05,
             grouping={"hook": Grouping(("rule",), 200, 1_000)}).start()
    time.sleep(120)  # killed by the test while its digest's post is in flight
""")


def test_crash_between_post_and_write_resends_that_digest_once(where, receivers):
    store = _store(**where)
    hook = receivers["hook"]
    writer = Delivery([], outbox_for(store), lambda docs: None)
    for i in range(10):
        writer.submit(["hook"], _n("firing", i, 1_000 + i))
    writer.flush()
    hook.hang.set()  # the post arrives and is held: the process dies before the answer
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, where["kind"], str(where["path"]), f"{hook.url}/alerts",
         where.get("es_url", ""), where.get("prefix", "")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        wait_for(lambda: hook.arrived == 1, 90, "the child's digest post to arrive")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
    hook.hang.clear()
    hook.released.set()  # the receiver took the first post (the sender never heard)
    wait_for(lambda: len(_bodies(hook)) == 1, 60, "the first post to be recorded")
    assert {r["state"] for r in outbox_for(store).of_rule("o2c-failures", 50)} == {"pending"}

    d = Delivery([webhook.Webhook("hook", webhook.Options(f"{hook.url}/alerts"))],
                 outbox_for(store), lambda docs: None, policy=FAST, poll_s=0.05,
                 grouping={"hook": Grouping(("rule",), 200, 1_000)})
    d.start()
    try:
        wait_for(lambda: _all_delivered(store, 10), 90, "the digest sent again")
        first, again = _bodies(hook)
        assert first["digest"] == again["digest"]  # the receiver can tell it is a resend
        assert sorted(a["dedup_key"] for a in again["alerts"]) == [f"k{i}" for i in range(10)]
        deadline = time.monotonic() + 1.0  # ~20 worker passes: no third post
        while time.monotonic() < deadline:
            assert len(_bodies(hook)) == 2
            time.sleep(0.05)
    finally:
        d.stop()
        store.close()
