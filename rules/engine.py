"""One evaluation of all due rules at a time ``at_ms``: query, decide, remember, notify.

Every due rule's queries are collected first and identical ones (same filters, groups,
aggregation and window) are run once, in batches through ``store.metrics`` (one ``_msearch``
per batch on Elasticsearch). Deciding is pure (``rules.types``, ``rules.state``); the engine
is the edge that reads the store, writes alert state and history, and hands notifications to
the dispatcher without waiting for them.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from collector.event import ms_to_iso
from collector.store.base import (
    Filter,
    MetricQuery,
    MetricRow,
    Store,
    StoreError,
    StoreUnavailable,
)
from collector.store.paging import OutboxStore
from rules import bands, flapping, known_issues, replay, sharing, types
from rules.config import RulesConfig
from rules.fields import FieldError, group_labels, label_name
from rules.filters import typed
from rules.notify.base import Notification
from rules.schema import Rule, Sample
from rules.silences import Silences, inhibited, matches_all
from rules.state import (
    FIRING,
    INACTIVE,
    PENDING,
    RESOLVED,
    Alert,
    advance,
    dedup_key,
    notification,
)
from rules.templates import duration

log = logging.getLogger("midwatch.rules")

# One state document per rule holding all its open alerts: a tick that changes many alerts
# of a rule writes once, not once per alert (bounded by the rule's max_groups).
STATE_NAMESPACE = "alerts"
# Each rule's last evaluation, one document for all rules (written once per evaluation): a
# restarted or newly elected engine's sliding windows look back to it, so a burst during
# the restart still fires, at most ``CATCH_UP_MS`` beyond the rule's window.
RUNS_NAMESPACE, RUNS_KEY = "rule_runs", "last_run"
CATCH_UP_MS = 3_600_000
BATCH = 200
EXAMPLE_CHARS = 300
# Open alerts of one rule cut from its full answer (``max_groups``) judged alone per
# evaluation, their queries sent together (``_send``: one ``_msearch`` per ``BATCH``). The rest
# are held as they are, neither resolved nor fired again, and go first next time (the least
# recently judged first): 500 such alerts are all judged within 5 evaluations.
ALONE_PER_PASS = 100
# Firing cut alerts held past their last page's expiry are logged at most this often a rule.
LAPSE_WARN_MS = 900_000
# Alert-history documents a refused write left owed, written before the next pass's: at most
# this many kept (the oldest dropped, logged) through a long refusal.
HISTORY_OWED = 10_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one evaluation decided, for ``rules eval``, ``rules test`` and logs."""

    alerts: list[Alert]
    notified: list[tuple[str, Notification]]
    failed_rules: dict[str, str]
    queries: int


class Sink(Protocol):
    """Where notifications go: ``rules.delivery.Delivery`` (the outbox), or a stand-in."""

    def submit(self, names: Sequence[str], n: Notification) -> None: ...

    def flush(self) -> bool:
        """Make what was submitted durable before the evaluation's state is saved: whether
        it is (when not, the engine keeps that state unsaved until a flush succeeds)."""



def plan(rule: Rule, at_ms: int, last_ms: int | None, interval_ms: int) -> list[MetricQuery]:
    """The rule's queries at ``at_ms``, ``query_delay`` earlier; a sliding type (``SLIDING``)
    also gets its previous evaluation ``last_ms``, so its windows cover every moment since (a
    first evaluation looks back one interval). Shared with ``rules.backfill``, which asks the
    store for a chunk's queries ahead of the engine."""
    module = types.get(rule.type)
    at = at_ms - rule.query_delay_ms
    if not getattr(module, "SLIDING", False):
        return module.queries(rule, at)
    since = last_ms if last_ms is not None else at_ms - (rule.interval_ms or interval_ms)
    return module.queries(rule, at, since_ms=since - rule.query_delay_ms)

