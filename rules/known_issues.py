"""A firing alert's known issue, put into its annotations, so every notifier carries it
without knowing about the knowledge base: ``runbook_url`` becomes PagerDuty's and Opsgenie's
link, Slack's button and a line of the email; the workaround joins ``description``, which
they all show; Alertmanager receives every annotation (``known_issue``,
``known_issue_workaround``, ...) as is.

Which issue: the first entry matching the alert's own labels (a new_error alert carries the
signature); else, for rules over events, the issue most of the group's failed events in the
rule's window were filed under (``labels.known_issue``, set at ingest): one aggregation, only
when an alert fires.
"""

from __future__ import annotations

import logging

from collector.knowledge import LABEL, KnowledgeBase, KnownIssue
from collector.store.base import Filter, MetricQuery, Store, StoreError
from rules import types
from rules.schema import Rule
from rules.state import Alert

log = logging.getLogger("midwatch.rules")
_LABEL_KEYS = {"signature": "signature", "flow": "flow", "platform": "platform",
               "partner": "partner", "error_class": "error_class"}


def issue_of(kb: KnowledgeBase, store: Store, rule: Rule, alert: Alert,
             at_ms: int) -> KnownIssue | None:
    by_labels = {key: alert.labels.get(label) for key, label in _LABEL_KEYS.items()}
    if by_labels["signature"] or by_labels["error_class"]:
        found = kb.match(by_labels, None)
        if found is not None:
            return found
    if types.get(rule.type).index(rule.spec) != "events" or alert.sample is None:
        return None
    group = tuple(Filter(f, "eq", v) for f, v in alert.sample.group.items() if v is not None)
    q = MetricQuery("events", at_ms - rule.window_ms, at_ms,
                    filters=(*rule.filters, *group, Filter(f"labels.{LABEL}", "exists")),
                    group_by=(f"labels.{LABEL}",), max_groups=1)
    try:
        rows = store.metric(q)
    except (StoreError, ValueError) as exc:
        log.warning("no known issue for %s: %s", rule.name, exc)
        return None
    return kb.get(str(rows[0].group[f"labels.{LABEL}"])) if rows and rows[0].count else None


def annotations(issue: KnownIssue, current: dict[str, str]) -> dict[str, str]:
    """The annotations ``current`` gains (or has replaced) from the issue."""
    note = [f"Known issue {issue.id}: {issue.title}."]
    if issue.workaround:
        note.append(f"Workaround: {issue.workaround}")
    out = {"known_issue": f"{issue.id}: {issue.title}"}
    if issue.workaround:
        out["known_issue_workaround"] = issue.workaround
    if issue.fix:
        out["known_issue_fix"] = f"{issue.fix} ({issue.fix_status.replace('_', ' ')}" + (
            f", {issue.fix_ticket})" if issue.fix_ticket else ")")
    if issue.owner:
        out["known_issue_owner"] = issue.owner
    if issue.runbook_url:
        if current.get("runbook_url") and current["runbook_url"] != issue.runbook_url:
            note.append(f"Runbook: {issue.runbook_url}")
        else:
            out["runbook_url"] = issue.runbook_url
    description = current.get("description", "")
    out["description"] = (description + "\n\n" if description else "") + " ".join(note)
    return out


def annotate(kb: KnowledgeBase, store: Store, rule: Rule, alert: Alert, at_ms: int,
             current: dict[str, str]) -> dict[str, str]:
    """``current`` with the alert's known issue added (unchanged when none matches)."""
    if not kb:
        return current
    issue = issue_of(kb, store, rule, alert, at_ms)
    return current if issue is None else {**current, **annotations(issue, current)}
