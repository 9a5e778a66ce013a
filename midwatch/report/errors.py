"""Top error signatures: how often, first and last seen, in which of the last
three periods they occurred (three in a row: a root-cause-analysis candidate), and the known
issue they are filed under, when a ``knowledge:`` entry matches them."""

from __future__ import annotations

from collector.knowledge import LABEL, KnowledgeBase
from collector.store.base import Agg, Filter
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.period import previous, short_time_label
from midwatch.report.scope import Scope, by_key

TOP = 10
_FAILED = (Filter("event.outcome", "eq", "failure"), Filter("midwatch.signature", "exists"))
_GROUP = ["midwatch.signature", "labels.signature_template", "midwatch.platform"]


def section(s: Scope, kb: KnowledgeBase) -> ReportSection:
    (top,) = s.run([s.query("events", s.period, filters=_FAILED, group_by=_GROUP,
                            max_groups=TOP)])
    if not top:
        return ReportSection("Top error signatures",
                       empty="no failed event carried an error signature in this period")
    sigs = tuple(r.group["midwatch.signature"] for r in top)
    only = Filter("midwatch.signature", "in", sigs)
    before = previous(s.period)
    before2 = previous(before)
    first, last, p1, p2, filed = s.run([
        *[s.query("events", s.period, agg=Agg(kind, "@timestamp"), filters=[*_FAILED, only],
                  group_by=["midwatch.signature"], max_groups=TOP) for kind in ("min", "max")],
        *[s.query("events", p, filters=[*_FAILED, only], group_by=["midwatch.signature"],
                  max_groups=TOP) for p in (before, before2)],
        # the known issue each signature's events were filed under at ingest
        s.query("events", s.period, filters=[*_FAILED, only, Filter(f"labels.{LABEL}", "exists")],
                group_by=["midwatch.signature", f"labels.{LABEL}"], max_groups=5 * TOP),
    ])
    first_at = {r.group["midwatch.signature"]: r.value for r in first}
    last_at = {r.group["midwatch.signature"]: r.value for r in last}
    in_p1, in_p2 = by_key(p1, "midwatch.signature"), by_key(p2, "midwatch.signature")
    known: dict[str, str] = {}
    for r in filed:  # largest first: a signature's most frequent issue wins
        known.setdefault(r.group["midwatch.signature"], str(r.group[f"labels.{LABEL}"]))
    rows = []
    for r in top:
        sig = r.group["midwatch.signature"]
        template = r.group["labels.signature_template"]
        streak = 1 + (sig in in_p1 and in_p1[sig].count > 0) + (
            sig in in_p1 and sig in in_p2 and in_p2[sig].count > 0)
        ki = known.get(sig)
        if ki is not None and (issue := kb.get(ki)) is not None:
            ki = f"{ki}: {issue.title}"
        rows.append((sig, r.group["midwatch.platform"], _short(template), f"{r.count:,}",
                     _when(first_at.get(sig)), _when(last_at.get(sig)),
                     f"{streak} of 3" + (" · RCA candidate" if streak == 3 else ""),
                     ki or "-"))
    chart = Chart("Failures per signature", "barh", tuple(f"{r[0][:8]} {r[2][:40]}" for r in rows),
                  (("failures", tuple(float(r.count) for r in top)),), ylabel="failures")
    summary = (f"The {len(rows)} most frequent error signatures (platform, error type and the "
               f"message with its variable parts masked). Periods: this one, {before.label} and "
               f"{before2.label}; an error in all three is a root-cause-analysis candidate.")
    return ReportSection("Top error signatures", summary, (Table(
        ("signature", "platform", "message template", "failures", "first seen", "last seen",
         "periods", "known issue"), tuple(rows)),), (chart,))


def _when(ms: float | None) -> str:
    return "-" if ms is None else short_time_label(int(ms))


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