class Engine:
    def __init__(self, config: RulesConfig, store: Store, *, dispatcher: Sink | None = None,
                 persist: bool = True, share_windows: bool = True,
                 put_state: Callable[[str, str, dict | None], None] | None = None,
                 decided: OutboxStore | None = None):
        self.config = config
        # The outbox ``dispatcher`` writes to: ``restore`` reads back the decisions the saved
        # state missed (``rules.replay``). None: the state alone (``rules eval``, tests).
        self.decided = decided
        # Alike sliding windows asked as one (``rules.sharing``); off in a backfill, whose
        # chunk histograms already answer every window (reading them out twice costs CPU).
        self.share_windows = share_windows
        self.store = store
        # The leader's writes go under its lease's fence (``rules.fencing``).
        self.put_state = put_state or store.put_state
        self.dispatcher = dispatcher
        self.persist = persist
        self.rules = [r for r in config.rules if r.enabled]
        self.alerts: dict[str, Alert] = {}
        self.last_run: dict[str, int] = {}
        self._spent: dict[str, float] = {}  # this evaluation's time per rule so far
        # Rules whose answer this evaluation came back full (``max_groups``): groups past the
        # cap are missing from it, so a missing group is asked alone before it resolves.
        self._cut: set[str] = set()
        self._warned_cut: set[str] = set()  # logged once per rule and process (bounded)
        self._warned_held: set[str] = set()  # ... and its alerts held past ALONE_PER_PASS
        self._warned_lapse: dict[str, int] = {}  # rule -> when its lapsing held were logged
        # Rules whose state in memory the store does not hold yet: marked when decided, cleared
        # rule by rule as each write succeeds, so a write that failed (the store down or
        # refusing) is made again by the next evaluation, not only when the alert next moves.
        # An open alert missing from the store is paged again by whoever restores it (a new
        # lease holder). Written only once the notifications are durable: a state saying
        # "notified" for a page that only this process's memory holds would lose the page in
        # a crash.
        self._unsaved: set[str] = set()
        # Alert history a refused write left to the next pass (``_write_history``).
        self._owed: list[dict] = []
        # (rule, seconds or None when it failed): per-rule evaluation time for /metrics
        self.observed: Callable[[str, float | None], None] = lambda rule, seconds: None
        # (rule, how many): cut-out open alerts left unjudged this evaluation (ALONE_PER_PASS)
        self.held: Callable[[str, int], None] = lambda rule, n: None

    def expose(self, registry) -> None:
        failures = registry.counter("midwatch_rule_evaluation_failures_total",
                                    "Rule evaluations that failed (query refused, store error)",
                                    ("rule",))
        duration = registry.histogram("midwatch_rule_evaluation_seconds",
                                      "Time to decide one rule: its share of the batched "
                                      "queries plus its own evaluation", ("rule",))

        def observed(rule: str, seconds: float | None) -> None:
            if seconds is None:
                failures.inc(rule)
            else:
                duration.observe(seconds, rule)

        self.observed = observed
        held = registry.counter("midwatch_rule_cut_alerts_held_total",
                                "Open alerts of a rule past max_groups left unjudged by an "
                                "evaluation (more than ALONE_PER_PASS to ask alone): held as "
                                "they are, judged in a later one", ("rule",))
        self.held = lambda rule, n: held.inc(rule, by=n)

    def restore(self, at_ms: int | None = None) -> None:
        """Take up the alerts a previous run left open, so a restart does not page again, and
        each rule's last evaluation (bounded by ``CATCH_UP_MS`` and its window), so the
        first one after a restart looks back to it instead of one interval.

        Alerts of rules no longer loaded (deleted, disabled, renamed) are resolved, and the
        resolve of each one that was paged goes to the notifiers it was paged to: an
        incident is never left open by a rule change.
        """
        self.alerts.clear()
        self._unsaved.clear()  # memory is what the store holds again
        now = time.time_ns() // 1_000_000 if at_ms is None else at_ms
        runs = self.store.get_state(RUNS_NAMESPACE).get(RUNS_KEY, {}).get("last_run", {})
        runs = {rule: ms for rule, ms in runs.items() if isinstance(ms, int)}
        names = {r.name for r in self.rules}
        orphans: dict[str, list[Alert]] = {}
        states = self.store.get_state(STATE_NAMESPACE)
        for rule, doc in states.items():
            alerts = [Alert.from_doc(key, a) for key, a in doc.get("alerts", {}).items()]
            if rule in names:
                self.alerts.update((a.key, a) for a in alerts)
            elif self.persist:
                orphans[rule] = alerts
        self.last_run = {r.name: max(runs[r.name], now - r.window_ms - CATCH_UP_MS)
                         for r in self.rules if r.name in runs}
        if self.decided is not None and self.persist:
            # A rule removed while its page was in the outbox but not in its state has no
            # state document: the runs name it (it was evaluated before).
            orphans = self._replay(runs, orphans, [r for r in runs if r not in names], now)
        if orphans:
            self._resolve_orphans(orphans, now)

    def _replay(self, runs: dict, orphans: dict[str, list[Alert]], removed: list[str],
                now: int) -> dict[str, list[Alert]]:
        """Bring the restored alerts (and the removed rules' ``orphans``) up to the outbox:
        the decisions made after each rule's last saved run, which a leader killed between
        its outbox and its state write left out of the state (``rules.replay``). Rules so
        changed are unsaved: written by the next pass before it moves the saved runs past
        those records. A rule with such a record was evaluated at its time: its sliding
        windows look back to that run, not to the saved one (judged again, an event paged and
        resolved before the kill fired again). The read goes back at most as far as a restart
        looks back. ``removed``: rules no longer loaded that may have records without a
        state document (resolved as orphans when they do)."""
        windows = {r.name: r.window_ms for r in self.rules}
        after = {rule: max(runs.get(rule, -2**62), now - windows.get(rule, 0) - CATCH_UP_MS)
                 for rule in [*windows, *orphans, *removed]}
        decisions = self._decided_since(after)
        if not decisions:
            return orphans
        for found in decisions.values():  # the rule was evaluated then: its windows judged
            n = found[0]["notification"]
            if n["rule"] in windows:
                self.last_run[n["rule"]] = max(self.last_run.get(n["rule"], n["at_ms"]),
                                               n["at_ms"])
        before = {**self.alerts, **{a.key: a for alerts in orphans.values() for a in alerts}}
        now_alerts = replay.replay(before, decisions)
        changed = {a.rule for k, a in before.items() if now_alerts.get(k) is not a} | {
            a.rule for k, a in now_alerts.items() if k not in before}
        if changed:
            log.warning("restored alert state of rule(s) %s brought up to the outbox: "
                        "decisions their saved state missed (a leader stopped between its "
                        "outbox and state writes)", ", ".join(sorted(changed)))
        self._unsaved |= changed & set(windows)
        self.alerts = {k: a for k, a in now_alerts.items() if a.rule in windows}
        out: dict[str, list[Alert]] = {rule: [] for rule in orphans}
        for a in now_alerts.values():
            if a.rule not in windows:
                out.setdefault(a.rule, []).append(a)
        return out

    def _decided_since(self, after: dict[str, int]) -> dict[str, list[dict]]:
        """Per alert key, its newest decision after its rule's time in ``after``
        (``replay.missed``), the outbox read a page at a time: a rule whose page came back
        full is read on past its last record, so a pass that decided more than a page (500
        alerts to 2 notifiers) is replayed whole, not its newest page alone."""
        decisions: dict[str, list[dict]] = {}
        asked, before = dict(after), {}
        while asked:
            pages = self.decided.of_rules_since(asked, replay.PAGE, before)  # type: ignore[union-attr]
            for rule, found in pages.items():
                replay.missed(found, after[rule], decisions)
            before = {rule: (found[-1]["created_ms"], found[-1]["id"])
                      for rule, found in pages.items() if len(found) >= replay.PAGE}
            asked = {rule: after[rule] for rule in before}
        return decisions

    def reconfigure(self, config: RulesConfig, at_ms: int, *, resolve: bool = True) -> None:
        """Take up reloaded rules, silences and knowledge (hot reload): open alerts of rules
        no longer loaded are resolved and their resolves sent, as after a restart
        (``resolve``: this process evaluates; else ``restore`` does it on taking over)."""
        kinds = {r.type for r in self.rules} | {r.type for r in config.rules}
        self.config, self.rules = config, [r for r in config.rules if r.enabled]
        names = {r.name for r in self.rules}
        for kind in kinds:  # in-process state of removed rules (anomaly models) is let go
            retain = getattr(types.get(kind), "retain", None)
            if retain is not None:
                retain(names)
        self.last_run = {k: v for k, v in self.last_run.items() if k in names}
        self._warned_cut &= names
        self._warned_held &= names
        orphans: dict[str, list[Alert]] = {}
        for key in [k for k, a in self.alerts.items() if a.rule not in names]:
            alert = self.alerts.pop(key)
            orphans.setdefault(alert.rule, []).append(alert)
        if orphans and self.persist and resolve:
            self._resolve_orphans(orphans, at_ms)

    def _resolve_orphans(self, orphans: dict[str, list[Alert]], at_ms: int) -> None:
        history = []
        for rule, alerts in orphans.items():
            for prev in alerts:
                if prev.state != FIRING:
                    continue
                alert = replace(prev, state=RESOLVED, resolved_ms=at_ms, last_eval_ms=at_ms)
                history.append(alert.history(at_ms, reason="rule no longer loaded"))
                to = [n for n in (alert.notified_to or self.config.notify)
                      if n in self.config.notifiers]
                if alert.last_notified_ms is None or not to or self.dispatcher is None:
                    continue
                log.warning("rule %s is no longer loaded: resolving its alert %s %s", rule,
                            alert.key, alert.labels)
                self.dispatcher.submit(to, Notification(
                    action=RESOLVED, rule=rule, key=alert.key, severity=alert.severity,
                    labels=alert.labels, annotations=alert.annotations, value=alert.value,
                    starts_ms=alert.fired_ms or alert.active_since_ms, at_ms=at_ms,
                    expires_ms=at_ms, trace_url=self.trace_url(alert.labels)))
        try:
            self._write_history(history)
        except StoreError as exc:
            # The resolves are decided: raising, a restore decided them again (a second
            # record); the history goes with the next pass's.
            log.error("alert history of the removed rules %s not written, again with the "
                      "next evaluation: %s", sorted(orphans), exc)
        self._unsaved.update(orphans)
        if not self._durable():  # the resolves are not in the outbox yet: keep the state
            return
        try:
            self._save(set(orphans), None, runs=False)
        except StoreError as exc:
            # Their resolves are in the outbox: restoring again would decide them twice.
            log.error("alert state of removed rules %s not deleted, again with the next "
                      "evaluation: %s", sorted(self._unsaved & set(orphans)), exc)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, at_ms: int) -> Outcome:
        due = [r for r in self.rules
               if r.interval_ms is None or at_ms - self.last_run.get(r.name, -2**62) >= r.interval_ms]
        samples, failed, n_queries = self.samples(due, at_ms)
        touched: list[Alert] = []
        history: list[dict] = []
        for rule in due:
            if rule.name in failed:
                self.observed(rule.name, None)
                history.append({"@timestamp": ms_to_iso(at_ms), "rule": rule.name,
                                "state": "eval_failed", "severity": rule.severity,
                                "labels": {}, "error": failed[rule.name]})
                continue
            self.last_run[rule.name] = at_ms
            started = time.perf_counter()
            touched += self._advance(rule, samples[rule.name], at_ms, history)
            self.observed(rule.name, self._spent.get(rule.name, 0.0)
                          + time.perf_counter() - started)
        notified = self._notify(touched, at_ms, history)
        dirty = {a.rule for a in touched if a.moved is not None
                 or any(n.key == a.key for _, n in notified)}
        self._unsaved |= dirty
        durable = self._durable()  # in the outbox before the state says "notified"
        # Nor may the saved last runs move past what only memory holds: after a crash, the
        # windows since then are judged again.
        self._save(self._unsaved if durable else set(), history, runs=durable)
        return Outcome([a for a in touched if a.state != INACTIVE], notified, failed, n_queries)

    def samples(self, due: Sequence[Rule], at_ms: int
                 ) -> tuple[dict[str, list[Sample]], dict[str, str], int]:
        plans = {r.name: self._plan(r, at_ms) for r in due}
        unique = list(dict.fromkeys(q for qs in plans.values() for q in qs))
        started = time.perf_counter()
        results, errors = self._run(unique)
        per_query = (time.perf_counter() - started) / max(1, len(unique))
        out: dict[str, list[Sample]] = {}
        failed: dict[str, str] = {}
        self._spent = {}
        self._cut = set()
        for rule in due:
            qs = plans[rule.name]
            bad = [errors[q] for q in qs if q in errors] if errors else []  # no hashing
            if bad:
                failed[rule.name] = bad[0]
                log.error("rule %s not evaluated: %s", rule.name, bad[0])
                continue
            started = time.perf_counter()
            module, at, answers = types.get(rule.type), at_ms - rule.query_delay_ms, [
                results[q] for q in qs]
            if any(_full(q, rows, rule.max_groups) for q, rows in zip(qs, answers, strict=True)):
                self._cut.add(rule.name)
                if rule.name not in self._warned_cut:
                    self._warned_cut.add(rule.name)
                    log.warning("rule %s: more groups than max_groups (%d); only the largest "
                                "are judged, smaller ones cannot fire: raise max_groups or "
                                "narrow the filter", rule.name, rule.max_groups)
            # Inactive samples of a rule without open alerts change nothing (``_advance``):
            # a type that can tell none would be active more cheaply is not asked for them.
            try:
                out[rule.name] = [] if hasattr(module, "quiet") and not any(
                    a.rule == rule.name for a in self.alerts.values()) and module.quiet(
                    rule, at, answers) else module.evaluate(rule, at, answers)
            except Exception as exc:  # a type's own failure (a model error) fails its rule
                # alone (recorded ``eval_failed``, which pages): escaping, it ended the
                # scheduler's thread, and no rule paged again.
                failed[rule.name] = f"{rule.type} evaluation failed: {type(exc).__name__}: {exc}"
                log.exception("rule %s not evaluated", rule.name)
                continue
            self._spent[rule.name] = time.perf_counter() - started + per_query * len(qs)
        return out, failed, len(unique)

    def _plan(self, rule: Rule, at_ms: int) -> list[MetricQuery]:
        return plan(rule, at_ms, self.last_run.get(rule.name), self.config.interval_ms)

    def _run(self, queries: list[MetricQuery]
             ) -> tuple[dict[MetricQuery, list[MetricRow]], dict[MetricQuery, str]]:
        """Sliding windows that filter alike asked as one (``rules.sharing``), the rest as
        they are; a shared query that fails or comes back full asks its members themselves."""
        if not self.share_windows:  # a backfill: queries come unique, answers as they are
            return self._send(queries)
        asked = sharing.share(queries)
        results, failed = self._send(list(dict.fromkeys(asked.values())))
        out, retry = sharing.answers(asked, results)
        errors = {q: failed[q] for q in queries if asked[q] == q and q in failed}
        more, errors_more = self._send(retry)
        out.update(more)
        errors.update(errors_more)
        return out, errors

    def _send(self, queries: list[MetricQuery]
              ) -> tuple[dict[MetricQuery, list[MetricRow]], dict[MetricQuery, str]]:
        """Batched; a refused batch is retried query by query so one bad rule fails alone.
        A store that does not answer (``StoreUnavailable``: down, or a shard not started yet)
        for a query asked alone fails the whole pass instead: no rule is at fault, none is
        recorded ``eval_failed`` (which pages), and the scheduler runs the pass again at the
        next tick. A batch that does not answer is asked query by query too, so one query the
        store takes for "not ready" cannot stop the others."""
        results: dict[MetricQuery, list[MetricRow]] = {}
        errors: dict[MetricQuery, str] = {}
        for i in range(0, len(queries), BATCH):
            chunk = queries[i:i + BATCH]
            try:
                results.update(zip(chunk, self.store.metrics(chunk), strict=True))
                continue
            except StoreUnavailable:
                if len(chunk) == 1:
                    raise
            except (StoreError, ValueError) as exc:
                if len(chunk) == 1:
                    errors[chunk[0]] = str(exc)
                    continue
            for q in chunk:
                try:
                    results[q] = self.store.metric(q)
                except StoreUnavailable:
                    raise
                except (StoreError, ValueError) as exc:
                    errors[q] = str(exc)
        return results, errors

    def _advance(self, rule: Rule, samples: list[Sample], at_ms: int,
                 history: list[dict]) -> list[Alert]:
        labels_static = dict(rule.labels)
        seen: set[str] = set()
        out = []
        # A quiet group of a rule with no open alert has nothing to advance: most samples of
        # most rules, so their labels and keys are not even computed.
        has_open = any(a.rule == rule.name for a in self.alerts.values())
        for sample in samples:
            if not sample.active and not has_open:
                continue
            labels = {**group_labels(sample.group), **labels_static}
            prev = self._find(rule.name, labels)
            if sample.current is not None and prev is not None and prev.state in (PENDING, FIRING):
                sample = sample.current  # a burst starts an alert; now decides whether it stays
            alert, moved = self._step(rule, prev, sample, labels, at_ms)
            if alert is None:
                continue
            seen.add(alert.key)
            if alert.state == RESOLVED and moved is None:
                self.alerts[alert.key] = alert  # resolved, kept for its flap count: no news
                continue
            if alert.state in (PENDING, FIRING):
                alert.annotations = self.render(rule, alert, ())
            out.append(self._record(alert, moved, at_ms, history))
        unseen = [prev for key, prev in self.alerts.items()
                  if prev.rule == rule.name and key not in seen]
        judged = self._alone(rule, [p for p in unseen if p.state in (PENDING, FIRING)],
                             at_ms) if rule.name in self._cut else {}
        for prev in unseen:
            alone = judged.get(prev.key)
            if alone is False:
                continue  # cut out and not judged alone: held as it is, not resolved
            alert, moved = self._step(rule, prev, alone or None, prev.labels, at_ms)
            if alert is not None and alert.state == RESOLVED and moved is None:
                self.alerts[prev.key] = alert
            elif alert is not None:
                out.append(self._record(alert, moved, at_ms, history))
        return out

    def _alone(self, rule: Rule, alerts: list[Alert], at_ms: int
               ) -> dict[str, Sample | None | bool]:
        """Each open alert's group judged alone (its labels as filters on the rule's own
        queries), by key: a full answer cut it out, which says nothing about its condition,
        and resolving it then would close a page whose condition still holds. None when its
        group has nothing now; False when it was not judged (the alert is held): the store
        refused or did not answer (earlier rules' alerts have already moved in this pass, and
        a ``StoreUnavailable`` escaping here would drop their resolves unsent), or it is past
        the ``ALONE_PER_PASS`` least recently judged. All their queries go in one ``_send``,
        not one round trip per alert.

        A held firing alert's repeat page (the only thing that moves its Alertmanager
        ``endsAt``) waits for its turn; past its last page's expiry, Alertmanager would resolve
        it while its condition holds, and its turn would page it again. So a firing alert whose
        last page expires before the pass after next (``_lapsing``) goes first, the earliest
        expiry first, and up to ``ALONE_PER_PASS`` of them are judged in addition to the
        ``ALONE_PER_PASS`` (by then its repeat is due: ``page_span_ms`` is at least a repeat
        and four intervals). Up to twice ``ALONE_PER_PASS`` lapsing alerts are thus judged the
        pass they are found in, and each stays lapsing two passes (the least recently judged
        first among equal expiries), so as many as four times ``ALONE_PER_PASS`` found
        together are all judged before they expire; past that the pass stays bounded, and the
        lapsing ones held are logged (``_lapse_held``) and counted as held. Only until it
        expires: a page not repeated then (silenced, inhibited) has lapsed anyway, and judging
        it every pass would undo the cap."""
        interval = rule.interval_ms or self.config.interval_ms
        span = page_span_ms(rule, interval)
        lapsing, rest = self._lapsing(alerts, span, interval, at_ms)
        ordered = lapsing + sorted(rest, key=lambda a: (a.last_eval_ms, a.key))
        take = ALONE_PER_PASS + min(len(lapsing), ALONE_PER_PASS)
        asked = {a.key: self._alone_queries(rule, a, at_ms) for a in ordered[:take]}
        out: dict[str, Sample | None | bool] = {a.key: False for a in ordered[take:]}
        if out:
            self.held(rule.name, len(out))
            if rule.name not in self._warned_held:
                self._warned_held.add(rule.name)
                log.warning("rule %s: %d open alerts cut from its full answer (max_groups %d) "
                            "are judged %d an evaluation, the least recently judged first; "
                            "the others are held as they are (midwatch_rule_cut_alerts_held_"
                            "total): raise max_groups or narrow the filter", rule.name,
                            len(ordered), rule.max_groups, ALONE_PER_PASS)
            self._lapse_held(rule, lapsing[take:], span, interval, at_ms)
        try:
            results, errors = self._send(list(dict.fromkeys(
                q for qs in asked.values() for q in qs)))
        except StoreUnavailable as exc:
            log.warning("rule %s: %d open alert(s) could not be judged alone (%s): held",
                        rule.name, len(asked), exc)
            return {**out, **dict.fromkeys(asked, False)}
        evaluate = types.get(rule.type).evaluate
        for a in ordered[:take]:
            qs = asked[a.key]
            if any(q in errors for q in qs):
                out[a.key] = False
                continue
            try:
                samples = evaluate(rule, at_ms - rule.query_delay_ms, [results[q] for q in qs])
            except Exception:  # as in ``samples``: the alert is held, not resolved by it
                log.exception("rule %s: its open alert %s could not be judged alone: held",
                              rule.name, a.labels)
                out[a.key] = False
                continue
            out[a.key] = _sample_of(rule, a.labels, samples)
        return out

    @staticmethod
    def _lapsing(alerts: list[Alert], span: int, interval: int, at_ms: int
                 ) -> tuple[list[Alert], list[Alert]]:
        """The firing alerts whose last page expires before the pass after next, the earliest
        expiry first (then the least recently judged), and the others."""
        lapsing, rest = [], []
        for a in alerts:
            near = (a.state == FIRING and a.last_notified_ms is not None
                    and a.last_notified_ms + span - 2 * interval <= at_ms
                    < a.last_notified_ms + span)
            (lapsing if near else rest).append(a)
        lapsing.sort(key=lambda a: (a.last_notified_ms, a.last_eval_ms, a.key))
        return lapsing, rest

    def _lapse_held(self, rule: Rule, held: list[Alert], span: int, interval: int,
                    at_ms: int) -> None:
        """Warn (once per ``LAPSE_WARN_MS`` and rule) of held lapsing alerts whose last page
        expires before the next pass: Alertmanager resolves them while their condition may
        hold, and their turn pages them again. They are counted with the held ones."""
        late = sum(a.last_notified_ms + span <= at_ms + interval for a in held)
        if not late or at_ms < self._warned_lapse.get(rule.name, -LAPSE_WARN_MS) + LAPSE_WARN_MS:
            return
        self._warned_lapse[rule.name] = at_ms
        log.warning("rule %s: %d firing alert(s) cut from its full answer could not be judged "
                    "before their last page expires (%d near expiry held, %d judged a pass at "
                    "most): Alertmanager resolves them and they page again when judged "
                    "(midwatch_rule_cut_alerts_held_total): raise max_groups or narrow the "
                    "filter", rule.name, late, len(held), 2 * ALONE_PER_PASS)

    def _alone_queries(self, rule: Rule, prev: Alert, at_ms: int) -> list[MetricQuery]:
        """The rule's queries filtered on the alert's group. The group's own values as the
        store holds them (500, True: SQLite compares a number to the text '500' as unequal),
        from the sample that last judged it; after a restart (no sample yet) its labels read
        back by the field's type."""
        labels = prev.labels
        group = prev.sample.group if prev.sample is not None else None
        return [replace(q, filters=(*q.filters, *(
            Filter(f, "eq", group[f] if group is not None and f in group
                   else _as_stored(q.index, f, labels[label_name(f)]))
            for f in q.group_by if label_name(f) in labels)))
                for q in self._plan(rule, at_ms)]

    def _step(self, rule: Rule, prev: Alert | None, sample: Sample | None,
              labels: dict[str, str], at_ms: int) -> tuple[Alert | None, str | None]:
        """One alert through hysteresis and severity bands, the lifecycle and flap detection
        (``sample`` None: its group vanished)."""
        value = None if sample is None else sample.value
        active = sample is not None and sample.active
        if not active and prev is not None and prev.state == FIRING:
            active = bands.holds(rule.bands, value)
        severity = bands.severity(rule.bands, value, rule.severity) if active else (
            prev.severity if prev is not None and prev.state != RESOLVED else rule.severity)
        alert, moved = advance(prev, active, rule=rule, labels=labels, value=value,
                               at_ms=at_ms, severity=severity)
        alert, moved = flapping.damp(rule.flap, prev, alert, moved, active, at_ms)
        if alert is None:
            if prev is not None:
                self.alerts.pop(prev.key, None)  # a resolved alert whose changes expired
            return None, None
        alert.sample = sample
        return alert, moved

    def _find(self, rule: str, labels: dict[str, str]) -> Alert | None:
        return self.alerts.get(dedup_key(rule, labels))

    def _record(self, alert: Alert, moved: str | None, at_ms: int, history: list[dict]) -> Alert:
        alert.moved = moved
        if moved is not None:
            history.append(alert.history(at_ms, **({"state": moved} if moved == flapping.FLAPPING
                                                    else {})))
        if alert.state == INACTIVE or (alert.state == RESOLVED and not alert.flips):
            self.alerts.pop(alert.key, None)
        else:
            self.alerts[alert.key] = alert
        return alert

    # ------------------------------------------------------------------ annotations
    def render(self, rule: Rule, alert: Alert, message_ids: Sequence[str]) -> dict[str, str]:
        values: dict[str, Any] = {
            "rule": rule.name, "severity": alert.severity, "value": alert.value,
            "window": rule.window_ms, "for": rule.for_ms, "message_ids": list(message_ids),
            "trace_url": self.trace_url(alert.labels), "description": rule.description,
            "labels": alert.labels, "example_message": "", "template": "",
            **(alert.sample.context if alert.sample is not None else {}),
        }
        out = {name: tpl.render(values) for name, tpl in rule.annotations}
        if alert.flapping and rule.flap is not None:
            out["flapping"] = (f"changed state more than {rule.flap.max_changes} times in "
                               f"{duration(rule.flap.window_ms)}; held firing until stable")
        # What the value measures travels with every page (days, records, ms, a ratio).
        out.setdefault("unit", values.get("unit") or getattr(types.get(rule.type), "UNIT", ""))
        return out

    def trace_url(self, labels: dict[str, str]) -> str | None:
        if not self.config.external_url:
            return None
        query = {k: labels[k] for k in ("flow", "partner") if labels.get(k)}
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.config.external_url}/api/traces{suffix}"

    def examples(self, rule: Rule, alert: Alert, at_ms: int) -> list[str]:
        """Sample message IDs for a page; a store error costs the examples, not the page.
        The newest example's message text and signature template (``collector.normalize``)
        become the template variables ``example_message`` and ``template``: the new-error
        page quotes the kind of error and one real occurrence, not a hash."""
        sample: Sample | None = alert.sample
        limit = self.config.max_examples
        if sample is None or not limit:
            return []
        module = types.get(rule.type)
        try:
            if hasattr(module, "examples"):
                return module.examples(rule, sample, at_ms, self.store, limit)
            if module.index(rule.spec) != "events":
                return []
            filters = [*rule.filters, *sample.example_filters,
                       *(Filter(f, "eq", v) for f, v in sample.group.items() if v is not None)]
            events = self.store.search_events(filters, at_ms - rule.window_ms, at_ms,
                                              limit=limit * 4)
        except (StoreError, ValueError) as exc:
            log.warning("no sample message IDs for %s: %s", rule.name, exc)
            return []
        if events:
            text = (events[0].error_message or events[0].message).strip().split("\n", 1)[0]
            alert.sample = replace(sample, context={
                **sample.context, "example_message": text[:EXAMPLE_CHARS],
                "template": events[0].labels.get("signature_template")
                or sample.context.get("template", "")})
        ids = dict.fromkeys(e.message_id or (e.ids[0] if e.ids else e.id) for e in events)
        return list(ids)[:limit]

    # ------------------------------------------------------------------ notifications
    def _notify(self, alerts: list[Alert], at_ms: int,
                history: list[dict]) -> list[tuple[str, Notification]]:
        by_name = {r.name: r for r in self.rules}
        firing = [(a.key, {**a.labels, "rule": a.rule, "severity": a.severity})
                  for a in self.alerts.values() if a.state == FIRING]
        silences = self._silences(at_ms) if any(a.state in (FIRING, RESOLVED) for a in alerts) else []
        sent = []
        for alert in alerts:
            rule = by_name[alert.rule]
            full = {**alert.labels, "rule": alert.rule, "severity": alert.severity}
            suppressed = self.suppressed_by(rule, alert.key, full, firing, silences, at_ms)
            action = notification(alert, rule=rule, suppressed=bool(suppressed), at_ms=at_ms)
            if action is None:
                if suppressed and alert.moved == FIRING:
                    history.append(alert.history(at_ms, suppressed_by=suppressed))
                continue
            n = self.notification(rule, alert, action, at_ms)
            names = self.config.notifiers_of(rule)
            if action == RESOLVED and alert.notified_to:
                # Where the page went, though the rule's ``notify`` changed since (reload,
                # restart): the incident is open there, and nowhere else (of those still
                # configured; none left: the rule's own now).
                names = tuple(x for x in alert.notified_to
                              if x in self.config.notifiers or x in names) or names
            if action == FIRING:
                alert.last_notified_ms = at_ms
                alert.notified_as = alert.shown()
                alert.notified_to = tuple(dict.fromkeys((*alert.notified_to, *names)))
            sent += [(name, n) for name in names]
            if self.dispatcher is not None and names:
                self.dispatcher.submit(names, n)
        return sent

    def suppressed_by(self, rule: Rule, key: str, labels: dict[str, str],
                      firing: list[tuple[str, dict[str, str]]], silences: list,
                      at_ms: int) -> str | None:
        for s in silences:
            if matches_all(s.matchers, labels):
                return f"silence {s.id}"
        if inhibited(key, labels, firing, self.config.inhibit):
            return "inhibited"
        if rule.muted(at_ms):
            return "mute window"
        return None

    def _silences(self, at_ms: int) -> list:
        coded = [s for s in self.config.silences if s.active(at_ms)]  # from silence files
        try:
            return Silences(self.store).active(at_ms) + coded
        except StoreError as exc:
            # Better one page too many than a page lost because the silence list was unreadable.
            log.error("cannot read silences, notifying without the CLI-made ones: %s", exc)
            return coded

    def notification(self, rule: Rule, alert: Alert, action: str, at_ms: int) -> Notification:
        ids = tuple(self.examples(rule, alert, at_ms)) if action == FIRING else ()
        annotations = self.render(rule, alert, ids) if action == FIRING else alert.annotations
        if action == FIRING:
            annotations = known_issues.annotate(self.config.knowledge, self.store, rule, alert,
                                                at_ms, annotations)
            alert.annotations = annotations
        interval = rule.interval_ms or self.config.interval_ms
        return Notification(
            action=action, rule=rule.name, key=alert.key, severity=alert.severity,
            labels=alert.labels, annotations=annotations, value=alert.value,
            starts_ms=alert.fired_ms or alert.active_since_ms, at_ms=at_ms,
            expires_ms=at_ms + page_span_ms(rule, interval),
            description=rule.description, message_ids=ids,
            trace_url=self.trace_url(alert.labels),
            generator_url=(f"{self.config.external_url}/rules/{urllib.parse.quote(rule.name)}"
                           if self.config.external_url else None),
        )

    # ------------------------------------------------------------------ persistence
    def _durable(self) -> bool:
        return self.dispatcher is None or self.dispatcher.flush()

    def _write_history(self, history: list[dict]) -> None:
        """Append what earlier writes left owed, then ``history``; refused, all of it stays
        owed (the newest ``HISTORY_OWED``) and the error is raised."""
        owed, self._owed = [*self._owed, *history], []
        if not owed:
            return
        try:
            self.store.append_alert_history(owed)
        except StoreError:
            self._owed = owed[-HISTORY_OWED:]
            if len(owed) > HISTORY_OWED:
                log.error("alert history unwritable: dropped the %d oldest documents waiting "
                          "for the store", len(owed) - HISTORY_OWED)
            raise

    def _save(self, rules: set[str], history: list[dict] | None, *,
              runs: bool = True) -> None:
        """Write the history (with what is owed; None: none now), then the state of ``rules``,
        then, with ``runs``, every rule's last run."""
        if not self.persist:
            return
        # The history first (what a refusal leaves is owed and written before the next pass's);
        # a refused history must not hold the state back: a document the store refuses for
        # good kept every later pass's state and last run unwritten, and a takeover then
        # restored a stale state and paged again.
        if history is not None:
            try:
                self._write_history(history)
            except StoreError as exc:
                log.error("alert history not written (%d document(s) owed, retried next pass): "
                          "%s", len(self._owed), exc)
        for rule in sorted(rules):
            alerts = {k: a.to_doc() for k, a in self.alerts.items() if a.rule == rule}
            self.put_state(STATE_NAMESPACE, rule, {"alerts": alerts} if alerts else None)
            self._unsaved.discard(rule)
        if runs:
            self.put_state(RUNS_NAMESPACE, RUNS_KEY, {"last_run": dict(self.last_run)})


