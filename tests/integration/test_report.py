"""``midwatch report`` from the demo's data in both stores: the same figures from SQLite and
Elasticsearch, an HTML file that stands alone, a PDF whose pages (rendered by poppler's
pdftoppm) are A4-wide, Letter-high and none blank, and empty sections that say why."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from collector.config import load_config
from collector.yamlconf import load
from midwatch.cli import main
from midwatch.demo.run import run_demo
from midwatch.report.period import parse_period, previous, short_time_label
from midwatch.report.run import report_of
from midwatch.report.write import write

NOW_MS = int(datetime(2026, 11, 18, 15, 0, tzinfo=UTC).timestamp() * 1000)
MESSAGES = 120


def _report(config: Path, period: str = "2026-11"):
    """As ``midwatch report`` builds it, with the demo config's SLOs and known issues."""
    p = parse_period(period)
    store = load_config(config).open_store()
    try:
        return report_of(load(config), store, p, previous(p), source="test")
    finally:
        store.close()


def _tables(report) -> dict[str, list]:
    return {s.title: [t.rows for t in s.tables] for s in report.sections}


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory) -> Path:
    return run_demo(tmp_path_factory.mktemp("sqlite"), seed=5, messages=MESSAGES,
                    now_ms=NOW_MS).config


def _row(report, section: str, first_cell: str) -> tuple:
    s = next(s for s in report.sections if s.title == section)
    return next(r for t in s.tables for r in t.rows if r[0] == first_cell)


