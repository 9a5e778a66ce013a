"""Runs the engine every ``rules.interval``: inside ``midwatch run`` or as ``midwatch rules run``.

Ticks are aligned to the interval (10:00:00, 10:00:30, ...) so evaluation windows line up
across restarts and instances; a tick that overruns skips the ticks it missed instead of
piling up. The engine's open alerts are restored from the store before the first tick and
evaluation waits until that succeeds: evaluating without them would page again for alerts
already paged.

Many processes may run a scheduler on one store: only the holder of the rules lease
(``rules.leadership``) evaluates and sends. Whenever this process becomes the holder after
another did (the lease's token moved) it restores the alert state afresh (the previous holder
changed it), brought up to the outbox's decisions the state missed (``rules.replay``: a holder
killed between its outbox and state writes), and its delivery workers send what the outbox
still holds. Holding it again with
the same token (its renewals were late, nobody took over) it keeps what it decided: its
memory is then newer than the store whenever a state write failed, and reading the store
back would forget an alert it paged and page it again.

Rule, silence and knowledge files are reloaded when they change (``rules.reload``: polled
before every tick, at once on SIGHUP); files that no longer validate keep the rules running,
every error is logged, ``midwatch_rules_reload_failures_total`` counts the attempt and every
tick writes a ``reload_failed`` history record, which the midwatch pack's
``midwatch-rules-reload-failed`` rule pages on until the files are fixed.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from collector.event import ms_to_iso
from collector.metrics import Registry
from collector.store.base import Store, StoreError, StoreUnavailable
from collector.store.paging import lease_for, outbox_for
from collector.yamlconf import load
from rules.config import RulesConfig, load_rules_config
from rules.delivery import Delivery
from rules.engine import Engine
from rules.fencing import FencedState, Refusals
from rules.leadership import Leadership
from rules.reload import Reloader
from rules.sources import check_sources

log = logging.getLogger("midwatch.rules")
RELOAD_RULE = "midwatch-rules-reload"
SKIP_RELOG_MS = 5 * 60_000  # while passes are skipped, an error line this often


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RuleScheduler:
    def __init__(self, config: RulesConfig, store: Store, *,
                 clock: Callable[[], int] = now_ms,
                 reload: Callable[[], RulesConfig] | None = None):
        """``reload``: loads the rules config again from its files (hot reload); None: never."""
        self.config = config
        self.reloader = Reloader(reload, config.sources) if reload is not None else None
        # Until expose_metrics attaches the service's /metrics counter (right after start-up).
        self.reload_failures = Registry().counter("midwatch_rules_reload_failures_total", "")
        self.skipped = Registry().counter("midwatch_rules_passes_skipped_total", "")
        self.skipping = 0  # passes skipped in a row: logged now and then, the end is told
        self.skip_logged_ms = 0  # when a skip was last logged at error level
        self.wake = threading.Event()  # SIGHUP: reload now, not at the next tick
        leases = lease_for(store)
        self.leadership = Leadership(leases, ttl_ms=config.lease_ttl_ms, clock=clock)
        self.refusals = Refusals()
        self.delivery = Delivery(list(config.notifiers.values()), outbox_for(store),
                                 store.append_alert_history, policy=config.delivery,
                                 fence=self.leadership.held, max_buffered=config.queue_size,
                                 clock=clock, grouping=config.grouping,
                                 writes_under=self.leadership.fence,
                                 refused=lambda what: self.refusals.count(what))
        fenced = FencedState(leases, self.leadership.fence, self.refusals)
        self.engine = Engine(config, store, dispatcher=self.delivery, put_state=fenced.put_state,
                             decided=self.delivery.box)
        self.clock = clock
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="rule-scheduler", daemon=True)
        # The lease token the engine's alerts were restored under (None: read them at the
        # next pass); another token means another process may have evaluated since.
        self.restored_under: int | None = None
        self.ticks = 0

    def expose_metrics(self, registry) -> None:
        """Leadership, notification outcomes and outbox, rule evaluation failures and times,
        anomaly training and scoring times in ``/metrics`` of ``midwatch run``."""
        from rules.anomaly import timings

        timings.expose(registry)
        self.delivery.expose(registry)
        self.refusals.expose(registry)
        self.engine.expose(registry)
        self.reload_failures = registry.counter(
            "midwatch_rules_reload_failures_total",
            "Changed rule, silence or knowledge files that did not validate (the previous set "
            "kept running)")
        self.skipped = registry.counter(
            "midwatch_rules_passes_skipped_total",
            "Rule passes skipped because the store did not answer (down, or an index whose "
            "shards had not started): run again at the next tick, no rule marked failed")
        leader = registry.gauge("midwatch_rules_leader",
                                "1 while this process holds the rules lease (evaluates, sends)")
        registry.on_collect(lambda: leader.set(1 if self.leadership.held() else 0))

    def expose_api(self, api) -> None:
        """``GET /api/rules/{name}/explain`` on the service's API."""
        from rules.explain import api_handler

        # Through the scheduler's current config, so the API explains reloaded rules too.
        explain = None

        def current(name: str, query: str) -> dict:
            nonlocal explain
            if explain is None or explain[0] is not self.config:
                explain = (self.config, api_handler(self.config, self.engine.store, self.clock))
            return explain[1](name, query)

        api.explain = current

    def start(self) -> None:
        if self.reloader is not None and threading.current_thread() is threading.main_thread():
            # Signal handlers can only be set from the main thread: ``midwatch run`` and
            # ``rules run`` start the scheduler there; embedded uses poll only.
            signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        self.leadership.start()
        self.delivery.start()
        self.thread.start()

    def request_reload(self) -> None:
        """Re-read the files now even if unchanged (SIGHUP; safe from a signal handler)."""
        self.wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join()
        self.delivery.stop()
        self.leadership.stop()

    def run(self) -> None:
        interval = self.config.interval_ms
        while not self.stopping.is_set():
            at = self.clock()
            self.reload(at)
            self.tick(at - at % interval)
            now = self.clock()
            if now - at > interval:
                log.warning("rule evaluation took %d ms, longer than the %d ms interval",
                            now - at, interval)
            self._wait_for_tick(now + interval - now % interval)

    def _wait_for_tick(self, due_ms: int) -> None:
        """Sleep until the next aligned tick; a SIGHUP meanwhile reloads at once."""
        while not self.stopping.is_set():
            left = due_ms - self.clock()
            if left <= 0:
                return
            if self.wake.wait(left / 1000):
                self.wake.clear()
                if not self.stopping.is_set():
                    self.reload(self.clock(), force=True)

    def reload(self, at_ms: int, *, force: bool = False) -> None:
        """Take up changed rule, silence and knowledge files, or keep the running set and
        report every error when they do not validate. A store error while taking them up (a
        removed rule's alert resolved while the store is down or refusing) is logged and the
        next evaluation restores the alerts from the store, which resolves those of removed
        rules again: escaping, it ended the scheduler's thread, and no rule paged again."""
        try:
            self._reload(at_ms, force)
        except StoreError as exc:
            log.error("rules reload at %d: the store failed while taking up the new rules "
                      "(%s): alerts are restored from the store at the next evaluation",
                      at_ms, exc)
            self.restored_under = None

    def _reload(self, at_ms: int, force: bool) -> None:
        if self.reloader is None:
            return
        outcome = self.reloader.poll(force)
        if isinstance(outcome, list):
            for exc in outcome:
                log.error("rules reload: %s", exc)
            log.error("rules reload failed with %d error(s); still running the %d rules "
                      "loaded before", len(outcome), len(self.engine.rules))
            self.reload_failures.inc()
        elif outcome is not None:
            self._take_up(outcome, at_ms)

    def _take_up(self, new: RulesConfig, at_ms: int) -> None:
        if set(new.notifiers) != set(self.config.notifiers):
            log.warning("rules reload: notifiers changed; they take effect after a restart")
        # Notifiers, delivery, interval and lease belong to running threads: kept.
        config = replace(new, notifiers=self.config.notifiers, interval_ms=self.config.interval_ms,
                         lease_ttl_ms=self.config.lease_ttl_ms, delivery=self.config.delivery,
                         queue_size=self.config.queue_size)
        before = {r.name for r in self.engine.rules}
        self.config = config
        leading = self.leadership.held()
        self.engine.reconfigure(config, at_ms, resolve=leading)
        if not leading:  # the store still holds removed rules' alerts: resolved on taking over
            self.restored_under = None
        after = {r.name for r in self.engine.rules}
        log.info("rules reloaded: %d rules (%d added, %d removed), %d file silences",
                 len(after), len(after - before), len(before - after), len(config.silences))

    def tick(self, at_ms: int) -> None:
        if not self.leadership.held():
            return
        token = self.leadership.token  # set before held() turns true: never older than it
        try:
            if token != self.restored_under:
                self.engine.restore(at_ms)
                self.restored_under = token
            if self.reloader is not None and self.reloader.failing:
                self.engine.store.append_alert_history([_reload_failed(self.reloader.failing,
                                                                       at_ms)])
            outcome = self.engine.evaluate(at_ms)
        except StoreUnavailable as exc:
            # Not one error line a tick for an outage, but not one line for an hour either:
            # again at error level every SKIP_RELOG_MS while it lasts; the counter counts.
            self.skipped.inc()
            self.skipping += 1
            loud = self.skipping == 1 or at_ms - self.skip_logged_ms >= SKIP_RELOG_MS
            if loud:
                self.skip_logged_ms = at_ms
            (log.error if loud else log.debug)(
                "rule evaluation at %d skipped (%d passes in a row): %s",
                at_ms, self.skipping, exc)
            return
        except StoreError as exc:  # refused (403, a mapping conflict): needs a person, each tick
            log.error("rule evaluation at %d skipped: %s", at_ms, exc)
            return
        if self.skipping:
            log.warning("rule evaluation resumed after %d skipped passes", self.skipping)
            self.skipping = 0
        self.ticks += 1
        log.info("evaluated %d rules with %d queries: %d alerts, %d notifications%s",
                 len(self.engine.rules), outcome.queries, len(outcome.alerts),
                 len(outcome.notified),
                 f", {len(outcome.failed_rules)} rules failed" if outcome.failed_rules else "")


def _reload_failed(errors: list, at_ms: int) -> dict:
    """The alert-history record of files that do not validate (what the self-alert counts)."""
    return {"@timestamp": ms_to_iso(at_ms), "rule": RELOAD_RULE, "state": "reload_failed",
            "severity": "critical", "labels": {}, "summary": f"{len(errors)} error(s): {errors[0]}"}


def reloading(file: str) -> Callable[[], RulesConfig]:
    """Loads the rules config again from the config file (its rule, silence and knowledge
    files with it), as ``run`` did at start."""
    return lambda: load_rules_config(load(file), sending=True)


def scheduler_worker(config, store: Store) -> RuleScheduler:
    """The hook ``midwatch run`` calls with its loaded config (``collector.config.Config``)."""
    rules_config = load_rules_config(config.doc, sending=True)
    errors = rules_config.errors or check_sources(rules_config.rules, store)[0]
    if errors:
        raise errors[0]
    return RuleScheduler(rules_config, store, reload=reloading(config.file))


