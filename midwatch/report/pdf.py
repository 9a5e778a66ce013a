"""The report as PDF, drawn with matplotlib's PdfPages (already a dependency for the charts:
no HTML engine, no system libraries, same fonts and charts as the HTML).

Pages are 8.26 x 11 in: within A4's width (8.27) and Letter's height, so every page prints unscaled and
uncropped on both papers. Text, tables and charts are laid out top to bottom; a table
longer than the page continues on the next with its header repeated, and a heading never
ends a page alone.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from midwatch.report import charts
from midwatch.report.model import Chart, Report, Table

PAGE_IN = (8.26, 11.0)
MARGIN_IN = 0.55
WIDTH_IN = PAGE_IN[0] - 2 * MARGIN_IN
ROW_IN = 0.19
CHART_IN = 2.9
CHAR_IN = 0.057  # width of a 7 pt DejaVu Sans digit (hex IDs, counts, dates)
TEXT_CHARS = 118  # 8 pt paragraph line


@dataclass
class _Page:
    fig: Figure
    y: float = MARGIN_IN  # inches from the top already used

    def room(self) -> float:
        return PAGE_IN[1] - MARGIN_IN - 0.3 - self.y  # 0.3: the footer

    def fy(self, y_in: float) -> float:
        return 1 - y_in / PAGE_IN[1]


class _Writer:
    def __init__(self, pdf: PdfPages, footer: str):
        self.pdf, self.footer, self.pages = pdf, footer, 0
        self.page: _Page | None = None

    def need(self, height: float) -> _Page:
        """The current page if ``height`` fits on it, else a new one (never an empty page
        left behind: a page is only started for something to put on it)."""
        if self.page is None or (self.page.room() < height and self.page.y > MARGIN_IN):
            self.flush()
            self.page = _Page(Figure(figsize=PAGE_IN))
        return self.page

    def flush(self) -> None:
        if self.page is not None:
            self.pages += 1
            self.page.fig.text(0.5, MARGIN_IN / 2 / PAGE_IN[1], f"{self.footer} · page {self.pages}",
                               ha="center", fontsize=7, color="#666666")
            self.pdf.savefig(self.page.fig)
            self.page = None

    def text(self, text: str, size: float, *, keep: float = 0.0, bold: bool = False,
             color: str = "#222222", chars: int = TEXT_CHARS) -> None:
        lines = textwrap.wrap(text, chars) or [""]
        line_in = size / 72 * 1.45
        page = self.need(len(lines) * line_in + 0.08 + keep)
        for line in lines:
            page.y += line_in
            page.fig.text(MARGIN_IN / PAGE_IN[0], page.fy(page.y), line, fontsize=size,
                          fontweight="bold" if bold else "normal", color=color)
        page.y += 0.08

    def table(self, t: Table) -> None:
        widths = _widths(t)
        rows = list(t.rows)
        first = True
        while first or rows:
            page = self.need((2 + min(len(rows), 3)) * ROW_IN)
            fit = max(1, int((page.room() - 2 * ROW_IN) / ROW_IN))
            chunk, rows = rows[:fit], rows[fit:]
            if t.title:
                page.y += ROW_IN
                page.fig.text(MARGIN_IN / PAGE_IN[0], page.fy(page.y),
                              t.title + ("" if first else " (continued)"), fontsize=7.5,
                              fontweight="bold")
            self._row(page, t.columns, widths, header=True)
            for row in chunk:
                self._row(page, row, widths, header=False)
            page.y += 0.12
            first = False

    def _row(self, page: _Page, cells, widths: list[int], *, header: bool) -> None:
        page.y += ROW_IN
        y = page.fy(page.y)
        if header:
            page.fig.patches.append(_band(page, y))
        x = MARGIN_IN
        for cell, w in zip(cells, widths, strict=True):
            page.fig.text(x / PAGE_IN[0], y + 0.045 / PAGE_IN[1], _fit(str(cell), w), fontsize=7,
                          fontweight="bold" if header else "normal")
            x += w * CHAR_IN + 0.08

    def chart(self, c: Chart) -> None:
        page = self.need(CHART_IN + 0.1)
        top = page.y + 0.05
        ax = page.fig.add_axes((
            (MARGIN_IN + 1.9 * (c.kind == "barh") + 0.45) / PAGE_IN[0],
            1 - (top + CHART_IN - 0.35) / PAGE_IN[1],
            (WIDTH_IN - 1.9 * (c.kind == "barh") - 0.55) / PAGE_IN[0],
            (CHART_IN - 0.7) / PAGE_IN[1],
        ))
        charts.draw(ax, c)
        page.y = top + CHART_IN + 0.1


def _band(page: _Page, y: float):
    from matplotlib.patches import Rectangle

    return Rectangle((MARGIN_IN / PAGE_IN[0], y - 0.03 / PAGE_IN[1]), WIDTH_IN / PAGE_IN[0],
                     ROW_IN / PAGE_IN[1], transform=page.fig.transFigure, color="#e8eef4",
                     zorder=-1)


def _widths(t: Table) -> list[int]:
    """Characters per column: as wide as the widest cell (a bold header counts 12% wider),
    the widest columns narrowed until the row fits the page."""
    widths = [max([round(len(c) * 1.12), *(len(str(r[i])) for r in t.rows)]) + 1
              for i, c in enumerate(t.columns)]
    budget = int((WIDTH_IN - 0.08 * len(widths)) / CHAR_IN)
    while sum(widths) > budget:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    return widths


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def render(report: Report, out: Path) -> int:
    """Write the PDF; returns its page count."""
    footer = f"{report.title} · {report.period_label}"
    with PdfPages(out, metadata={"Title": f"{report.title} {report.period_label}",
                                 "Creator": "midwatch report"}) as pdf:
        w = _Writer(pdf, footer)
        w.text(f"{report.title}: {report.period_label}", 16, bold=True, chars=60)
        w.text(f"compared with {report.previous_label} · generated {report.generated} · "
               f"{report.source}", 8, color="#666666")
        for s in report.sections:
            w.text(s.title, 12.5, bold=True, keep=1.4, chars=80)  # with its summary and first rows
            if s.empty:
                w.text(f"Nothing to show: {s.empty}.", 8, color="#666666")
            if s.summary:
                w.text(s.summary, 8)
            for t in s.tables:
                w.table(t)
            for c in s.charts:
                w.chart(c)
        w.flush()
        return w.pages
