"""Runs the engine every ``rules.interval``: inside ``midwatch run`` or as ``midwatch rules run``.

Ticks are aligned to the interval (10:00:00, 10:00:30, ...) so evaluation windows line up
across restarts and instances; a tick that overruns skips the ticks it missed instead of
piling up. The engine's open alerts are restored from the store before the first tick and
evaluation waits until that succeeds: evaluating without them would page again for alerts
already paged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.store.base import Store, StoreError
from rules.config import RulesConfig, load_rules_config
from rules.engine import Engine
from rules.notify.base import Dispatcher

log = logging.getLogger("midwatch.rules")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RuleScheduler:
    def __init__(self, config: RulesConfig, store: Store, *,
                 clock: Callable[[], int] = now_ms):
        self.config = config
        self.dispatcher = Dispatcher(list(config.notifiers.values()), store.append_alert_history,
                                     queue_size=config.queue_size)
        self.engine = Engine(config, store, dispatcher=self.dispatcher)
        self.clock = clock
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="rule-scheduler", daemon=True)
        self.restored = False
        self.ticks = 0

    def expose_metrics(self, registry) -> None:
        """Anomaly training and scoring times in ``/metrics`` of ``midwatch run``."""
        from rules.anomaly import timings

        timings.expose(registry)

    def start(self) -> None:
        self.dispatcher.start()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        self.dispatcher.stop()

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
        try:
            if not self.restored:
                self.engine.restore()
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
    rules_config = load_rules_config(config.doc)
    if rules_config.errors:
        raise rules_config.errors[0]
    return RuleScheduler(rules_config, store)


