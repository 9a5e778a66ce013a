"""Notification outbox records and the decisions on them, as pure functions.

A notification becomes one record per notifier *before* anything is sent, so a crash, a kill
or a receiver outage loses nothing: whoever evaluates rules next sends what is still pending.
What happens to a record is decided here, from the record, the time and the send's outcome:

- retryable failures (5xx, 429, network) back off exponentially with jitter, capped;
- a 4xx that means "bad payload or credentials" fails the record at once (no retry would
  help, and the self-alert must not wait for the expiry);
- a record still undelivered ``expire_ms`` after it was created expires;
- a resolve whose firing is still pending supersedes both (nothing is sent: this firing never
  reached the receiver), unless that firing may have reached it (``maybe_delivered``: a send
  of it began and ended without the receiver's refusal, e.g. the process died waiting for the
  answer, or the connection broke after the request went out) or an earlier firing of the
  alert since its previous resolve was delivered or may have been (``opened``; the pending
  one is then a repeat): then only the pending firing is dropped and the resolve is sent,
  since an incident the receiver may hold open must be closed (a resolve of an incident it
  never opened is a no-op for PagerDuty, Opsgenie and Alertmanager);
- a resolve whose alert's firings since its previous resolve all ended without reaching the
  receiver (failed, expired or superseded, none maybe delivered) is not sent either
  (``unopened``): a lone "RESOLVED" for a page nobody got is noise in Slack, mail and
  webhooks, and a no-op for the incident tools; the alert history already says the firing
  failed;
- of several pending records saying the same (alert, action), only the newest is sent;
- a finished record (delivered, superseded, expired, failed) is deleted ``retention_ms``
  after it was created (``rules explain`` shows records that long), so the outbox stays
  bounded.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

from rules.notify.base import Notification

STATES = PENDING, DELIVERED, SUPERSEDED, EXPIRED, FAILED = (
    "pending", "delivered", "superseded", "expired", "failed")
FINISHED = (DELIVERED, SUPERSEDED, EXPIRED, FAILED)
LOG_KEEP = 10  # attempts kept on a record, newest last (``rules explain``)


@dataclass(frozen=True, slots=True)
class Policy:
    first_backoff_ms: int = 1_000
    max_backoff_ms: int = 300_000
    expire_ms: int = 24 * 3_600_000
    retention_ms: int = 7 * 24 * 3_600_000


DEFAULT_POLICY = Policy()


def record_id(notifier: str, n: Notification) -> str:
    """Same notifier, alert, action and evaluation time: the same record, so writing it twice
    (a retried write, a second evaluator before fencing caught it) keeps one."""
    text = f"{notifier}\x1f{n.key}\x1f{n.action}\x1f{n.at_ms}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def new_record(notifier: str, n: Notification, now_ms: int) -> dict:
    return {
        "id": record_id(notifier, n), "notifier": notifier, "key": n.key, "rule": n.rule,
        "action": n.action, "state": PENDING, "created_ms": now_ms, "next_ms": now_ms,
        "attempts": 0, "last_error": None, "delivered_ms": None, "log": [],
        "maybe_delivered": False, "notification": notification_doc(n),
    }


def notification_doc(n: Notification) -> dict:
    doc = asdict(n)
    doc["message_ids"] = list(n.message_ids)
    return doc


def notification_of(record: dict) -> Notification:
    doc = dict(record["notification"])
    doc["message_ids"] = tuple(doc.get("message_ids") or ())
    return Notification(**doc)


def backoff_ms(attempts: int, policy: Policy, rand: float | None = None) -> int:
    """Full-range jitter between half and all of the capped exponential delay, so a receiver
    coming back is not hit by every queued page in the same second."""
    base = min(policy.first_backoff_ms * 2 ** max(0, attempts - 1), policy.max_backoff_ms)
    r = random.random() if rand is None else rand
    return int(base * (0.5 + r / 2))


def sending(record: dict) -> dict:
    """The record as written just before a send of it begins: from then on it may reach the
    receiver whatever becomes of this process (``plan`` must not cancel its resolve)."""
    return {**record, "maybe_delivered": True}


def after_attempt(record: dict, *, now_ms: int, error: str | None, retryable: bool,
                  policy: Policy, rand: float | None = None, refused: bool = False,
                  owed: Sequence[str] | None = None, unconfirmed: str | None = None,
                  retry_after_ms: int | None = None) -> dict:
    """The record after one send: delivered, failed for good, expired, or pending again.
    ``record`` is the record as it was before ``sending``; ``refused`` when the receiver
    answered and did not take it (an HTTP status, an SMTP reply), so this attempt delivered
    nothing; any other failure (a timeout, a broken connection) may have delivered it.
    ``owed``: the recipients the next try must still reach when the others took it (e-mail);
    kept on the record, so a restart or another lease holder owes them alone too (None: as
    before). ``unconfirmed``: why a send the receiver accepted (HTTP 202) has no known
    outcome; delivered as far as retries go, but said so on the record and in the history.
    ``retry_after_ms``: the receiver's Retry-After, honoured when longer than the backoff, up
    to the expiry."""
    attempts = record["attempts"] + 1
    answer = error or (f"accepted, unconfirmed: {unconfirmed}" if unconfirmed else "delivered")
    log = [*record["log"], {"at_ms": now_ms, "ok": error is None, "answer": answer}]
    out = {**record, "attempts": attempts, "log": log[-LOG_KEEP:], "last_error": error,
           "maybe_delivered": record.get("maybe_delivered", False) or (
               error is not None and not refused)}
    if owed is not None:
        out["owed"] = list(owed)
    if error is None:
        if unconfirmed:
            out["unconfirmed"] = unconfirmed
        return {**out, "state": DELIVERED, "delivered_ms": now_ms}
    if not retryable:
        return {**out, "state": FAILED}
    expiry = record["created_ms"] + policy.expire_ms
    next_ms = now_ms + backoff_ms(attempts, policy, rand)
    if next_ms >= expiry:
        return {**out, "state": EXPIRED}
    # A Retry-After past the expiry still leaves one last try just before it.
    return {**out, "next_ms": min(max(next_ms, now_ms + (retry_after_ms or 0)), expiry - 1)}


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do now with one notifier's pending records."""

    send: list[dict]
    superseded: list[dict]
    expired: list[dict]


