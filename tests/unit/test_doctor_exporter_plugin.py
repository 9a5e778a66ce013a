"""`midwatch doctor` with a plug-in exporter: the exporter contract promises only a ``name`` in
its settings, yet doctor read OTLP's ``endpoint``/``headers``/``timeout_ms`` and an
AttributeError killed the whole report (review E item 1). This module is itself the plug-in,
registered in the real exporter registry for the test."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from collector.config import load_config
from collector.doctor import Check, run_checks
from collector.exporters import EXPORTERS

KEYS = ("topic", "endpoint", "headers")


@dataclass(frozen=True)
class Settings:
    topic: str
    name: str = "journeys_sample"


@dataclass(frozen=True)
class BadSettings:
    """A plug-in with an ``endpoint`` whose ``headers`` break OTLP's (name, secret) pairs."""

    endpoint: str
    headers: dict
    name: str = "journeys_sample"


def parse(section):
    if section.has("endpoint"):
        return BadSettings(section.text("endpoint"), dict(section.raw("headers", {})))
    return Settings(section.text("topic", "journeys"))


def build(settings):
    raise AssertionError("doctor never builds an exporter")


@pytest.fixture
def plugin(monkeypatch):
    builtin = MappingProxyType({**EXPORTERS.builtin, "journeys_sample": __name__})
    monkeypatch.setattr(EXPORTERS, "builtin", builtin)
    monkeypatch.setattr(EXPORTERS, "_paths", None)  # names cached by an earlier test: read again
    assert sys.modules[__name__]  # the registry imports this very module by name


def _rows(tmp_path, section: str) -> dict[str, Check]:
    """Doctor's rows by backend, for a config with this plug-in exporter section."""
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n"
                   f"exporters:\n  journeys_sample:\n{section}")
    return {row.backend: row for row in run_checks(load_config(cfg))}


def test_a_plug_in_exporter_without_endpoint_is_loaded_not_probed(plugin, tmp_path):
    rows = _rows(tmp_path, "    topic: journeys\n")
    assert rows["exporter"] == Check("exporter", "journeys_sample", True,
                                     "settings load; not probed (no endpoint)")
    assert rows["store"].ok


def test_a_check_that_raises_is_one_fail_row_beside_the_others(plugin, tmp_path):
    rows = _rows(tmp_path, "    endpoint: http://127.0.0.1:9/v1/traces\n    headers: {X-Key: v}\n")
    assert (rows["exporter"].target, rows["exporter"].ok) == ("journeys_sample", False)
    assert rows["exporter"].detail.startswith("check failed: ValueError: "), rows
    assert rows["store"].ok  # the report goes on past the failing row
