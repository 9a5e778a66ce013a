"""Known-issue files: validation with file:line:column errors, and which failed events an
entry files under it."""

from __future__ import annotations

import pytest

from collector.event import Event
from collector.knowledge import LABEL, load_knowledge
from collector.yamlconf import ConfigError
from rules.known_issues import annotations

GOOD = """\
known_issues:
  - id: KI-1
    title: SAP gateway refuses connections
    match: {platform: boomi, template: "(?i)connection refused.*sap-gw"}
    workaround: Restart sap-gw.
    runbook_url: https://wiki.example.com/sap-gw
    fix: {description: Health check, status: in_progress, ticket: SAP-1}
  - id: KI-2
    title: GLOBEX rejects POs
    match: {partner: [GLOBEX, ACME], error_class: validation}
"""


def _kb(tmp_path, text: str = GOOD):
    (tmp_path / "ki.yaml").write_text(text)
    return load_knowledge(["*.yaml"], str(tmp_path))


def _ev(platform: str, *, template: str | None = None, outcome: str = "failure",
        partner: str | None = None, error_class: str | None = None) -> Event:
    ev = Event(0, "x", platform, "m", outcome=outcome, partner=partner, error_class=error_class,
               signature="abc" if template else None)
    if template:
        ev.labels["signature_template"] = template
    return ev


def test_failed_events_are_filed_under_the_first_matching_issue(tmp_path):
    kb = _kb(tmp_path)
    sap = _ev("boomi", template="Connection refused (Connection refused): sap-gw:<n>")
    edi = _ev("edi", partner="ACME", error_class="validation")
    other = _ev("boomi", template="Connection refused: erp:<n>")
    ok = _ev("edi", partner="ACME", error_class="validation", outcome="success")
    assert kb.annotate([sap, edi, other, ok]) == 2
    assert (sap.labels[LABEL], edi.labels[LABEL]) == ("KI-1", "KI-2")
    assert LABEL not in other.labels and LABEL not in ok.labels


def test_alert_annotations_carry_title_workaround_and_runbook(tmp_path):
    issue = _kb(tmp_path).get("KI-1")
    out = annotations(issue, {"summary": "s", "description": "Boomi fails."})
    assert out["known_issue"] == "KI-1: SAP gateway refuses connections"
    assert out["runbook_url"] == "https://wiki.example.com/sap-gw"
    assert out["known_issue_fix"] == "Health check (in progress, SAP-1)"
    assert out["description"] == ("Boomi fails.\n\nKnown issue KI-1: SAP gateway refuses "
                                  "connections. Workaround: Restart sap-gw.")
    # a rule's own runbook stays; the issue's goes into the description
    kept = annotations(issue, {"runbook_url": "https://wiki.example.com/boomi"})
    assert "runbook_url" not in kept and "Runbook: https://wiki.example.com/sap-gw" in kept[
        "description"]


@pytest.mark.parametrize(("text", "where", "message"), [
    (GOOD.replace("match: {partner: [GLOBEX, ACME], error_class: validation}",
                  "match: {flow: o2c}"), ":10:", "needs signature, template or error_class"),
    (GOOD.replace("template: \"(?i)connection refused.*sap-gw\"", "template: \"(unclosed\""),
     ":4:", "not a regular expression"),
    (GOOD.replace("status: in_progress", "status: done"), ":7:", "in_progress"),
    (GOOD.replace("id: KI-2", "id: KI-1"), ":8:", "'KI-1' is defined twice (first at"),
    (GOOD.replace("    workaround:", "    workarond:"), ":5:", "did you mean 'workaround'"),
    (GOOD.replace("runbook_url: https://", "runbook_url: wiki/"), ":6:", "http(s) URL"),
])
def test_mistakes_name_file_line_and_key(tmp_path, text, where, message):
    with pytest.raises(ConfigError) as info:
        _kb(tmp_path, text)
    assert f"ki.yaml{where}" in str(info.value) and message in str(info.value)


def test_api_shows_a_traces_known_issue_with_its_workaround(tmp_path, tmp_sqlite_path):
    import http.client

    import orjson

    from collector.api import Api
    from collector.config import Api as ApiConfig
    from collector.metrics import Registry
    from collector.store.sqlite import SQLiteStore
    from collector.trace import Hop, Trace

    kb = _kb(tmp_path)
    store = SQLiteStore(tmp_sqlite_path)
    store.setup()
    ev = _ev("boomi", template="Connection refused: sap-gw:<n>")
    ev.id, ev.timestamp_ms = "e1", 1_700_000_000_000
    ev.add_id("order", 4711)
    kb.annotate([ev])
    store.write_events([ev])
    store.upsert_traces([Trace("order:4711", ["order:4711"], ev.timestamp_ms, ev.timestamp_ms,
                               status="failed", hop_count=1,
                               hops=[Hop("x", "svc", "boomi", ev.timestamp_ms, "failure", "e1")])])
    api = Api(ApiConfig(listen=("127.0.0.1", 0)), store, Registry(), kb)
    api.server.serve_in_thread("api-test")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
        conn.request("GET", "/api/traces/4711")
        doc = orjson.loads(conn.getresponse().read())
        conn.close()
    finally:
        api.close()
        store.close()
    assert doc["known_issues"] == [{
        "id": "KI-1", "title": "SAP gateway refuses connections", "workaround": "Restart sap-gw.",
        "runbook_url": "https://wiki.example.com/sap-gw",
        "fix": {"description": "Health check", "status": "in_progress", "ticket": "SAP-1"}}]


def test_each_notifier_carries_the_issue_from_the_annotations(tmp_path):
    """The payloads PagerDuty, Slack and email get, built by their notifiers from a firing
    alert's annotations with its known issue added (as the engine adds them)."""
    from collector.yamlconf import make_secret
    from rules.notify import email, pagerduty, slack
    from rules.notify.base import Notification

    notes = {"summary": "o2c fails", **annotations(_kb(tmp_path).get("KI-1"),
                                                   {"description": "Boomi fails."})}
    n = Notification(action="firing", rule="r", key="k", severity="critical",
                     labels={"flow": "o2c"}, annotations=notes, value=3.0, starts_ms=0,
                     at_ms=0, expires_ms=1)
    runbook = {"href": "https://wiki.example.com/sap-gw", "text": "Runbook"}
    pd = pagerduty.event(n, pagerduty.Options(make_secret("rk", "test")))
    assert runbook in pd["links"]
    assert "Workaround: Restart sap-gw." in pd["payload"]["custom_details"]["description"]
    blocks = str(slack.message(n)["blocks"])
    assert "Workaround: Restart sap-gw." in blocks and runbook["href"] in blocks
    mail = email.compose(n, email.Options("smtp", 25, "none", "mw@example.com",
                                          ("ops@example.com",))).get_content()
    assert "Workaround: Restart sap-gw." in mail and "Runbook: https://wiki.example.com/sap-gw" in mail
