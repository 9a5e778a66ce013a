"""Known issues end to end on real services: failed events filed under a known issue in
Elasticsearch, the rule engine firing on them, and the real Alertmanager receiving the
issue's title, workaround and runbook as annotations through the normal notifier; then the
alert resolves there. ``midwatch trace`` shows the trace's issue with its workaround."""

from __future__ import annotations

import json
import time

from test_alertmanager_notify import _alerts

from collector.config import load_config
from collector.event import Event, event_id
from collector.store.paging import outbox_for
from collector.trace import Hop, Trace
from midwatch.cli import main
from rules.config import load_rules_config
from rules.delivery import Delivery
from rules.engine import Engine

KNOWLEDGE = """\
known_issues:
  - id: KI-7
    title: SAP gateway refuses connections from Boomi
    match: {platform: boomi, template: "(?i)connection refused.*sap-gw"}
    workaround: Restart sap-gw on the SAP host.
    runbook_url: https://wiki.example.com/runbooks/sap-gw
    fix: {description: Automatic restart, status: in_progress, ticket: SAP-1234}
"""


def _poll(fn, deadline_s: float = 20.0):
    end = time.monotonic() + deadline_s
    while True:
        value = fn()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


def _failure(i: int, at_ms: int) -> Event:
    ev = Event(at_ms, "boomi.log", "boomi", "Connection refused (Connection refused): sap-gw:3300",
               outcome="failure", level="error", id=event_id("ki-it", str(i)), flow="o2c",
               service="Orders to ERP", signature="d59d5c080076d65e", error_class="connection",
               message_id=f"order-{i}")
    ev.add_id("order", i)
    ev.labels["signature_template"] = "Connection refused (Connection refused): sap-gw:<n>"
    return ev


def test_alertmanager_receives_the_known_issue(tmp_path, es_url, es_index_prefix,
                                               alertmanager_url, unique_name, capsys):
    (tmp_path / "ki.yaml").write_text(KNOWLEDGE)
    (tmp_path / "rules.yaml").write_text(
        f"rules:\n  - {{name: {unique_name}, type: threshold, filter: {{event.outcome: failure}},"
        " group_by: [midwatch.flow], above: 2, window: 10m, severity: critical,"
        " annotations: {summary: '{{ labels.flow }} fails', description: Boomi fails.}}\n")
    config = tmp_path / "mw.yaml"
    config.write_text(
        f"store: {{kind: elasticsearch, elasticsearch: {{url: '{es_url}', "
        f"index_prefix: {es_index_prefix.rstrip('-')}}}}}\n"
        f"knowledge: {{paths: [ki.yaml]}}\n"
        f"rules: {{paths: [{tmp_path / 'rules.yaml'}], notify: [am]}}\n"
        f"notifiers: {{am: {{type: alertmanager, url: '{alertmanager_url}'}}}}\n")
    rules = load_rules_config(load_config(config).doc)
    assert not rules.errors, rules.errors
    store = load_config(config).open_store()
    store.setup()
    # The notification path of `midwatch run`: the outbox in the store and its workers (this
    # test holds no lease: the one process sends, as `fence` says).
    dispatcher = Delivery(list(rules.notifiers.values()), outbox_for(store),
                          store.append_alert_history, policy=rules.delivery,
                          fence=lambda: True, max_buffered=rules.queue_size)
    dispatcher.start()
    try:
        now = time.time_ns() // 1_000_000
        fired_at = now - 20 * 60_000  # the failures happened in the 4 minutes before
        events = [_failure(i, fired_at - 60_000 * (i + 1)) for i in range(4)]
        assert rules.knowledge.annotate(events) == 4  # as the pipeline does at ingest
        assert store.write_events(events).written == 4
        hop = Hop("boomi.failed", "Orders to ERP", "boomi", fired_at - 60_000, "failure",
                  events[0].id)
        store.upsert_traces([Trace("order:0", ["order:0"], fired_at - 60_000, fired_at - 60_000,
                                   flow="o2c", status="failed", hops=[hop], hop_count=1)])
        store.refresh()

        engine = Engine(rules, store, dispatcher=dispatcher)
        outcome = engine.evaluate(fired_at)
        assert [(a.rule, a.state) for a in outcome.alerts] == [(unique_name, "firing")]
        (alert,) = _poll(lambda: _alerts(alertmanager_url, unique_name, active=True))
        notes = alert["annotations"]
        assert notes["known_issue"] == "KI-7: SAP gateway refuses connections from Boomi"
        assert notes["known_issue_workaround"] == "Restart sap-gw on the SAP host."
        assert notes["runbook_url"] == "https://wiki.example.com/runbooks/sap-gw"
        assert notes["known_issue_fix"] == "Automatic restart (in progress, SAP-1234)"
        assert notes["description"] == ("Boomi fails.\n\nKnown issue KI-7: SAP gateway refuses "
                                        "connections from Boomi. Workaround: Restart sap-gw on "
                                        "the SAP host.")
        # 20 minutes on (now), the failures left the window: resolved, gone from Alertmanager
        later = engine.evaluate(now)
        assert [a.state for a in later.alerts] == ["resolved"]
        assert _poll(lambda: not _alerts(alertmanager_url, unique_name, active=True))
    finally:
        dispatcher.stop()
        store.close()

    assert main(["trace", "order:0", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "known issue KI-7: SAP gateway refuses connections from Boomi" in out
    assert "workaround: Restart sap-gw on the SAP host." in out
    assert main(["known-issues", "list", "--since", "1h", "-c", str(config), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["known_issues"] == [{"id": "KI-7", "title": "SAP gateway refuses connections "
                                       "from Boomi", "count": 4, "fix_status": "in_progress"}]
    assert listed["candidates"] == []
