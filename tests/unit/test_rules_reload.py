"""Hot reload against a running scheduler on a real SQLite store: a good edit is taken up
(a removed rule's firing alert resolved), a broken edit keeps the running rules, logs every
error, counts the failure and raises the midwatch pack's self-alert until fixed; SIGHUP
reloads at once, long before the next tick."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.event import Event, event_id
from collector.store.base import StoreUnavailable
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import load
from rules.config import load_rules_config
from rules.scheduler import RuleScheduler, reloading
from rules.state import FIRING

ERRORS = ("  - {name: errors, type: threshold, filter: {log.level: error}, above: 0, "
          "window: 10m}\n")
QUIET = "  - {name: quiet, type: threshold, filter: {log.level: debug}, above: 0, window: 10m}\n"
KNOWN = "known_issues:\n  - {id: KI-1, title: SAP lock, match: {error_class: LockError}}\n"
LOUD = "  - {name: loud, type: threshold, above: 1000, window: 10m}\n"


def _until(what: str, check: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, SQLiteStore]]:
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    now = time.time_ns() // 1_000_000
    store.write_events([Event(now - 1000, "app.log", "generic", "x", id=event_id("rl", "1"),
                              flow="o2c", level="error")])
    yield tmp_path, store
    store.close()


def _scheduler(tmp_path: Path, store: SQLiteStore, rules: str, interval: str,
               more: str = "") -> RuleScheduler:
    (tmp_path / "r.yaml").write_text("rules:\n" + rules)
    (tmp_path / "known").mkdir()
    (tmp_path / "known" / "ki.yaml").write_text(KNOWN)
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"rules: {{paths: ['{tmp_path}/r.yaml', 'pack:midwatch'], notify: [pd], "
                   f"interval: {interval}, lease_ttl: 2s{more}}}\n"
                   "notifiers:\n  pd: {type: webhook, url: 'http://127.0.0.1:9/pd'}\n"
                   "knowledge: {paths: ['known/*.yaml']}\n")
    config = load_rules_config(load(cfg))
    assert not config.errors, config.errors
    return RuleScheduler(config, store, reload=reloading(str(cfg)))


def _names(s: RuleScheduler) -> set[str]:
    return {r.name for r in s.engine.rules if not r.name.startswith("midwatch-")}


def _firing(s: RuleScheduler, rule: str) -> bool:
    return any(a.rule == rule and a.state == FIRING for a in list(s.engine.alerts.values()))


def test_good_edit_is_taken_up_and_broken_edit_keeps_the_rules(setup, caplog):
    tmp_path, store = setup
    caplog.set_level(logging.INFO, "midwatch.rules")
    s = _scheduler(tmp_path, store, ERRORS + QUIET, "1s")
    previous = signal.getsignal(signal.SIGHUP)
    s.start()
    try:
        _until("errors fires", lambda: _firing(s, "errors"))
        # stored after the pass's notifications are flushed, a moment after it fires in memory
        _until("its alert stored", lambda: "errors" in store.get_state("alerts"))

        (tmp_path / "r.yaml").write_text("rules:\n" + QUIET + LOUD)  # good edit
        _until("the edit is taken up", lambda: _names(s) == {"quiet", "loud"})
        _until("the removed rule's alert resolved", lambda: "errors" not in store.get_state("alerts"))
        assert not _firing(s, "errors")
        assert "rule errors is no longer loaded: resolving its alert" in caplog.text

        (tmp_path / "r.yaml").write_text(  # broken edit: two mistakes
            "rules:\n" + QUIET + "  - {name: loud, type: threshhold, above: 1}\n"
            "  - {name: other, type: threshold, above: 1, windw: 5m}\n")
        _until("the failure counted", lambda: s.reload_failures.value() == 1)
        assert _names(s) == {"quiet", "loud"}  # still the previous set
        assert "unknown rule type 'threshhold' (did you mean 'threshold'?)" in caplog.text
        assert "rules.2.windw: unknown key" in caplog.text
        assert "rules reload failed with 2 error(s); still running the" in caplog.text
        _until("the self-alert fires", lambda: _firing(s, "midwatch-rules-reload-failed"))
        assert s.reload_failures.value() == 1  # one attempt per change, not per tick

        (tmp_path / "r.yaml").write_text("rules:\n" + QUIET)  # fixed
        _until("the fix is taken up", lambda: _names(s) == {"quiet"})
        assert not s.reloader.failing
    finally:
        s.stop()
        signal.signal(signal.SIGHUP, previous)


def test_sighup_reloads_at_once(setup):
    tmp_path, store = setup
    s = _scheduler(tmp_path, store, QUIET, "1h")  # the next tick is far away
    previous = signal.getsignal(signal.SIGHUP)
    s.start()
    try:
        _until("the first tick", lambda: s.ticks == 1)
        (tmp_path / "r.yaml").write_text("rules:\n" + QUIET + LOUD)
        os.kill(os.getpid(), signal.SIGHUP)
        _until("SIGHUP reloaded", lambda: _names(s) == {"quiet", "loud"}, seconds=20)
        assert s.ticks == 1
    finally:
        s.stop()
        signal.signal(signal.SIGHUP, previous)


def test_silence_and_knowledge_files_reload_too(setup):
    tmp_path, store = setup
    (tmp_path / "silences").mkdir()
    s = _scheduler(tmp_path, store, ERRORS, "1s", f", silences: ['{tmp_path}/silences']")
    assert s.config.silences == () and len(s.config.knowledge.issues) == 1
    s.start()
    try:
        (tmp_path / "silences" / "sap.yaml").write_text(
            "silences:\n  - {matchers: [rule=errors], schedule: 'Sat 22:00-Sun 04:00 Europe/Berlin',"
            " comment: SAP maintenance, author: basis}\n")
        _until("the new silence file is read", lambda: len(s.engine.config.silences) == 1)
        (tmp_path / "known" / "more.yaml").write_text(KNOWN.replace("KI-1", "KI-2"))
        _until("the new knowledge file is read",
               lambda: [i.id for i in s.engine.config.knowledge.issues] == ["KI-1", "KI-2"])
        assert s.engine.config.silences[0].comment == "SAP maintenance"
    finally:
        s.stop()


def test_midwatch_run_reloads_on_sighup_and_keeps_running(tmp_path):
    (tmp_path / "r.yaml").write_text("rules:\n" + QUIET)
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}\n"
                   f"rules: {{paths: [{tmp_path}/r.yaml], interval: 1h}}\n")
    log = tmp_path / "stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "midwatch"), "run", "-c",
                                 str(cfg), "--no-api"], stdout=subprocess.DEVNULL, stderr=err)
    try:
        _until("the first evaluation", lambda: "evaluated 1 rules" in log.read_text())
        (tmp_path / "r.yaml").write_text("rules:\n" + QUIET + LOUD)
        proc.send_signal(signal.SIGHUP)
        _until("SIGHUP reloaded", lambda: "rules reloaded: 2 rules (1 added, 0 removed)"
               in log.read_text())
        assert proc.poll() is None  # SIGHUP reloads; it does not end the process
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_a_store_error_while_a_reload_resolves_a_removed_rule_keeps_the_scheduler_running(
        setup, monkeypatch):
    """A reload removing a firing rule while the store refuses the alert history: the error
    ended the scheduler's thread (no rule evaluated or paged again until a restart). Now it is
    logged, and once the store answers the removed rule's alert is resolved from the store."""
    tmp_path, store = setup
    s = _scheduler(tmp_path, store, ERRORS + QUIET, "1s")
    previous = signal.getsignal(signal.SIGHUP)
    s.start()
    try:
        _until("errors fires", lambda: _firing(s, "errors"))
        real = store.append_alert_history
        refused = []

        def refuse_once(records):
            if not refused:
                refused.append(records)
                raise StoreUnavailable("store down for a moment")
            return real(records)

        monkeypatch.setattr(store, "append_alert_history", refuse_once)
        (tmp_path / "r.yaml").write_text("rules:\n" + QUIET + LOUD)
        _until("the store refused once", lambda: refused)
        _until("the edit is taken up", lambda: _names(s) == {"quiet", "loud"})
        _until("the removed rule's alert resolved from the store",
               lambda: "errors" not in store.get_state("alerts"))
        assert s.thread.is_alive()
    finally:
        s.stop()
        signal.signal(signal.SIGHUP, previous)
