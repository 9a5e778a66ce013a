"""The report as one self-contained HTML file: styles inline, charts as PNG data URIs, so
it can be mailed or attached to a ticket and opened anywhere, offline."""

from __future__ import annotations

import base64
from html import escape

from midwatch.report import charts
from midwatch.report.model import Report, ReportSection, Table

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;max-width:1100px;
margin:2em auto;padding:0 1em;font-size:14px}
h1{font-size:22px;margin-bottom:0}h2{font-size:18px;border-bottom:2px solid #0072B2;
padding-bottom:2px;margin-top:1.8em}.meta{color:#666}.empty{color:#666;font-style:italic}
table{border-collapse:collapse;margin:.6em 0;font-size:12px}th,td{border-bottom:1px solid #ddd;
padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f6f9}caption{text-align:left;
font-weight:600;padding:4px 0}img{max-width:100%;display:block;margin:.5em 0}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,img{break-inside:avoid}}
"""


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                   for row in t.rows)
    caption = f"<caption>{escape(t.title)}</caption>" if t.title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(s: ReportSection) -> str:
    parts = [f"<section><h2>{escape(s.title)}</h2>"]
    if s.empty:
        parts.append(f'<p class="empty">Nothing to show: {escape(s.empty)}.</p>')
    if s.summary:
        parts.append(f"<p>{escape(s.summary)}</p>")
    parts += [_table(t) for t in s.tables]
    for c in s.charts:
        data = base64.b64encode(charts.png(c)).decode()
        parts.append(f'<img alt="{escape(c.title)}" src="data:image/png;base64,{data}">')
    return "".join(parts) + "</section>"


def render(report: Report) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(report.title)} {escape(report.period_label)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(report.title)}: {escape(report.period_label)}</h1>"
        f'<p class="meta">compared with {escape(report.previous_label)} · generated '
        f"{escape(report.generated)} · {escape(report.source)}</p>"
        + "".join(_section(s) for s in report.sections)
        + "</body></html>\n"
    )
