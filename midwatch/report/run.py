"""Open the configured store, build the report and write it: what ``midwatch report`` and
``midwatch demo`` share."""

from __future__ import annotations

import time
from pathlib import Path

from collector.knowledge import KnowledgeBase, from_config
from collector.store import open_store
from collector.store.base import StoreError
from collector.yamlconf import load
from midwatch.report import slos
from midwatch.report.build import build
from midwatch.report.period import Period
from midwatch.report.scope import Scope
from midwatch.report.write import write
from rules.slo import load_slos


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
        tz = (data.get("collector") or {}).get("default_timezone", "UTC")
        scope = Scope(store, period, prev, flows, partners, timezone=str(tz))
        slo_section = slos.section(scope, load_slos(doc) if doc is not None else [])
        kb = from_config(doc) if doc is not None else KnowledgeBase()
        report = build(scope, source=f"store: {version}", extra=(slo_section,), kb=kb)
        write(report, fmt, out)
    finally:
        store.close()
    return out, time.monotonic() - started
