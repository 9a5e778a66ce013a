"""Assemble a report: one section per subject, each from its own few store aggregations."""

from __future__ import annotations

import time

from midwatch.report import alerts, capacity, errors, flows, partners, probes
from midwatch.report.model import Report, Section
from midwatch.report.period import time_label
from midwatch.report.scope import Scope


def build(scope: Scope, source: str, extra: tuple[Section, ...] = (),
          known_issue: errors.KnownIssueOf | None = None) -> Report:
    """``extra``: sections computed elsewhere (service levels, known issues), placed after
    the flows they are about."""
    sections = (
        flows.section(scope),
        *extra,
        errors.section(scope, known_issue),
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
