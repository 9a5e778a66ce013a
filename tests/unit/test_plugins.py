"""Plug-ins: rule types and notifiers from installed packages through entry points, under the
same contract as the built-in ones. The sample package (examples/midwatch-plugin-sample) is
pip-installed into the running venv and exercised end to end by a ``midwatch rules run``
process: a rule of its type fires and pages through its notifier."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from collector.event import Event, event_id
from collector.registry import BUILTIN
from collector.store.sqlite import SQLiteStore
from rules import notify, types

SAMPLE = Path(__file__).parents[2] / "examples" / "midwatch-plugin-sample"
ORIGIN = "plug-in midwatch-plugin-sample"
MIDWATCH = Path(sys.executable).parent / "midwatch"


@pytest.fixture(scope="session")
def sample_plugin() -> Iterator[None]:
    """The sample installed (not editable: site-packages is already on this process's path)
    for the session, and removed after it when this session installed it, so the venv's
    ``midwatch`` lists only what the user installed."""
    try:
        distribution("midwatch-plugin-sample")
        installed_here = False
    except PackageNotFoundError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(SAMPLE)],
                       check=True, timeout=300)
        importlib.invalidate_caches()
        installed_here = True
    yield
    if installed_here:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y",
                        "midwatch-plugin-sample"], check=True, timeout=120)
        importlib.invalidate_caches()


@pytest.mark.parametrize("registry", [types.REGISTRY, notify.REGISTRY], ids=["types", "notifiers"])
def test_every_component_built_in_or_plug_in_meets_the_contract(sample_plugin, registry):
    fresh = replace(registry)  # entry points read now, after the install
    names = fresh.names()
    plugins = [n for n in names if fresh.origin(n) != BUILTIN]
    assert plugins == (["at_least"] if registry is types.REGISTRY else ["jsonl_file"])
    assert fresh.origin(plugins[0]) == ORIGIN
    assert len(names) > len(plugins) + 5  # the built-ins are there too
    assert {n: fresh.missing(n) for n in names} == {n: [] for n in names}


def test_rules_list_shows_each_type_and_notifier_with_its_origin(sample_plugin):
    out = subprocess.run([str(MIDWATCH), "rules", "list", "--types", "--notifiers"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "rule types:" and "notifier types:" in lines
    assert f"  at_least: {ORIGIN} (midwatch_plugin_sample.at_least)" in lines
    assert "  threshold: built-in (rules.types.threshold)" in lines
    assert f"  jsonl_file: {ORIGIN} (midwatch_plugin_sample.jsonl_file)" in lines
    assert "  pagerduty: built-in (rules.notify.pagerduty)" in lines


def test_plug_in_rule_fires_and_pages_through_the_plug_in_notifier(sample_plugin, tmp_path):
    now = time.time_ns() // 1_000_000
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    store.write_events([Event(now - (i + 1) * 1000, "t", "mulesoft", "order", flow="o2c",
                              message_id=f"m{i}", id=event_id("plugin", str(i)))
                        for i in range(3)])
    store.close()
    (tmp_path / "r.yaml").write_text("""\
rules:
  - name: orders-seen
    type: at_least
    count: 3
    group_by: [midwatch.flow]
    annotations: {summary: "{{ labels.flow }}: {{ count }} of at least {{ at_least }}"}
""")
    pages = tmp_path / "pages.jsonl"
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"""\
store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}
rules: {{paths: [{tmp_path}/r.yaml], interval: 1s, notify: [audit], lease_ttl: 2s}}
notifiers:
  audit: {{type: jsonl_file, path: {pages}}}
""")
    proc = subprocess.Popen([str(MIDWATCH), "rules", "run", "-c", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MIDWATCH_CONFIG": ""})
    try:
        deadline = time.monotonic() + 60
        while not (pages.exists() and pages.read_text().strip()):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no notification within 60 s"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    page = json.loads(pages.read_text().splitlines()[0])
    assert (page["action"], page["rule"], page["labels"], page["value"]) == (
        "firing", "orders-seen", {"flow": "o2c"}, 3.0)
    assert page["summary"] == "o2c: 3 of at least 3"
