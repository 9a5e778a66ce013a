"""`midwatch doctor` with a plug-in exporter: the exporter contract promises only a ``name`` in
its settings, yet doctor read OTLP's ``endpoint``/``headers``/``timeout_ms`` and an
AttributeError killed the whole report (review E item 1). This module is itself the plug-in,
registered in the real exporter registry for the test."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import MappingProxyType

import pytest

from collector.exporters import EXPORTERS
from midwatch.cli import main

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
    assert sys.modules[__name__]  # the registry imports this very module by name


def _doctor(tmp_path, capsys, section: str) -> tuple[int, dict[str, str]]:
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n"
                   f"exporters:\n  journeys_sample:\n{section}")
    rc = main(["doctor", "-c", str(cfg)])
    return rc, {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}


def test_a_plug_in_exporter_without_endpoint_is_loaded_not_probed(plugin, tmp_path, capsys):
    rc, rows = _doctor(tmp_path, capsys, "    topic: journeys\n")
    assert rows["exporter"].split(maxsplit=3) == [
        "exporter", "OK", "journeys_sample", "settings load; not probed (no endpoint)"]
    assert rows["store"].split()[1] == "OK"
    assert rc == 0


def test_a_check_that_raises_is_one_fail_row_beside_the_others(plugin, tmp_path, capsys):
    rc, rows = _doctor(tmp_path, capsys,
                       "    endpoint: http://127.0.0.1:9/v1/traces\n    headers: {X-Key: v}\n")
    assert rows["exporter"].split(maxsplit=3)[:3] == ["exporter", "FAIL", "journeys_sample"]
    assert "check failed: ValueError: " in rows["exporter"], rows
    assert rows["store"].split()[1] == "OK"  # the report goes on past the failing row
    assert rc == 1