def test_both_stores_give_the_same_report(sqlite_demo, tmp_path, es_url, es_index_prefix):
    es_config = run_demo(tmp_path / "es", seed=5, messages=MESSAGES, now_ms=NOW_MS, es=es_url,
                         index_prefix=es_index_prefix).config
    from_sqlite, from_es = _report(sqlite_demo), _report(es_config)
    assert _tables(from_sqlite) == _tables(from_es)
    assert [s.empty for s in from_sqlite.sections] == [s.empty for s in from_es.sections]
    # figures from the demo's own traffic: every order is a message of order-to-cash
    flow = _row(from_sqlite, "Flows", "order-to-cash")
    assert flow[1] == f"{MESSAGES} (new)"
    assert float(flow[2].split("%")[0]) > 50
    assert _row(from_sqlite, "EDI partners", "GLOBEX")[6].startswith(
        "5: one or more segments in error")
    probes = next(s for s in from_sqlite.sections if s.title == "Probes")
    assert probes.empty is None and "boomi-orders" in str(probes.tables)
    # time to resolve: each resolve's own duration, percentiles taken by the store
    alerts = [next(s for s in r.sections if s.title == "Alerts") for r in (from_sqlite, from_es)]
    assert alerts[0].summary == alerts[1].summary
    # first and last seen: the signature's first and last failure, to the minute
    for sig, *_, first, last, _, _ in _tables(from_sqlite)["Top error signatures"][0]:
        times = _rows(sqlite_demo, "SELECT min(ts), max(ts) FROM events WHERE "
                      "json_extract(doc, '$.midwatch.signature') = ? AND "
                      "json_extract(doc, '$.event.outcome') = 'failure'", sig)
        assert (first, last) == tuple(short_time_label(t) for t in times[0]), sig
    durations = sorted(h["duration_ms"] for h in _history(sqlite_demo) if h["state"] == "resolved")
    assert durations and all(d > 0 for d in durations)
    median = durations[(len(durations) - 1) // 2] // 1000
    assert (f"Time to resolve over {len(durations)} resolved alerts: median "
            f"{median // 60}m{median % 60:02d}s") in alerts[0].summary


def _history(config: Path) -> list[dict]:
    """The alert history documents as the rules engine wrote them."""
    import orjson
    return [orjson.loads(doc) for (doc,) in _rows(config, "SELECT doc FROM alerts")]


def _rows(config: Path, sql: str, *args) -> list[tuple]:
    """Rows of the demo's SQLite store, read directly (not through the code under test)."""
    import sqlite3

    store = load_config(config).open_store()
    store.close()
    db = sqlite3.connect(store.path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def test_html_stands_alone_and_holds_every_chart(sqlite_demo, tmp_path):
    report = _report(sqlite_demo)
    html = write(report, "html", tmp_path / "r.html").read_text()
    charts = sum(len(s.charts) for s in report.sections)
    assert charts >= 6
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', html)) == charts
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from elsewhere
    for s in report.sections:
        assert f"<h2>{s.title}</h2>" in html


def test_pdf_pages_fit_a4_and_letter_and_none_is_blank(sqlite_demo, tmp_path):
    assert shutil.which("pdftoppm"), "pdftoppm missing: apt-get install poppler-utils"
    pdf = write(_report(sqlite_demo), "pdf", tmp_path / "r.pdf")
    subprocess.run(["pdftoppm", "-r", "72", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 3 <= len(pages) <= 12
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    assert f"Pages:           {len(pages)}" in info
    width, height = map(float, re.search(r"Page size: +([\d.]+) x ([\d.]+) pts", info).groups())
    assert width <= 595.28 and height <= 792  # fits A4 (595.28 x 841.89) and Letter (612 x 792)
    for page in pages:
        img = Image.open(page).convert("L")
        dark = sum(img.histogram()[:200])
        # more than a footer: a page holding only its page number would be ~0.1 % ink
        assert dark / (img.size[0] * img.size[1]) > 0.01, f"{page.name} is (nearly) blank"


def test_markdown_links_its_charts(sqlite_demo, tmp_path):
    out = write(_report(sqlite_demo), "md", tmp_path / "r.md")
    links = re.findall(r"!\[[^]]+\]\((r_files/[^)]+\.png)\)", out.read_text())
    assert links and all((tmp_path / link).stat().st_size > 1000 for link in links)


def test_empty_period_says_why_in_every_section(sqlite_demo, tmp_path, capsys):
    out = tmp_path / "empty.html"
    assert main(["report", "--period", "2020-Q1", "--format", "html", "--out", str(out),
                 "-c", str(sqlite_demo)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    report = _report(sqlite_demo, "2020-01")
    # SLOs and known issues are configured: they show their zeros; the rest says why
    configured = {"Service levels", "Known issues"}
    assert [s.title for s in report.sections if not s.empty] == [
        s.title for s in report.sections if s.title in configured]
    slo = next(s for s in report.sections if s.title == "Service levels")
    assert {r[4] for r in slo.tables[0].rows} == {"0"}
    assert "no EDI traffic in this period" in out.read_text()


def test_cli_refuses_a_bad_period(sqlite_demo, tmp_path, capsys):
    assert main(["report", "--period", "Nov", "--out", str(tmp_path / "x.html"),
                 "-c", str(sqlite_demo)]) == 2
    assert "expected a month like 2026-11" in capsys.readouterr().err


def test_demo_prints_its_report(tmp_path, capsys):
    assert main(["demo", "--messages", "40", "--workdir", str(tmp_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("health report"))
    paths = [Path(p) for p in line.removeprefix("health report: ").split(" and ")]
    assert [p.suffix for p in paths] == [".html", ".pdf"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_quarter_compares_its_months(sqlite_demo):
    report = _report(sqlite_demo, "2026-Q4")
    assert (report.period_label, report.previous_label) == ("2026-Q4", "2026-Q3")
    flows = next(s for s in report.sections if s.title == "Flows")
    by_month = flows.tables[1]
    assert by_month.columns == ("flow", "2026-10", "2026-11", "2026-12")
    row = next(r for r in by_month.rows if r[0] == "order-to-cash")
    assert row[1] == row[3] == "-" and row[2].startswith(f"{MESSAGES} · ")


def test_slo_and_known_issue_sections_from_the_demo_config(sqlite_demo):
    report = _report(sqlite_demo)
    slo = next(s for s in report.sections if s.title == "Service levels")
    assert [r[0] for r in slo.tables[0].rows] == ["order-to-cash-sla", "edi-850-acknowledged"]
    known = next(s for s in report.sections if s.title == "Known issues")
    issues = {r[0]: int(r[2]) for r in known.tables[0].rows}
    assert set(issues) == {"KI-1", "KI-2", "KI-3"} and all(issues.values())
    errors = next(s for s in report.sections if s.title == "Top error signatures")
    assert any(r[7].startswith("KI-1: ") for r in errors.tables[0].rows)



def test_flows_and_partners_narrow_every_section(sqlite_demo):
    p = parse_period("2026-11")
    store = load_config(sqlite_demo).open_store()
    try:
        edi = report_of(load(sqlite_demo), store, p, previous(p), flows=("edi-850-outbound",))
        globex = report_of(load(sqlite_demo), store, p, previous(p), partners=("GLOBEX",))
    finally:
        store.close()
    assert [r[0] for r in next(s for s in edi.sections if s.title == "Flows").tables[0].rows] \
        == ["edi-850-outbound"]
    assert "flows edi-850-outbound" in edi.title
    errors = next(s for s in edi.sections if s.title == "Top error signatures")
    assert {r[1] for r in errors.tables[0].rows} == {"edi"}
    partners = next(s for s in globex.sections if s.title == "EDI partners")
    assert [r[0] for r in partners.tables[0].rows] == ["GLOBEX"]
    # service levels: the flow's objectives only; alerts: those fired for the flow/partner
    assert [r[0] for r in _section(edi, "Service levels").tables[0].rows] == ["edi-850-acknowledged"]
    assert {r[0] for r in _section(edi, "Alerts").tables[0].rows} == {
        "new-error-signature", "flow-silent", "stuck-messages"}
    assert [r[0] for r in _section(globex, "Alerts").tables[0].rows] == ["edi-rejected-interchanges"]
    assert "--partners does not narrow them" in _section(globex, "Service levels").summary


def _section(report, title: str):
    return next(s for s in report.sections if s.title == title)


def test_a_filter_that_matches_nothing_says_so(sqlite_demo):
    """Empty sections under --flows/--partners blame the filter, not the collector."""
    p = parse_period("2026-11")
    store = load_config(sqlite_demo).open_store()
    try:
        report = report_of(load(sqlite_demo), store, p, previous(p), source="test",
                           flows=("order-to-cash",), partners=("NOBODY",))
    finally:
        store.close()
    empty = {s.title: s.empty for s in report.sections if s.empty}
    assert empty["Flows"] == "nothing matched flows order-to-cash and partners NOBODY in this period"
    assert "collector running" not in str(empty) and "no events were collected" not in str(empty)
