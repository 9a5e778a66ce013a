"""Assemble a report: one section per subject, each from its own few store aggregations."""

from __future__ import annotations

import time

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
    sections = (
        flows.section(scope),
        *extra,
        errors.section(scope, kb),
        known.section(scope, kb),
        partners.section(scope),
        alerts.section(scope),
        probes.section(scope),
        capacity.section(scope),
    )
    what = []
    if scope.flows:
        what.append(f"flows {', '.join(scope.flows)}")
    if scope.partners:
        what.append(f"partners {', '.join(scope.partners)}")
    return Report(
        title="Integration health report" + (f" ({'; '.join(what)})" if what else ""),
        period_label=scope.period.label, previous_label=scope.prev.label,
        generated=time_label(int(time.time() * 1000)) + " UTC", source=source,
        sections=sections,
    )
