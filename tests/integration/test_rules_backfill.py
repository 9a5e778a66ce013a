"""``midwatch rules backfill`` over the demo's day, on SQLite and on Elasticsearch: the same
fired / resolved timeline and pages as the engine stepped through the same times with its
state (what a loop of ``rules eval`` would give if it kept state), from far fewer store
queries, and nothing written to the live store."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from collector.config import load_config
from midwatch.cli import main
from midwatch.demo.run import run_demo
from rules.backfill import backfill, select
from rules.config import load_rules_config
from rules.engine import Engine
from rules.silences import Silence, Silences, parse_matchers
from rules.state import FIRING, RESOLVED

NOW_MS = 1_796_040_000_000  # 2026-11-30T12:00:00Z, on a 5-minute boundary
DAY_MS = 86_400_000
STEP_MS = 5 * 60_000  # the demo's own step: a stepped reference over a day stays affordable
NOTIFIER = "would-page"


def _stepped(config, store, times) -> list[tuple]:
    """The reference: one engine kept across steps, every query sent to the store."""
    engine = Engine(select(config, None), store, persist=False)
    out = []
    for at in times:
        outcome = engine.evaluate(at)
        assert not outcome.failed_rules
        sent = {n.key: names for names, n in _by_key(outcome.notified)}
        for a in outcome.alerts:
            if a.moved in (FIRING, RESOLVED):
                out.append((at, a.rule, a.moved, tuple(sorted(a.labels.items())),
                            tuple(sent.get(a.key, ()))))
    return out


def _by_key(notified):
    keys: dict[str, list[str]] = {}
    first = {}
    for name, n in notified:
        keys.setdefault(n.key, []).append(name)
        first.setdefault(n.key, n)
    return [(tuple(names), first[k]) for k, names in keys.items()]


def _live(store) -> tuple:
    store.refresh()
    return (store.get_state("alerts"), store.get_state("silences"))


def _check_demo(config_path, capsys):
    config = load_config(config_path)
    rules_config = load_rules_config(config.doc)
    assert not rules_config.errors
    # the demo names no notifier: give every rule one, so pages are decided and counted
    rules_config = replace(rules_config, notify=(NOTIFIER,))
    store = config.open_store()
    start, end = NOW_MS - DAY_MS, NOW_MS
    # new errors are silenced until an hour before the end; a silence that ended two days
    # before would be cleaned up by a live engine, but must survive a backfill
    silences = Silences(store)
    silences.add(Silence("quiet", parse_matchers("rule=new-error-signature"), start,
                         end - 60 * 60_000, "backfill test", "test"))
    silences.add(Silence("old", parse_matchers("rule=none"), start - 3 * DAY_MS,
                         start - 2 * DAY_MS, "long over", "test"))
    try:
        before = _live(store)
        report = backfill(rules_config, store, start, end, STEP_MS)
        assert _live(store) == before  # no alert state, no silence touched
        times = list(range(start, end + 1, STEP_MS))
        expected = _stepped(rules_config, store, times)
    finally:
        store.close()
    got = [(c.at_ms, c.rule, c.event, tuple(sorted(c.labels.items())), c.notified)
           for c in report.timeline if c.event in (FIRING, RESOLVED)]
    assert got == expected
    fired = sum(s.fired for s in report.summary.values())
    resolved = sum(s.resolved for s in report.summary.values())
    assert fired >= 5 and resolved >= 3, (fired, resolved)
    assert sum(s.pages.get(NOTIFIER, 0) for s in report.summary.values()) >= fired - 5
    new_errors = report.summary["new-error-signature"]
    assert new_errors.suppressed >= 2 and new_errors.fired > new_errors.suppressed
    assert {c.detail for c in report.timeline if c.event == "suppressed"} == {"silence quiet"}
    assert new_errors.pages[NOTIFIER] == sum(len(c.notified) for c in report.timeline
                                             if c.rule == "new-error-signature")
    assert new_errors.pages[NOTIFIER] < new_errors.fired + new_errors.resolved
    assert report.steps == len(times) == 289
    # batched: fixed and sliding windows (threshold, ratio, spike: uneven buckets) come
    # out of shared histograms, a few per chunk
    assert report.folded > 0
    assert report.store_queries * 5 < report.engine_queries, (report.store_queries,
                                                              report.engine_queries)
    # the CLI prints the same timeline as JSON
    assert main(["rules", "backfill", "-c", str(config_path), "--from", str(start),
                 "--to", str(end), "--step", "5m", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(c["rule"], c["event"]) for c in doc["timeline"] if c["event"] in (FIRING, RESOLVED)] \
        == [(g[1], g[2]) for g in got]
    assert {s["rule"] for s in doc["summary"]} == {r.name for r in rules_config.rules if r.enabled}


@pytest.mark.timeout(600)
def test_backfill_matches_stepped_engine_on_sqlite(tmp_path, capsys):
    result = run_demo(tmp_path / "demo", seed=3, messages=120, now_ms=NOW_MS)
    capsys.readouterr()
    _check_demo(result.config, capsys)


@pytest.mark.timeout(1200)  # the stepped reference: 289 searches, slow on a shared machine
def test_backfill_matches_stepped_engine_on_elasticsearch(tmp_path, capsys, es_url,
                                                          es_index_prefix):
    result = run_demo(tmp_path / "demo", seed=3, messages=120, now_ms=NOW_MS, es=es_url,
                      index_prefix=es_index_prefix.rstrip("-"))
    capsys.readouterr()
    _check_demo(result.config, capsys)


def test_backfill_refuses_unknown_rules_and_reversed_spans(tmp_path, capsys):
    result = run_demo(tmp_path / "demo", seed=3, messages=40, now_ms=NOW_MS)
    capsys.readouterr()
    cfg = str(result.config)
    assert main(["rules", "backfill", "-c", cfg, "--from", str(NOW_MS - 3_600_000),
                 "--to", str(NOW_MS), "--rules", "no-such-rule"]) == 1
    assert "--rules: no rule named no-such-rule" in capsys.readouterr().err
    assert main(["rules", "backfill", "-c", cfg, "--from", str(NOW_MS),
                 "--to", str(NOW_MS - 60_000)]) == 2
    assert "is before --from" in capsys.readouterr().err
