"""What a report is made of, independent of how it is laid out: sections holding tables
(already formatted text) and charts (data plus how to draw it). The HTML, Markdown and PDF
writers read only these, so all three show the same figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Chart:
    """``bar`` (grouped bars, one per series), ``barh`` (one series, long labels) or ``line``
    (series over ``x``, e.g. days). ``None`` values are gaps."""

    title: str
    kind: Literal["bar", "barh", "line"]
    x: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    ylabel: str = ""
    percent: bool = False  # values are 0..1, shown as %


@dataclass(frozen=True, slots=True)
class ReportSection:
    title: str
    summary: str = ""
    tables: tuple[Table, ...] = ()
    charts: tuple[Chart, ...] = ()
    # Why the section has nothing to show (no EDI traffic, no probes configured): printed
    # instead of an empty table, so a reader knows it was looked at.
    empty: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    period_label: str
    previous_label: str
    generated: str
    source: str
    sections: tuple[ReportSection, ...] = field(default_factory=tuple)
