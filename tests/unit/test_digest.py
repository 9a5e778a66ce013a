"""Digest grouping (``rules.digest``): which pending records go out together and when
(group_wait for a group's first digest, group_interval after its last, the retry time after
a failed one), and the notifier keys: refused where a vendor keeps one incident per alert."""

from __future__ import annotations

import pytest

from collector.yamlconf import ConfigError, loads
from rules import digest
from rules.config import load_rules_config
from rules.digest import Grouping

G = Grouping(by=("rule", "flow"), wait_ms=30_000, interval_ms=300_000)


def _rec(i: int, created_ms: int, *, flow: str = "o2c", rule: str = "failures",
         next_ms: int | None = None) -> dict:
    return {"id": f"r{i}", "rule": rule, "created_ms": created_ms,
            "next_ms": created_ms if next_ms is None else next_ms,
            "notification": {"labels": {"flow": flow, "partner": f"p{i}"}}}


def test_a_group_waits_group_wait_from_its_oldest_record():
    recs = [_rec(i, 1_000 + i * 1_000) for i in range(10)]
    assert digest.due(recs, 30_999, G, {}) == []
    (d,) = digest.due(recs, 31_000, G, {})
    assert d.labels == {"rule": "failures", "flow": "o2c"}
    assert [r["id"] for r in d.records] == [f"r{i}" for i in range(10)]
    assert d.id == digest.digest_id(list(reversed(recs)))  # the same set, the same id


def test_groups_split_by_labels_and_rule():
    recs = [_rec(0, 0), _rec(1, 0, flow="p2p"), _rec(2, 0, rule="latency"), _rec(3, 0)]
    groups = {digest.group_key(d.labels): [r["id"] for r in d.records]
              for d in digest.due(recs, 30_000, G, {})}
    assert groups == {"flow=o2c\x1frule=failures": ["r0", "r3"],
                      "flow=p2p\x1frule=failures": ["r1"],
                      "flow=o2c\x1frule=latency": ["r2"]}


def test_the_next_digest_waits_group_interval_after_the_last():
    key = digest.group_key({"rule": "failures", "flow": "o2c"})
    recs = [_rec(0, 100_000)]
    assert digest.due(recs, 200_000, G, {key: 50_000}) == []  # 50 000 + 300 000 not reached
    assert len(digest.due(recs, 350_000, G, {key: 50_000})) == 1
    assert len(digest.due(recs, 130_000, G, {})) == 1  # a group never sent: group_wait only


def test_a_failed_digest_waits_for_its_retry_time():
    recs = [_rec(0, 0, next_ms=40_000), _rec(1, 0, next_ms=45_000)]
    assert digest.due(recs, 39_999, G, {}) == []
    assert len(digest.due(recs, 40_000, G, {})) == 1


def test_digest_title_counts_each_action():
    from rules.notify.base import Notification

    def n(action):
        return Notification(action, "r", "k", "critical", {}, {}, None, 0, 0, 0)

    assert digest.digest_title([n("firing")] * 2 + [n("resolved")], {"rule": "r"}) == \
        "[FIRING:2, RESOLVED:1] rule=r"


def _load(notifiers: str):
    return load_rules_config(loads(f"rules: {{paths: []}}\nnotifiers:\n{notifiers}",
                                   "midwatch.yaml"))


def test_notifier_keys_parse_with_alertmanager_defaults():
    cfg = _load("  chat: {type: webhook, url: 'http://x', group_by: [rule, flow]}\n"
                "  mail: {type: webhook, url: 'http://y', group_by: [rule], group_wait: 10s,"
                " group_interval: 1m}\n  plain: {type: webhook, url: 'http://z'}\n")
    assert cfg.errors == []
    assert cfg.grouping == {"chat": Grouping(("rule", "flow"), 30_000, 300_000),
                            "mail": Grouping(("rule",), 10_000, 60_000)}


@pytest.mark.parametrize(("item", "message"), [
    ("{type: pagerduty, routing_key: '${PD_KEY}', group_by: [rule]}",
     "a pagerduty notifier sends one event per alert, no digests"),
    ("{type: webhook, url: 'http://x', group_wait: 10s}", "has no effect without group_by"),
    ("{type: webhook, url: 'http://x', group_by: [rule], group_interval: 10ms}", "group_interval"),
])
def test_bad_grouping_is_an_error_at_its_key(item, message):
    (error,) = _load(f"  n: {item}\n").errors
    assert isinstance(error, ConfigError) and message in str(error)
    assert "midwatch.yaml:3:" in str(error)


def test_a_long_slack_digest_says_how_many_did_not_fit():
    from rules.notify import slack
    from rules.notify.base import Notification

    notes = [Notification("firing", "r", f"k{i}", "critical", {"partner": f"p{i}"},
                          {"summary": "x" * 100}, 1.0, 0, 0, 0) for i in range(60)]
    text = slack.digest_message(notes, {"rule": "r"})["blocks"][1]["text"]["text"]
    *listed, more = text.splitlines()
    assert len(text) <= 3000 and len(listed) + int(more.split()[2]) == 60
    assert more.startswith("… and ") and listed[-1].endswith("x" * 10)
