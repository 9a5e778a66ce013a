"""Decisions the saved alert state missed, read back from the outbox, as pure functions.

The engine writes a pass's notifications to the outbox before its alert state (a state that
says "notified" must never be ahead of the outbox), so the outbox is at least as new as the
state. A leader killed between the two writes leaves records the state does not know: the
new lease holder's workers send them, and without this its first pass, finding the alert as
the old state has it (absent, or firing), would decide the page or the resolve again and send
it a second time. ``replay`` brings the restored alerts up to the outbox instead: the newest
decision per alert after what the state holds wins, so the first pass sees the alert firing
(no new page before ``repeat_interval``) or resolved (no second resolve).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from rules.outbox import EXPIRED, FAILED
from rules.state import FIRING, RESOLVED, Alert

# Outbox records read per rule and request at restore, newest first (a rule's decisions
# since its last saved run: one pass's, or a few when state writes failed for a while). A
# rule with more (a pass paging hundreds of alerts to several notifiers) is read on, page
# after page; only each alert's newest decision is kept (``missed``), so memory is bounded
# by the rule's alerts, not by the records read.
PAGE = 1_000


def missed(records: Iterable[dict], after_ms: int,
           newest: dict[str, list[dict]] | None = None) -> dict[str, list[dict]]:
    """Per alert key, the records of its newest decision (one per notifier) made after
    ``after_ms`` (the rule's last saved run): the evaluation time ``at_ms`` decides, not
    when a record was written. ``newest``: what earlier pages of the outbox gave, added to
    and returned."""
    newest = {} if newest is None else newest
    for r in records:
        at = r["notification"]["at_ms"]
        if at <= after_ms:
            continue
        held = newest.get(r["key"])
        if held is None or at > held[0]["notification"]["at_ms"]:
            newest[r["key"]] = [r]
        elif at == held[0]["notification"]["at_ms"] and r["action"] == held[0]["action"]:
            held.append(r)
    return newest


def _unreached(r: dict) -> bool:
    """The receiver never got this record, nor will: refused for good or expired unsent."""
    return r["state"] in (FAILED, EXPIRED) and not r.get("maybe_delivered")


def replay(alerts: Mapping[str, Alert], decisions: Mapping[str, list[dict]]) -> dict[str, Alert]:
    """``alerts`` (as restored, by key) with each decision of ``decisions`` (``missed``)
    applied where it is newer than what the alert holds (its ``last_eval_ms``): a firing
    makes the alert firing as its page said, notified to the notifiers it went to; a resolve
    resolves it (gone, unless flap detection keeps its changes). A firing none of whose
    records can reach a receiver (failed, expired) is left undecided: the state must not
    claim a page nobody got, so the next pass pages again."""
    out = dict(alerts)
    for key, records in decisions.items():
        first = records[0]
        n = first["notification"]
        prev = out.get(key)
        if prev is not None and prev.last_eval_ms >= n["at_ms"]:
            continue  # the state already holds this decision or a newer one
        if first["action"] == RESOLVED:
            if prev is None:
                continue
            if prev.flips:
                out[key] = replace(prev, state=RESOLVED, resolved_ms=n["at_ms"],
                                   last_eval_ms=n["at_ms"])
            else:
                del out[key]
            continue
        to = tuple(r["notifier"] for r in records if not _unreached(r))
        if not to:
            continue
        severity = n["severity"]
        # the same episode as the restored firing alert: its page went to those notifiers too
        same = prev is not None and prev.state == FIRING and prev.fired_ms == n["starts_ms"]
        base = prev or Alert(n["rule"], dict(n["labels"]), key, FIRING, severity,
                             active_since_ms=n["starts_ms"], last_eval_ms=n["at_ms"])
        out[key] = replace(
            base, state=FIRING, severity=severity, value=n["value"], last_eval_ms=n["at_ms"],
            fired_ms=n["starts_ms"],
            resolved_ms=None, last_notified_ms=n["at_ms"], annotations=dict(n["annotations"]),
            notified_to=tuple(dict.fromkeys((*(prev.notified_to if same and prev else ()), *to))),
            notified_as=f"{severity} flapping" if "flapping" in n["annotations"] else severity)
    return out
