"""The Traces board's trace key links to the trace explorer at ``ui.external_url``."""

from __future__ import annotations

import json

import pytest

from collector.yamlconf import ConfigError, loads
from dashboards.provision import board_docs
from dashboards.replay import panels
from dashboards.settings import BoardSettings, explorer_url_from
from midwatch.cli import main


def _traces_board(settings: BoardSettings) -> dict:
    return board_docs(settings)["traces"]


def _links(doc: dict) -> dict[str, str]:
    table = next(p for p in panels(doc) if p.get("title") == "Traces")
    return {link["title"]: link["url"] for link in table["fieldConfig"]["defaults"]["links"]}


def test_trace_key_links_to_the_explorer_through_a_hidden_variable():
    doc = _traces_board(BoardSettings(explorer_url="https://mw.example.com"))
    links = _links(doc)
    assert links["Open in the trace explorer (waterfall, hop details)"] == \
        "${explorer}/traces/${__data.fields.trace_key:percentencode}"
    explorer = next(v for v in doc["templating"]["list"] if v["name"] == "explorer")
    assert explorer["query"] == "https://mw.example.com" and explorer["hide"] == 2


def test_ui_external_url_is_read_and_checked():
    assert explorer_url_from(loads("ui: {external_url: 'https://mw.example.com/'}\n",
                                   "mw.yaml")) == "https://mw.example.com"
    assert explorer_url_from(loads("store: {kind: sqlite}\n", "mw.yaml")) is None
    for text, what in (("ui: {external_url: mw.example.com}\n", "http(s) URL"),
                       ("ui: {url: 'https://x'}\n", "unknown key")):
        with pytest.raises(ConfigError) as info:
            explorer_url_from(loads(text, "mw.yaml"))
        assert "mw.yaml:1" in str(info.value) and what in str(info.value)


def test_build_takes_the_url_from_the_config(tmp_path, monkeypatch):
    config = tmp_path / "mw.yaml"
    config.write_text("ui:\n  external_url: https://explorer.example.org\n")
    monkeypatch.setenv("MIDWATCH_CONFIG", str(config))
    assert main(["dashboards", "build", "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "dashboards" / "midwatch-traces.json").read_text())
    explorer = next(v for v in doc["templating"]["list"] if v["name"] == "explorer")
    assert explorer["query"] == "https://explorer.example.org"
    assert main(["dashboards", "build", "--out", str(tmp_path / "o2"),
                 "--explorer-url", "http://other:8080"]) == 0
    doc = json.loads((tmp_path / "o2" / "dashboards" / "midwatch-traces.json").read_text())
    assert next(v for v in doc["templating"]["list"]
                if v["name"] == "explorer")["query"] == "http://other:8080"
