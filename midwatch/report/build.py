"""Assemble a report: one section per subject, each from its own few store aggregations."""

from __future__ import annotations

import time
from dataclasses import replace

from collector.knowledge import KnowledgeBase
from midwatch.report import alerts, capacity, errors, flows, known, partners, probes
from midwatch.report.model import Report, ReportSection
from midwatch.report.period import time_label
from midwatch.report.scope import Scope


def build(scope: Scope, source: str, extra: tuple[ReportSection, ...] = (),
          kb: KnowledgeBase | None = None) -> Report:
    """``extra``: sections computed elsewhere (service levels), placed after the flows they
    are about; ``kb``: the known issues errors are filed under."""
    kb = kb if kb is not None else KnowledgeBase()
    what = []
    if scope.flows:
        what.append(f"flows {', '.join(scope.flows)}")
    if scope.partners:
        what.append(f"partners {', '.join(scope.partners)}")
    # Sections whose "nothing" explains itself by the collector (not running, no catalog):
    # under a filter that left nothing, they say so instead.
    counted = (flows.section(scope), partners.section(scope), alerts.section(scope),
               probes.section(scope), capacity.section(scope))
    if what:
        counted = tuple(replace(sec, empty=f"nothing matched {' and '.join(what)} in this "
                                          "period") if sec.empty else sec for sec in counted)
    flow_s, partners_s, alerts_s, probes_s, capacity_s = counted
    sections = (flow_s, *extra, errors.section(scope, kb), known.section(scope, kb), partners_s,
                alerts_s, probes_s, capacity_s)
    return Report(
        title="Integration health report" + (f" ({'; '.join(what)})" if what else ""),
        period_label=scope.period.label, previous_label=scope.prev.label,
        generated=time_label(int(time.time() * 1000)) + " UTC", source=source,
        sections=sections,
    )
