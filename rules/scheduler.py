"""Runs the engine every ``rules.interval``: inside ``midwatch run`` or as ``midwatch rules run``.

Ticks are aligned to the interval (10:00:00, 10:00:30, ...) so evaluation windows line up
across restarts and instances; a tick that overruns skips the ticks it missed instead of
piling up. The engine's open alerts are restored from the store before the first tick and
evaluation waits until that succeeds: evaluating without them would page again for alerts
already paged.

Many processes may run a scheduler on one store: only the holder of the rules lease
(``rules.leadership``) evaluates and sends. Whenever this process becomes the holder it
restores the alert state afresh (the previous holder changed it), and its delivery workers
send what the outbox still holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.store.base import Store, StoreError
from collector.store.paging import lease_for, outbox_for
from rules.config import RulesConfig, load_rules_config
from rules.delivery import Delivery
from rules.engine import Engine
from rules.leadership import Leadership
from rules.sources import check_sources

log = logging.getLogger("midwatch.rules")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RuleScheduler:
    def __init__(self, config: RulesConfig, store: Store, *,
                 clock: Callable[[], int] = now_ms):
        self.config = config
        self.leadership = Leadership(lease_for(store), ttl_ms=config.lease_ttl_ms, clock=clock)
        self.leadership.on_change = self._leader_changed
        self.delivery = Delivery(list(config.notifiers.values()), outbox_for(store),
                                 store.append_alert_history, policy=config.delivery,
                                 fence=self.leadership.held, max_buffered=config.queue_size,
                                 clock=clock)
        self.engine = Engine(config, store, dispatcher=self.delivery)
        self.clock = clock
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="rule-scheduler", daemon=True)
        self.restored = False
        self.ticks = 0

    def expose_metrics(self, registry) -> None:
        """Leadership, notification outcomes and outbox, rule evaluation failures and times,
        anomaly training and scoring times in ``/metrics`` of ``midwatch run``."""
        from rules.anomaly import timings

        timings.expose(registry)
        self.delivery.expose(registry)
        self.engine.expose(registry)
        leader = registry.gauge("midwatch_rules_leader",
                                "1 while this process holds the rules lease (evaluates, sends)")
        registry.on_collect(lambda: leader.set(1 if self.leadership.held() else 0))

    def expose_api(self, api) -> None:
        """``GET /api/rules/{name}/explain`` on the service's API."""
        from rules.explain import api_handler

        api.explain = api_handler(self.config, self.engine.store, self.clock)

    def _leader_changed(self, leader: bool) -> None:
        # Gained or lost, the in-memory alerts may be stale: read them again when leading.
        self.restored = False

    def start(self) -> None:
        self.leadership.start()
        self.delivery.start()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        self.delivery.stop()
        self.leadership.stop()

    def run(self) -> None:
        interval = self.config.interval_ms
        while not self.stopping.is_set():
            at = self.clock()
            self.tick(at - at % interval)
            now = self.clock()
            wait_ms = interval - now % interval
            if now - at > interval:
                log.warning("rule evaluation took %d ms, longer than the %d ms interval",
                            now - at, interval)
            self.stopping.wait(wait_ms / 1000)

    def tick(self, at_ms: int) -> None:
        if not self.leadership.held():
            return
        try:
            if not self.restored:
                self.engine.restore(at_ms)
                self.restored = True
            outcome = self.engine.evaluate(at_ms)
        except StoreError as exc:
            log.error("rule evaluation at %d skipped: %s", at_ms, exc)
            return
        self.ticks += 1
        log.info("evaluated %d rules with %d queries: %d alerts, %d notifications%s",
                 len(self.engine.rules), outcome.queries, len(outcome.alerts),
                 len(outcome.notified),
                 f", {len(outcome.failed_rules)} rules failed" if outcome.failed_rules else "")


def scheduler_worker(config, store: Store) -> RuleScheduler:
    """The hook ``midwatch run`` calls with its loaded config (``collector.config.Config``)."""
    rules_config = load_rules_config(config.doc, sending=True)
    errors = rules_config.errors or check_sources(rules_config.rules, store)[0]
    if errors:
        raise errors[0]
    return RuleScheduler(rules_config, store)