def plan(pending: Sequence[dict], now_ms: int, policy: Policy,
         opened: Collection[str] = ()) -> Plan:
    """Records due now, in creation order (``pending`` is); a resolve and the firings of its
    alert pending before it cancel each other (a firing after it stands), except that a
    resolve goes out when one of those firings may have reached the receiver, or when its
    ``id`` is in ``opened`` (an earlier firing of the alert reached it); of several
    pending records of one alert and action only the newest is sent (a repeat, or the
    same resolve decided again by a new lease holder after the old one was killed between
    writing the outbox and its alert state); records past their expiry expire."""
    last_resolve: dict[str, int] = {}
    first_firing: dict[str, int] = {}
    maybe_open: set[str] = set()  # alerts with a pending firing the receiver may hold
    closing: set[int] = set()  # resolves that go out although a firing before them waits
    newest: dict[tuple[str, str], int] = {}
    for i, r in enumerate(pending):
        newest[(r["key"], r["action"])] = i
        if r["action"] == "resolved":
            last_resolve[r["key"]] = i
            if r["key"] in maybe_open or r["id"] in opened:
                closing.add(i)
        else:
            first_firing.setdefault(r["key"], i)
            if r.get("maybe_delivered"):
                maybe_open.add(r["key"])
    out = Plan([], [], [])
    for i, r in enumerate(pending):
        key = r["key"]
        if (newest[(key, r["action"])] != i  # a newer one says the same: send that one
                or (i < last_resolve.get(key, -1) if r["action"] == "firing"
                    else first_firing.get(key, i) < i and i not in closing)):
            out.superseded.append({**r, "state": SUPERSEDED})
        elif now_ms >= r["created_ms"] + policy.expire_ms:
            out.expired.append({**r, "state": EXPIRED, "last_error": r["last_error"] or "expired"})
        elif r["next_ms"] <= now_ms:
            out.send.append(r)
    return out


def _since_last_resolve(resolve: dict, records: Sequence[dict]) -> tuple[list[dict], bool]:
    """The same notifier's firings of ``resolve``'s alert since its previous resolve among
    ``records`` (the alert's newest, newest first), and whether that previous resolve was
    among them (then these are all the firings since it)."""
    same = [x for x in records if x["notifier"] == resolve["notifier"]
            and x["key"] == resolve["key"] and x["id"] != resolve["id"]
            and x["created_ms"] <= resolve["created_ms"]]
    since = max((x["created_ms"] for x in same if x["action"] == "resolved"), default=None)
    firings = [x for x in same if x["action"] == "firing"
               and (since is None or x["created_ms"] > since)]
    return firings, since is not None


def opened(resolve: dict, records: Sequence[dict]) -> bool:
    """Whether a firing of ``resolve``'s alert since its previous resolve was delivered or
    may have been, among ``records`` (the alert's newest): then the receiver may hold the
    incident, and ``plan`` must send the resolve although a repeat firing still waits."""
    firings, _ = _since_last_resolve(resolve, records)
    return any(x["state"] == DELIVERED or x.get("maybe_delivered") for x in firings)


def unopened(resolve: dict, records: Sequence[dict], *, read_all: bool, now_ms: int,
             policy: Policy) -> bool:
    """Whether ``resolve`` closes nothing the receiver got: the same notifier's firings of
    its alert since the previous resolve exist and none was delivered or may have been.
    Decided only when ``records`` (the alert's newest, newest first) hold that whole
    episode: the previous resolve is among them, or they are all the alert's records
    (``read_all``) or reach back before the episode began, and it began within the
    retention (nothing of it purged). Otherwise a delivered firing may be out of sight
    (an alert re-notified for long), so it is sent, as it always was."""
    firings, bounded = _since_last_resolve(resolve, records)
    starts = resolve["notification"]["starts_ms"]
    whole = bounded or (starts > now_ms - policy.retention_ms and (
        read_all or min((x["created_ms"] for x in records), default=starts) < starts))
    return whole and bool(firings) and all(
        x["state"] in (FAILED, EXPIRED, SUPERSEDED) and not x.get("maybe_delivered")
        for x in firings)
