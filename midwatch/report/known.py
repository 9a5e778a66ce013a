"""Known issues over a time span: how often each occurred, and the most frequent error
signatures no entry explains yet (candidates for the knowledge base). Shared by
``midwatch known-issues list`` and the report; two aggregations."""

from __future__ import annotations

from dataclasses import dataclass

from collector.knowledge import LABEL, KnowledgeBase
from collector.store.base import Filter, MetricQuery, Store
from midwatch.report.model import Chart, ReportSection, Table
from midwatch.report.scope import Scope, counted

_FIELD = f"labels.{LABEL}"
_FAILED = (Filter("event.outcome", "eq", "failure"), Filter("midwatch.signature", "exists"))
CANDIDATES = 10


@dataclass(frozen=True, slots=True)
class Occurrence:
    id: str
    title: str
    count: int
    fix_status: str


@dataclass(frozen=True, slots=True)
class Candidate:
    signature: str
    template: str
    platform: str
    count: int


def queries(start_ms: int, end_ms: int, extra: tuple[Filter, ...] = ()) -> list[MetricQuery]:
    return [
        MetricQuery("events", start_ms, end_ms, filters=(*extra, Filter(_FIELD, "exists")),
                    group_by=(_FIELD,), max_groups=500),
        MetricQuery("events", start_ms, end_ms,
                    filters=(*extra, *_FAILED, Filter(_FIELD, "exists", negate=True)),
                    group_by=("midwatch.signature", "labels.signature_template",
                              "midwatch.platform"), max_groups=CANDIDATES),
    ]


def summarize(kb: KnowledgeBase, answers: list) -> tuple[list[Occurrence], list[Candidate]]:
    """Every issue of the knowledge base (those that did not occur with 0: maybe fixed), and
    ids found on events but no longer in it; most frequent first."""
    counts = {str(r.group[_FIELD]): r.count for r in answers[0]}
    occ = [Occurrence(k.id, k.title, counts.get(k.id, 0), k.fix_status) for k in kb.issues]
    occ += [Occurrence(i, "(not in the knowledge base)", n, "-") for i, n in counts.items()
            if kb.get(i) is None]
    occ.sort(key=lambda o: (-o.count, o.id))
    cands = [Candidate(str(r.group["midwatch.signature"]),
                       str(r.group["labels.signature_template"]),
                       str(r.group["midwatch.platform"]), r.count) for r in answers[1]]
    return occ, cands


def known_issues(store: Store, kb: KnowledgeBase, start_ms: int, end_ms: int,
                 extra: tuple[Filter, ...] = ()) -> tuple[list[Occurrence], list[Candidate]]:
    return summarize(kb, store.metrics(queries(start_ms, end_ms, extra)))


def section(s: Scope, kb: KnowledgeBase) -> ReportSection:
    occ, cands = summarize(kb, s.run(queries(s.period.start_ms, s.period.end_ms,
                                             s.filters("events"))))
    if not kb and not cands:
        return ReportSection(
            "Known issues",
            empty="no knowledge: files are configured and no failure "
                  "carried an error signature")
    tables = []
    if kb:
        tables.append(Table(("known issue", "title", "occurrences", "fix"), tuple(
            (o.id, o.title, f"{o.count:,}", o.fix_status.replace("_", " ")) for o in occ),
            title="occurrences per known issue"))
    tables.append(Table(("signature", "platform", "message template", "failures"), tuple(
        (c.signature, c.platform, c.template[:90], f"{c.count:,}") for c in cands),
        title="candidates for the knowledge base: frequent failures no entry explains"
              + ("" if cands else ": none")))
    seen = [o for o in occ if o.count]
    charts = (Chart("Occurrences per known issue", "barh", tuple(o.id for o in seen),
                    (("occurrences", tuple(float(o.count) for o in seen)),),
                    ylabel="events"),) if seen else ()
    filed = sum(o.count for o in occ)
    summary = (f"{counted(filed, 'failed event')} {'was' if filed == 1 else 'were'} filed under "
               f"{len(seen)} of {counted(len(kb.issues), 'known issue')}"
               + ("." if kb else " (no knowledge: files configured)."))
    return ReportSection("Known issues", summary, tuple(tables), charts)
