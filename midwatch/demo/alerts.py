"""The demo's alert history: the rule packs evaluated every few minutes along the scenario's
timeline, with the clock the engine is given, as ``midwatch run`` would have done while the
events arrived. So alerts fire and resolve, and the store's alert history (``midwatch-alerts``)
holds what the Alerts board shows.

The demo config names no notifier, yet a new user should see who would have been paged and
when: a stand-in for the rules' dispatcher records each notification the engine decides on as
a ``would_page`` history document, shaped like the ``notified`` documents real notifiers leave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from collector.store.base import Store
from rules.config import RulesConfig
from rules.engine import Engine, Outcome
from rules.notify.base import Notification, history_doc
from rules.state import FIRING, RESOLVED

STEP_MS = 5 * 60 * 1000  # the rule packs' shortest window and ``for``
QUIET_STEP_MS = 3 * STEP_MS  # the EDI-only hours before the first order: new errors' window
WOULD_PAGE = "would_page"
NO_NOTIFIER = "none configured"


class WouldPage:
    """The dispatcher's place in the engine: records, sends nothing."""

    def __init__(self, store: Store):
        self.store = store
        self.count = 0

    def submit(self, names: Sequence[str], n: Notification) -> None:
        self.count += 1
        self.store.append_alert_history([history_doc(n, WOULD_PAGE, n.at_ms, NO_NOTIFIER)])

    def flush(self) -> bool:
        """Each page was recorded as it came."""
        return True


@dataclass
class Timeline:
    """One engine, evaluated at increasing times; counts the transitions it recorded."""

    engine: Engine
    pages: WouldPage
    fired: int = 0
    resolved: int = 0
    evaluations: int = 0
    failed_rules: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(cls, rules_config: RulesConfig, store: Store) -> Timeline:
        pages = WouldPage(store)
        # rules that name no notifier go to the stand-in, so the engine decides their pages
        config = rules_config if rules_config.notify else replace(rules_config, notify=(WOULD_PAGE,))
        return cls(Engine(config, store, dispatcher=pages, persist=True), pages)

    def evaluate(self, at_ms: int) -> Outcome:
        outcome = self.engine.evaluate(at_ms)
        self.evaluations += 1
        self.fired += sum(a.moved == FIRING for a in outcome.alerts)
        self.resolved += sum(a.moved == RESOLVED for a in outcome.alerts)
        self.failed_rules.update(outcome.failed_rules)
        return outcome


def ticks(start_ms: int, busy_ms: int, end_ms: int) -> list[int]:
    """Evaluation times from the first step boundary after ``start_ms`` up to, not including,
    ``end_ms`` (the demo evaluates at ``end_ms`` itself last, after the OTLP spans): every
    ``QUIET_STEP_MS`` before ``busy_ms``, where only EDI trickles in and no rule has a ``for``
    to honour, every ``STEP_MS`` from it."""
    out, at = [], (start_ms // STEP_MS + 1) * STEP_MS
    while at < end_ms:
        out.append(at)
        at += QUIET_STEP_MS if at + QUIET_STEP_MS <= busy_ms else STEP_MS
    return out
