"""The alert lifecycle as pure functions: inactive -> pending -> firing -> resolved.

An alert is one rule + one set of labels (its dedup key). The engine feeds each evaluation's
samples through ``advance`` and, once it knows what is silenced or inhibited, through
``notification``; both only compute. Persisting the result (``to_doc``) after every change is
what lets a restarted engine carry on without paging again or forgetting an open alert.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from collector.event import ms_to_iso
from rules.schema import Rule

PENDING, FIRING, RESOLVED, INACTIVE = "pending", "firing", "resolved", "inactive"


def dedup_key(rule: str, labels: dict[str, str]) -> str:
    """Stable across restarts and hosts: the same rule and labels always give the same key."""
    text = "\x1f".join([rule, *(f"{k}={v}" for k, v in sorted(labels.items()))])
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


@dataclass(slots=True)
class Alert:
    rule: str
    labels: dict[str, str]
    key: str
    state: str
    severity: str
    active_since_ms: int
    last_eval_ms: int
    value: float | None = None
    fired_ms: int | None = None
    resolved_ms: int | None = None
    last_notified_ms: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    # The notifiers its firing was sent to: a resolve after the rule is gone goes there.
    notified_to: tuple[str, ...] = ()
    # What the last page said (``shown``): a move of severity or into flapping is paged again.
    notified_as: str | None = None
    # Flap detection (``rules/flapping.py``): recent changes of the condition, whether the
    # alert is flapping, and whether it is held firing while its condition does not hold.
    flips: tuple[int, ...] = ()
    flapping: bool = False
    held: bool = False
    # Not persisted, set by the engine each evaluation: the sample behind the alert (None
    # when its group vanished) and the state it moved to in this evaluation (None: stayed).
    sample: Any = field(default=None, compare=False, repr=False)
    moved: str | None = field(default=None, compare=False)

    def to_doc(self) -> dict:
        return {
            "rule": self.rule, "labels": self.labels, "state": self.state,
            "severity": self.severity, "active_since_ms": self.active_since_ms,
            "last_eval_ms": self.last_eval_ms, "value": self.value, "fired_ms": self.fired_ms,
            "resolved_ms": self.resolved_ms, "last_notified_ms": self.last_notified_ms,
            "annotations": self.annotations, "notified_to": list(self.notified_to),
            "notified_as": self.notified_as, "flips": list(self.flips),
            "flapping": self.flapping, "held": self.held,
        }

    @staticmethod
    def from_doc(key: str, d: dict) -> Alert:
        return Alert(
            rule=d["rule"], labels=dict(d["labels"]), key=key, state=d["state"],
            severity=d.get("severity", "warning"), active_since_ms=d["active_since_ms"],
            last_eval_ms=d.get("last_eval_ms", d["active_since_ms"]), value=d.get("value"),
            fired_ms=d.get("fired_ms"), resolved_ms=d.get("resolved_ms"),
            last_notified_ms=d.get("last_notified_ms"),
            annotations=dict(d.get("annotations") or {}),
            notified_to=tuple(d.get("notified_to") or ()),
            # state saved before severity moves were paged: what was paged is its severity
            notified_as=d.get("notified_as", d.get("severity") if d.get("last_notified_ms")
                              else None),
            flips=tuple(d.get("flips") or ()), flapping=bool(d.get("flapping")),
            held=bool(d.get("held")),
        )

    def shown(self) -> str:
        """What a page of this alert says about it: its severity, and whether it flaps."""
        return f"{self.severity} flapping" if self.flapping else self.severity

    def history(self, at_ms: int, **extra: Any) -> dict:
        """An alert history document (index ``alerts``), as the Alerts board reads them; a
        resolve carries how long the alert fired (the report's time to resolve)."""
        doc = {
            "@timestamp": ms_to_iso(at_ms), "rule": self.rule, "state": self.state,
            "severity": self.severity, "value": self.value, "labels": self.labels,
            "dedup_key": self.key, "summary": self.annotations.get("summary", ""), **extra,
        }
        if doc["state"] == RESOLVED and self.fired_ms is not None:
            doc["duration_ms"] = (self.resolved_ms or at_ms) - self.fired_ms
        return doc


def advance(prev: Alert | None, active: bool, *, rule: Rule, labels: dict[str, str],
            value: float | None, at_ms: int, severity: str | None = None
            ) -> tuple[Alert | None, str | None]:
    """(the alert after this evaluation or None when there is nothing to remember, the state
    it moved to or None when it stayed). ``severity``: the alert's now (severity bands,
    ``rules/bands.py``); the rule's when None."""
    severity = severity or rule.severity
    if prev is None or prev.state == RESOLVED:
        if not active:
            return None, None
        state = FIRING if rule.for_ms == 0 else PENDING
        alert = Alert(rule.name, labels, dedup_key(rule.name, labels), state, severity,
                      active_since_ms=at_ms, last_eval_ms=at_ms, value=value,
                      fired_ms=at_ms if state == FIRING else None)
        return alert, state
    alert = replace(prev, last_eval_ms=at_ms, value=value if active else prev.value,
                    severity=severity)
    if prev.state == PENDING:
        if not active:
            return replace(alert, state=INACTIVE), INACTIVE
        if at_ms - prev.active_since_ms >= rule.for_ms:
            return replace(alert, state=FIRING, fired_ms=at_ms), FIRING
        return alert, None
    if not active:  # firing
        return replace(alert, state=RESOLVED, resolved_ms=at_ms), RESOLVED
    return alert, None


def notification(alert: Alert, *, rule: Rule, suppressed: bool, at_ms: int) -> str | None:
    """``firing`` or ``resolved`` when this alert should be sent now, else None.

    A firing alert is sent when first unsuppressed, again every ``repeat_interval``, and when
    what its page says moved (severity, flapping: the same dedup key, so the same incident); a
    resolve is sent only for an alert that was sent, silenced or not, so no page stays open.
    """
    if alert.state == RESOLVED:
        return RESOLVED if rule.send_resolved and alert.last_notified_ms is not None else None
    if alert.state != FIRING or suppressed:
        return None
    last = alert.last_notified_ms
    if last is None or at_ms - last >= rule.repeat_interval_ms or alert.notified_as != alert.shown():
        return FIRING
    return None