def page_span_ms(rule: Rule, interval_ms: int) -> int:
    """How long a page stays open at the receiver without a repeat (Alertmanager's
    ``endsAt``): two repeats, at least eight intervals, so that one late evaluation does not
    resolve it there."""
    return max(rule.repeat_interval_ms, 4 * interval_ms) * 2


def _full(q: MetricQuery, rows: list[MetricRow], max_groups: int) -> bool:
    """Whether a query grouped under the rule's cap came back with as many groups as it
    allows, so that groups may be missing (a look-back's own cap, ``new_error``'s, is not the
    rule's and is not counted; a backfill's ``Runs`` come from histograms it checks itself)."""
    return isinstance(rows, list) and bool(q.group_by) and q.max_groups == max_groups and len(
        {tuple(r.group.values()) for r in rows}) >= max_groups


def with_examples(engine: Engine, outcome: Outcome, at_ms: int, limit: int = 100) -> list[Alert]:
    """Alerts with sample message IDs rendered into their annotations (``rules eval``/``test``)."""
    by_name = {r.name: r for r in engine.rules}
    out = []
    for i, alert in enumerate(outcome.alerts):
        rule = by_name[alert.rule]
        if alert.state in (PENDING, FIRING) and i < limit:
            ids = engine.examples(rule, alert, at_ms)
            alert = replace(alert, annotations=engine.render(rule, alert, ids))
        out.append(alert)
    return out


def _sample_of(rule: Rule, labels: dict[str, str], samples: list[Sample]) -> Sample | None:
    """The sample of the group with these labels (its ``current`` where a burst has one)."""
    for sample in samples:
        if {**group_labels(sample.group), **dict(rule.labels)} == labels:
            return sample.current or sample
    return None


def _as_stored(index: str, field: str, label: str) -> Any:
    """A group label (text) read back as the store holds the field's values (``typed``);
    the text itself where the field's type does not convert it."""
    try:
        return typed(index, field, label)
    except FieldError:
        return label
