"""``rules explain`` (CLI and ``GET /api/rules/{name}/explain``) shows the silence that
suppressed a page and the failed attempts of a notifier that is down; ``notify test`` sends
a labelled test notification and prints the receiver's answer (a local receiver standing in
for a webhook, a contract stand-in, and the real Alertmanager). Real SQLite store, the real
rule scheduler and delivery workers."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from faults_support import wait_for
from paging_support import Receiver

from collector.api import Api
from collector.config import load_config
from collector.event import Event
from collector.metrics import Registry
from midwatch.cli import main
from rules.scheduler import scheduler_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _config(tmp_path, receiver: Receiver, extra: str = ""):
    (tmp_path / "r.yaml").write_text("""\
rules:
  - {name: quiet-flow, type: threshold, filter: {midwatch.flow: quiet}, above: 0, window: 10m}
  - {name: loud-flow, type: threshold, filter: {midwatch.flow: loud}, above: 0, window: 10m,
     group_by: [midwatch.flow]}
  - {name: echo-flow, type: threshold, filter: {midwatch.flow: loud}, above: 0, window: 10m,
     group_by: [midwatch.flow]}
""")
    path = tmp_path / "midwatch.yaml"
    path.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: "{tmp_path / 's.sqlite'}"}}}}
api: {{listen: "127.0.0.1:0"}}
rules: {{paths: ["{tmp_path / 'r.yaml'}"], notify: [hook], retry_backoff: 100ms,
        retry_backoff_max: 200ms, inhibit: [{{source_matchers: [rule=loud-flow],
        target_matchers: [rule=echo-flow], equal: [flow]}}]}}
notifiers:
  hook: {{type: webhook, url: "{receiver.url}/hook"}}
{extra}""")
    return path


def test_explain_shows_silence_and_failed_attempts(tmp_path, receiver, capsys):
    receiver.status = 503
    path = _config(tmp_path, receiver)
    cfg = load_config(str(path))
    store = cfg.open_store()
    store.setup()
    now = time.time_ns() // 1_000_000
    store.write_events([Event(now - 1000, "app.log", "generic", "x", id=f"e-{flow}", flow=flow)
                        for flow in ("quiet", "loud")])
    assert main(["silence", "add", "--match", "rule=quiet-flow", "--for", "1h",
                 "--comment", "SAP maintenance window", "--author", "ana", "-c", str(path)]) == 0
    sid = capsys.readouterr().out.split()[0]
    scheduler = scheduler_worker(cfg, store)
    assert scheduler.leadership.renew()
    scheduler.delivery.start()
    try:
        scheduler.tick(now)
        wait_for(lambda: _attempts(store) >= 2, 30,
                 "two failed attempts")
    finally:
        scheduler.delivery.stop(timeout_s=2)

    assert main(["rules", "explain", "quiet-flow", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"SILENCED by {sid}" in out and "'SAP maintenance window' (ana)" in out
    assert "-> breaching; state firing" in out

    assert main(["rules", "explain", "loud-flow", "--labels", "flow=loud", "--json",
                 "-c", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    (group,) = doc["groups"]
    assert group["labels"] == {"flow": "loud"} and group["silences"] == []
    (delivery,) = group["deliveries"]
    assert delivery["notifier"] == "hook" and delivery["state"] == "pending"
    assert len(delivery["log"]) >= 2
    assert all(not a["ok"] and "answered HTTP 503" in a["answer"] for a in delivery["log"])

    assert main(["rules", "explain", "echo-flow", "-c", str(path)]) == 0
    assert "INHIBITED by firing loud-flow {flow=loud, severity=warning}" in \
        capsys.readouterr().out

    assert main(["rules", "explain", "loud-flw", "-c", str(path)]) == 1
    assert "did you mean 'loud-flow'?" in capsys.readouterr().err

    api = Api(cfg.api, store, Registry())
    scheduler.expose_api(api)
    api.server.serve_in_thread("api")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api.port}/api/rules/quiet-flow/explain"
                                    "?labels=rule=quiet-flow", timeout=10) as r:
            served = json.load(r)
        assert served["groups"][0]["silences"][0]["id"] == sid
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{api.port}/api/rules/nope/explain",
                                   timeout=10)
        assert err.value.code == 404
    finally:
        api.close()
        store.close()


def _attempts(store) -> int:
    from collector.store.paging import outbox_for

    return sum(r["attempts"] for r in outbox_for(store).of_rule("loud-flow", 10))


def test_notify_test_prints_the_answer(tmp_path, receiver, alertmanager_url, capsys):
    path = _config(tmp_path, receiver, f"  am: {{type: alertmanager, url: '{alertmanager_url}'}}\n")
    assert main(["notify", "test", "hook", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hook firing: delivered; answer: {}" in out and "hook resolved: delivered" in out
    bodies = [b for _, b in receiver.requests]
    assert [b["action"] for b in bodies] == ["firing", "resolved"]
    assert bodies[0]["annotations"]["summary"].startswith("[TEST] midwatch notification test")
    assert main(["notify", "test", "am", "-c", str(path)]) == 0
    assert "am firing: delivered" in capsys.readouterr().out
    receiver.status = 400
    assert main(["notify", "test", "hook", "-c", str(path)]) == 1
    assert "hook firing: FAILED: webhook (hook) answered HTTP 400" in capsys.readouterr().out
    assert main(["notify", "test", "nope", "-c", str(path)]) == 1
