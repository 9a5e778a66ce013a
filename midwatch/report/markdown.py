"""The report as Markdown (for a wiki page or a pull request), charts as PNG files in a
folder beside it (``report.md`` -> ``report_files/``), linked relatively."""

from __future__ import annotations

import re

from midwatch.report import charts
from midwatch.report.model import Report, Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    out = [f"**{t.title}**", ""] if t.title else []
    out.append("| " + " | ".join(map(_cell, t.columns)) + " |")
    out.append("|" + "---|" * len(t.columns))
    out += ["| " + " | ".join(map(_cell, row)) + " |" for row in t.rows]
    return [*out, ""]


def render(report: Report, files_dir: str) -> tuple[str, dict[str, bytes]]:
    """(the Markdown text, image file name -> PNG bytes to write into ``files_dir``)."""
    lines = [f"# {report.title}: {report.period_label}", "",
             f"compared with {report.previous_label} · generated {report.generated} · "
             f"{report.source}", ""]
    images: dict[str, bytes] = {}
    for s in report.sections:
        lines += [f"## {s.title}", ""]
        if s.empty:
            lines += [f"*Nothing to show: {s.empty}.*", ""]
        if s.summary:
            lines += [s.summary, ""]
        for t in s.tables:
            lines += _table(t)
        for c in s.charts:
            name = f"{len(images) + 1:02d}-{re.sub(r'[^a-z0-9]+', '-', c.title.lower()).strip('-')}.png"
            images[name] = charts.png(c)
            lines += [f"![{c.title}]({files_dir}/{name})", ""]
    return "\n".join(lines), images
