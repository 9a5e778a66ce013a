"""Sending from the notification outbox: the engine's sink and one worker per notifier.

The engine ``submit``s notifications and ``flush``es once per evaluation: each becomes one
outbox record per notifier in the store (one write) before the evaluation's alert state is
saved, so a process killed at any point leaves either the record (sent by whoever evaluates
next) or the old state (the alert fires again). Each notifier's worker reads its pending
records, decides with ``rules.outbox.plan`` and writes every outcome back (a notifier with
``group_by`` sends them as digests, ``rules.digest``: one post, one write of its records), so one
destination's outage delays no other, and no failure is forgotten: a retry is a record
waiting for its ``next_ms``, not a thread sleeping in memory.

Delivery is fenced: a worker sends only while ``fence()`` holds (the evaluator lease), so a
process that lost its lease sends nothing more, and the new holder carries on from the
records.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from collector.store.base import StoreError
from collector.store.paging import Deposed, Fence, OutboxStore
from rules import digest, outbox
from rules.notify.base import Notification, Notifier, SendError, Unconfirmed, history_doc

log = logging.getLogger("midwatch.rules.notify")

BATCH = 200  # pending records read per notifier and pass
# ... for a notifier with group_by: a group's digest lists what one pass read of it, and
# what did not fit waits group_interval, so a burst must fit (one read page of the store).
DIGEST_BATCH = 1_000
FLUSH_AT = 500  # submitted records written at once
# Consecutive failed attempts after which each further one is recorded as ``notify_retry``
# in the alert history, which the pack rule "midwatch-notifier-failing" counts.
RETRY_REPORTED_FROM = 3
SUMMARY_TTL_S = 5.0
SWEEP_EVERY_MS = 60_000  # finished outbox records past the retention are deleted this often
SWEEP_BATCH = 1_000  # at most this many per sweep (a full sweep is followed by another)
# Groups whose last digest still holds back the next (sent within group_interval) that are
# remembered per notifier; beyond it the oldest is forgotten (its next digest may come early).
MAX_GROUPS = 10_000
# An alert's newest outbox records read to find whether a resolve's firing reached the
# receiver; an episode longer than these (no previous resolve among them) gets its resolve
# sent, as before.
UNOPENED_LOOKBACK = 500


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Delivery:
    def __init__(self, notifiers: Sequence[Notifier], box: OutboxStore,
                 record: Callable[[list[dict]], None], *, policy: outbox.Policy = outbox.DEFAULT_POLICY,
                 fence: Callable[[], bool] = lambda: True, poll_s: float = 1.0,
                 max_buffered: int = 10_000, clock: Callable[[], int] = now_ms,
                 grouping: Mapping[str, digest.Grouping] | None = None,
                 writes_under: Callable[[], Fence | None] = lambda: None,
                 refused: Callable[[str], None] = lambda what: None):
        self.notifiers = {n.name: n for n in notifiers}
        self.grouping = dict(grouping or {})
        # notifier -> group key -> when its last digest went out. In memory only: after a
        # restart or a takeover a group's next digest waits group_wait, not group_interval.
        self.last_digest: dict[str, dict[str, int]] = {name: {} for name in self.notifiers}
        self.box = box
        self.record = record
        self.policy = policy
        self.fence = fence
        self.writes_under = writes_under  # the lease's fence on every outbox write
        self.refused = refused
        self.poll_s = poll_s
        self.max_buffered = max_buffered
        self.clock = clock
        self.buffer: list[dict] = []
        self.lock = threading.Lock()
        # One per worker: a wake one worker consumes must not be lost to the others.
        self.wakes = {name: threading.Event() for name in self.notifiers}
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(name,), daemon=True,
                                         name=f"notify-{name}") for name in self.notifiers]
        self.counted: Callable[[str, str, str], None] = lambda notifier, action, result: None
        self.digested: Callable[[str, str], None] = lambda notifier, result: None
        self.writes = 0  # outbox writes so far: /metrics reads the summary again after one
        self.swept_at: int | None = None  # last sweep that left nothing past the retention
        self.purged: Callable[[int], None] = lambda n: None

    # ------------------------------------------------------------------ the engine's side
    def submit(self, names: Sequence[str], n: Notification) -> None:
        now = self.clock()
        with self.lock:
            self.buffer += [outbox.new_record(name, n, now) for name in names]
            full = len(self.buffer) >= FLUSH_AT
        if full:  # a tick firing thousands of alerts writes them in chunks, not all held
            self.flush()

    def flush(self) -> bool:
        """Write what was submitted: whether all of it is in the store. On a store error it
        stays buffered for the next flush (the newest ``max_buffered``: memory stays bounded
        through a long store outage) and the engine holds back the state that says those
        alerts were notified."""
        with self.lock:
            records, self.buffer = self.buffer, []
        if not records:
            return True
        try:
            self._put(records)
        except Deposed as exc:  # the next holder decides again from the alert state
            log.error("dropped %d notifications: %s", len(records), exc)
            return True  # nothing of it will be written: the state write is refused too
        except StoreError as exc:
            log.error("cannot write %d notifications to the outbox, kept for the next try: %s",
                      len(records), exc)
            with self.lock:
                self.buffer[:0] = records
                lost = len(self.buffer) - self.max_buffered
                if lost > 0:
                    del self.buffer[:lost]
                    log.error("notification outbox unwritable: dropped the %d oldest "
                              "notifications waiting for the store", lost)
            return False
        self._wake()
        return True

    def _wake(self) -> None:
        for event in self.wakes.values():
            event.set()

    # ------------------------------------------------------------------ workers
    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.flush()
        self.stopping.set()
        self._wake()
        deadline = time.monotonic() + timeout_s
        for t in self.threads:
            if t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))

    def _run(self, name: str) -> None:
        while not self.stopping.is_set():
            full = False
            try:
                if self.fence():
                    full = self.deliver(name) >= BATCH
                    self._sweep_when_due()
            except StoreError as exc:
                log.error("notifier %s: cannot read or update the outbox: %s", name, exc)
            except Exception:  # a notifier or store bug must not end its worker
                log.exception("notifier %s: delivery pass failed", name)
            if not full:  # a whole batch sent: more may be due, go on at once
                self.wakes[name].wait(self.poll_s)
                self.wakes[name].clear()

    def deliver(self, name: str) -> int:
        """One pass over a notifier's pending records: how many it tried to send."""
        # The search finds candidates; their real-time copies decide (a search may lag).
        found = self.box.pending(name, DIGEST_BATCH if name in self.grouping else BATCH)
        pending = [r for r in self.box.current([r["id"] for r in found])
                   if r["state"] == outbox.PENDING]
        if not pending:
            return 0
        now = self.clock()
        history = self._alert_records(pending)
        opened = {r["id"] for r in pending if r["action"] == "resolved"
                  and outbox.opened(r, history[(r["rule"], r["key"])])}
        step = self._without_unopened(outbox.plan(pending, now, self.policy, opened),
                                      history, now)
        if step.superseded or step.expired:
            self._put(step.superseded + step.expired)
        for r in step.superseded:
            self._outcome(r, "superseded", "notify_superseded")
        for r in step.expired:
            log.error("notifier %s: giving up on %s %s, expired undelivered after %d "
                      "attempt(s): %s", name, r["action"], r["rule"], r["attempts"],
                      r["last_error"])
            self._outcome(r, "expired", "notify_expired")
        grouping = self.grouping.get(name)
        if grouping is not None:
            done = {r["id"] for r in step.superseded + step.expired}
            return self._send_digests(name, grouping, [r for r in pending if r["id"] not in done])
        sent = 0
        for r in step.send:
            if self.stopping.is_set() or not self.fence():
                break
            # Marked one by one, after the fence: a batch marked at once and then cut short
            # (the lease lost mid-pass) left firings marked but never sent, and once their
            # resolve was decided the plan sent the resolve alone: the page was lost.
            self._mark_sending([r])
            self._put([self._attempt(self.notifiers[name], r)])
            sent += 1
        return sent

    def _alert_records(self, pending: Sequence[dict]) -> dict[tuple[str, str], list[dict]]:
        """The newest records of each alert with a pending resolve, newest first: all read
        at once (``of_alerts``: on Elasticsearch one ``_msearch`` per 100 alerts, where one
        search per alert cost 1.9-8.0 s a pass at 200 resolves)."""
        alerts = dict.fromkeys((r["rule"], r["key"]) for r in pending if r["action"] == "resolved")
        return self.box.of_alerts(list(alerts), UNOPENED_LOOKBACK) if alerts else {}

    def _without_unopened(self, step: outbox.Plan, history: Mapping[tuple[str, str], list[dict]],
                          now: int) -> outbox.Plan:
        """``step`` with the resolves of alerts whose firing never reached the receiver
        moved to superseded (``rules.outbox.unopened``)."""
        drop = set()
        for r in step.send:
            if r["action"] == "resolved":
                seen = history[(r["rule"], r["key"])]
                if outbox.unopened(r, seen, read_all=len(seen) < UNOPENED_LOOKBACK, now_ms=now,
                                   policy=self.policy):
                    drop.add(r["id"])
        if not drop:
            return step
        return outbox.Plan([r for r in step.send if r["id"] not in drop],
                           step.superseded + [
                               {**r, "state": outbox.SUPERSEDED,
                                "last_error": "its firing never reached the receiver"}
                               for r in step.send if r["id"] in drop], step.expired)

    def _mark_sending(self, records: Sequence[dict]) -> None:
        """Record, in one write before they go out, that these firings may reach the
        receiver: if this process dies before it hears the answer, whoever carries on must
        still send their resolve (``rules.outbox.plan``). Resolves need no mark: nothing
        cancels against them."""
        firings = [outbox.sending(r) for r in records
                   if r["action"] != "resolved" and not r.get("maybe_delivered")]
        if firings:
            self._put(firings)

    def _sweep_when_due(self) -> None:
        with self.lock:
            now = self.clock()
            if self.swept_at is not None and now - self.swept_at < SWEEP_EVERY_MS:
                return
            self.swept_at = now  # claimed: the other workers skip this round
        if self.sweep() == SWEEP_BATCH:
            self.swept_at = None  # more are due: the next pass sweeps again

    def sweep(self, limit: int = SWEEP_BATCH) -> int:
        """Delete finished records older than the retention (only while fenced in): how many."""
        if not self.fence():
            return 0
        n = self.box.purge(outbox.FINISHED, self.clock() - self.policy.retention_ms, limit)
        if n:
            self.writes += 1
            self.purged(n)
            log.info("deleted %d finished notification records older than %d h from the outbox",
                     n, self.policy.retention_ms // 3_600_000)
        return n

    def _put(self, records: list[dict]) -> None:
        try:
            self.box.put(records, self.writes_under())
        except Deposed:
            self.refused("outbox")
            raise
        self.writes += 1

    def _send_digests(self, name: str, grouping: digest.Grouping, waiting: list[dict]) -> int:
        """Send the groups that are due, each as one post whose records are then written in
        one batch (all delivered, or all waiting for one retry time): a crash in between
        sends that digest again, never loses it. How many records went out."""
        notifier = self.notifiers[name]
        sent_at = self.last_digest[name]
        now = self.clock()
        for key in [k for k, t in sent_at.items() if now - t >= grouping.interval_ms]:
            del sent_at[key]  # no longer holds anything back
        sent = 0
        for d in digest.due(waiting, now, grouping, sent_at):
            for owed, records in _by_owed(d.records).items():
                if self.stopping.is_set() or not self.fence():
                    return sent
                # Records some recipients already have go to the others alone (e-mail).
                d_id = d.id if len(records) == len(d.records) else digest.digest_id(records)
                notes = [outbox.notification_of(r) for r in records]
                self._mark_sending(records)
                send = partial(notifier.send_digest, d_id, d.labels, notes)
                failure = self._call(notifier, partial(send, owed=owed) if owed else send)
                at, rand = self.clock(), random.random()
                after = [_after(r, failure, at, self.policy, rand) for r in records]
                self._put(after)
                ok = not isinstance(failure, SendError)
                self.digested(name, "delivered" if ok else "failed")
                if ok:
                    sent_at[digest.group_key(d.labels)] = at
                    while len(sent_at) > MAX_GROUPS:
                        del sent_at[next(iter(sent_at))]
                for r in after:
                    self._report(notifier.name, r, failure)
                sent += len(records)
        return sent

    def _attempt(self, notifier: Notifier, r: dict) -> dict:
        n = outbox.notification_of(r)
        owed = r.get("owed")
        failure = self._call(notifier, partial(notifier.send, n, owed=tuple(owed))
                             if owed else partial(notifier.send, n))
        after = _after(r, failure, self.clock(), self.policy)
        self._report(notifier.name, after, failure)
        return after

    @staticmethod
    def _call(notifier: Notifier, send: Callable[[], object]) -> SendError | Unconfirmed | None:
        """The failure of one send, ``Unconfirmed``, or None when it was delivered."""
        try:
            answer = send()
        except SendError as exc:
            return exc
        except Exception as exc:  # a notifier bug: retried, as the fix may be deployed
            log.exception("notifier %s failed", notifier.name)
            return SendError(f"{type(exc).__name__}: {exc}", retryable=True)
        return answer if isinstance(answer, Unconfirmed) else None

    def _report(self, name: str, after: dict, failure: SendError | Unconfirmed | None) -> None:
        """Log, count and record one record's outcome in the alert history."""
        state = after["state"]
        error = str(failure) if isinstance(failure, SendError) else None
        if isinstance(failure, SendError) and failure.lost and state == outbox.PENDING:
            # Refused for good for some recipients while the others are retried: say so now
            # (``notify_failed`` pages the fallback), not only when the retries end. Counted
            # apart from "failed": the record itself still ends delivered, failed or expired.
            log.error("notifier %s: %s %s will not reach %s: %s", name, after["action"],
                      after["rule"], ", ".join(failure.lost), error)
            self._outcome(after, "recipients_lost", "notify_failed")
        if state == outbox.DELIVERED and after.get("unconfirmed"):
            log.warning("notifier %s: %s", name, after["unconfirmed"])
            self._outcome(after, "unconfirmed", "notify_unconfirmed")
        elif state == outbox.DELIVERED:
            self._outcome(after, "delivered", "notified")
        elif state == outbox.PENDING:
            log.warning("notifier %s: %s; retry %d in %.1f s", name, error,
                        after["attempts"], (after["next_ms"] - self.clock()) / 1000)
            self._outcome(after, "retry",
                          "notify_retry" if after["attempts"] >= RETRY_REPORTED_FROM else None)
        else:
            log.error("notifier %s: giving up on %s %s after %d attempt(s): %s", name,
                      after["action"], after["rule"], after["attempts"], error)
            self._outcome(after, "failed" if state == outbox.FAILED else "expired",
                          "notify_failed" if state == outbox.FAILED else "notify_expired")

    def _outcome(self, r: dict, result: str, history_state: str | None) -> None:
        self.counted(r["notifier"], r["action"], result)
        if history_state is None:
            return
        n = outbox.notification_of(r)
        doc = history_doc(n, history_state, self.clock(), r["notifier"])
        doc["notifier_type"] = self.notifiers[r["notifier"]].kind
        doc["attempts"] = r["attempts"]
        if r.get("unconfirmed") and history_state == "notify_unconfirmed":
            doc["error"] = r["unconfirmed"]
        elif r["last_error"] and history_state != "notified":
            doc["error"] = r["last_error"]
        try:
            self.record([doc])
        except Exception as exc:
            log.error("cannot record %s of %s in alert history: %s", history_state, r["rule"], exc)

    # ------------------------------------------------------------------ /metrics
    def expose(self, registry) -> None:
        total = registry.counter("midwatch_notifications_total",
                                 "Notification outcomes: delivered, unconfirmed, retry, failed, "
                                 "expired, superseded; recipients_lost (some e-mail "
                                 "recipients refused for good, the record still going)", ("notifier", "action", "result"))
        self.counted = lambda notifier, action, result: total.inc(notifier, action, result)
        digests = registry.counter("midwatch_notification_digests_total",
                                   "Digests (group_by) sent or failed", ("notifier", "result"))
        self.digested = lambda notifier, result: digests.inc(notifier, result)
        purged = registry.counter("midwatch_notification_outbox_purged_total",
                                  "Finished outbox records deleted after the retention")
        self.purged = lambda n: purged.inc(by=n)
        records = registry.gauge("midwatch_notification_outbox",
                                 "Outbox records by notifier and state", ("notifier", "state"))
        oldest = registry.gauge("midwatch_notification_oldest_undelivered_seconds",
                                "Age of the oldest undelivered notification", ("notifier",))
        cache = {"at": 0.0, "writes": -1}

        def collect() -> None:
            if (cache["writes"] == self.writes
                    and time.monotonic() - cache["at"] < SUMMARY_TTL_S):
                return
            cache["at"], cache["writes"] = time.monotonic(), self.writes
            try:
                counts, first = self.box.summary()
            except StoreError as exc:
                log.warning("outbox summary for /metrics unavailable: %s", exc)
                return
            now = self.clock()
            for name in self.notifiers:
                for state in outbox.STATES:
                    records.set(counts.get((name, state), 0), name, state)
                oldest.set((now - first[name]) / 1000 if name in first else 0, name)

        registry.on_collect(collect)


def _after(r: dict, failure: SendError | Unconfirmed | None, at_ms: int,
           policy: outbox.Policy, rand: float | None = None) -> dict:
    if not isinstance(failure, SendError):
        return outbox.after_attempt(r, now_ms=at_ms, error=None, retryable=False, policy=policy,
                                    rand=rand, unconfirmed=failure and failure.why)
    return outbox.after_attempt(r, now_ms=at_ms, error=str(failure),
                                retryable=failure.retryable, policy=policy, rand=rand,
                                refused=failure.refused, owed=failure.owed,
                                retry_after_ms=failure.retry_after_ms)


def _by_owed(records: Sequence[dict]) -> dict[tuple[str, ...], list[dict]]:
    """A digest's records by the recipients they are still owed to (() for everyone)."""
    out: dict[tuple[str, ...], list[dict]] = {}
    for r in records:
        out.setdefault(tuple(r.get("owed") or ()), []).append(r)
    return out
