"""Open the configured store, build the report and write it: what ``midwatch report`` and
``midwatch demo`` share."""

from __future__ import annotations

import time
from pathlib import Path

from collector.knowledge import KnowledgeBase, from_config
from collector.store import open_store
from collector.store.base import Store, StoreError
from collector.yamlconf import Doc, load
from midwatch.report import slos
from midwatch.report.build import build
from midwatch.report.model import Report
from midwatch.report.period import Period
from midwatch.report.scope import Scope
from midwatch.report.write import write
from rules.slo import load_slos


def report_of(doc: Doc | None, store: Store, period: Period, prev: Period, *,
              flows: tuple[str, ...] = (), partners: tuple[str, ...] = (),
              source: str = "") -> Report:
    """The report with the config's SLOs, known issues and time zone (``doc`` None: none)."""
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    tz = (data.get("collector") or {}).get("default_timezone", "UTC")
    scope = Scope(store, period, prev, flows, partners, timezone=str(tz))
    slo_section = slos.section(scope, load_slos(doc) if doc is not None else [])
    kb = from_config(doc) if doc is not None else KnowledgeBase()
    return build(scope, source=source, extra=(slo_section,), kb=kb)


def make_report(config: str | None, period: Period, prev: Period, out: Path, fmt: str, *,
                flows: tuple[str, ...] = (), partners: tuple[str, ...] = ()) -> tuple[Path, float]:
    """(the file written, seconds taken). ``config`` None: the default SQLite store."""
    started = time.monotonic()
    doc = load(config) if config else None
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    store = open_store(data.get("store"), doc)
    try:
        version = store.ping()
    except StoreError as exc:
        store.close()
        raise StoreError(f"store not usable: {exc}") from None
    try:
        report = report_of(doc, store, period, prev, flows=flows, partners=partners,
                           source=f"store: {version}")
        write(report, fmt, out)
    finally:
        store.close()
    return out, time.monotonic() - started
