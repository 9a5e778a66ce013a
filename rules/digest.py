"""Grouping a notifier's outbox records into digests, as pure functions (Alertmanager's
``group_by`` / ``group_wait`` / ``group_interval``).

A notifier with ``group_by`` sends the pending records whose alerts share those labels as
one message: a group's first digest goes ``group_wait`` after its oldest pending record was
created (so a burst of alerts lands in one post), later ones no sooner than
``group_interval`` after the group's previous digest. Repeats are the rule's
``repeat_interval``: the engine writes a new record, and it joins the group's next digest.

A digest is built *from* outbox records and written back as one batch of outcomes, so the
outbox's guarantees hold: a crash between the post and the write sends that digest again
(at most one duplicate, with the same ``id``: a receiver can drop it), never loses it.

PagerDuty, Opsgenie and Alertmanager keep one incident per alert (Alertmanager groups by
itself), so only Slack, webhook and email notifiers take these keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collector.config_values import Section
from rules.notify.base import Notification

KEYS = ("group_by", "group_wait", "group_interval")
KINDS = ("slack", "webhook", "email")  # notifier types that send digests
RULE = "rule"  # in group_by: the rule's name (Alertmanager's alertname)


@dataclass(frozen=True, slots=True)
class Grouping:
    by: tuple[str, ...]
    wait_ms: int = 30_000
    interval_ms: int = 300_000


@dataclass(frozen=True, slots=True)
class Digest:
    id: str  # the same records give the same id: a resent digest is recognisable
    labels: dict[str, str]  # the group's values of ``group_by``
    records: list[dict]


def parse(s: Section, kind: str) -> Grouping | None:
    """The notifier's grouping, or None (each alert its own message) without ``group_by``."""
    if not s.has("group_by"):
        for key in KEYS[1:]:
            if s.has(key):
                raise s.error(key, "has no effect without group_by", "group_by: [rule, flow]")
        return None
    if kind not in KINDS:
        raise s.error("group_by", f"a {kind} notifier sends one event per alert, no digests",
                      f"group on a {' / '.join(KINDS)} notifier"
                      + (" or in Alertmanager's own route" if kind == "alertmanager" else ""))
    by = s.str_list("group_by", required=True)
    wait = s.duration_ms("group_wait", "30s")
    interval = s.duration_ms("group_interval", "5m", minimum_ms=1000)
    return Grouping(by, wait, interval)


def group_labels(record: dict, g: Grouping) -> dict[str, str]:
    labels = record["notification"]["labels"]
    return {k: record["rule"] if k == RULE else labels.get(k, "") for k in g.by}


def group_key(labels: Mapping[str, str]) -> str:
    return "\x1f".join(f"{k}={v}" for k, v in sorted(labels.items()))


def digest_id(records: Sequence[dict]) -> str:
    text = "\x1f".join(sorted(r["id"] for r in records))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def digest_title(notes: Sequence[Notification], group: dict[str, str]) -> str:
    """``[FIRING:7, RESOLVED:3] rule=o2c-failures flow=o2c``: counts, then the group."""
    counts = {a: sum(n.action == a for n in notes) for a in ("firing", "resolved")}
    head = ", ".join(f"{a.upper()}:{c}" for a, c in counts.items() if c)
    return f"[{head}] " + " ".join(f"{k}={v}" for k, v in group.items())


def due(waiting: Sequence[dict], now_ms: int, g: Grouping,
        last_sent: Mapping[str, int]) -> list[Digest]:
    """The digests to send now from one notifier's pending records (already past
    ``rules.outbox.plan``: nothing superseded or expired), each group's records in creation
    order. ``last_sent``: group key -> when its last digest went out. A group waits for the
    retry time of its earliest record after a failed digest (its records share one)."""
    groups: dict[str, list[dict]] = {}
    for r in waiting:
        groups.setdefault(group_key(group_labels(r, g)), []).append(r)
    out = []
    for key, records in groups.items():
        ready = min(r["created_ms"] for r in records) + g.wait_ms
        if key in last_sent:
            ready = max(ready, last_sent[key] + g.interval_ms)
        if now_ms >= ready and min(r["next_ms"] for r in records) <= now_ms:
            out.append(Digest(digest_id(records), group_labels(records[0], g), list(records)))
    return out
