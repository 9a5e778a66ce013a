"""Write a built report in one format to a file (the command's and the demo's one way out)."""

from __future__ import annotations

from pathlib import Path

from midwatch.report import html, markdown, pdf
from midwatch.report.model import Report

FORMATS = ("html", "pdf", "md")


def write(report: Report, fmt: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        out.write_text(html.render(report), encoding="utf-8")
    elif fmt == "pdf":
        pdf.render(report, out)
    elif fmt == "md":
        files = out.parent / f"{out.stem}_files"
        text, images = markdown.render(report, files.name)
        files.mkdir(exist_ok=True)
        for name, data in images.items():
            (files / name).write_bytes(data)
        out.write_text(text, encoding="utf-8")
    else:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return out
