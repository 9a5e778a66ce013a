"""The catalog's ID types through ``midwatch doctor`` and the start of ``midwatch run``: a near
miss of a known type fails the flows row (file, line, key, the type meant), an unknown one is
a WARN row (exit 0) and a warning logged once at start-up, and a type the configured parser
mapping writes is neither (new-user walk: ``labels: [x12.iza]`` passed both in silence)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from collector.config import load_config
from collector.service.service import build_correlator
from collector.store.sqlite import SQLiteStore
from midwatch.cli import main


def _config(tmp_path: Path, ids: str, mapping: str | None = None) -> Path:
    cfg = tmp_path / "midwatch.yaml"
    text = f"store: {{kind: sqlite, sqlite: {{path: {tmp_path}/m.sqlite}}}}\n"
    if mapping is not None:
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs" / "a.log").write_text('{"message": "a"}\n')
        (tmp_path / "map.yaml").write_text(mapping)
        text += (f"collector: {{checkpoint_dir: {tmp_path}/ckpt}}\n"
                 f"inputs:\n  - {{type: file, name: app, paths: ['{tmp_path}/logs/*.log'], "
                 f"mapping: {tmp_path}/map.yaml}}\n")
    cfg.write_text(text + f"flows:\n  ids:\n{ids}  flows: []\n")
    return cfg


def _doctor(cfg: Path, capsys) -> tuple[int, list[str]]:
    code = main(["doctor", "-c", str(cfg)])
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()
            if line.startswith("flows")]
    return code, rows


@pytest.mark.parametrize(("ids", "line", "col", "key", "name", "meant"), [
    ("    labels: [x12.iza, kafka.key]\n", 4, 14, "labels.0", "x12.iza", "x12.isa"),
    ("    link: [order, http.reqeust]\n", 4, 19, "link.1", "http.reqeust", "http.request"),
    ("    one_per_message: [ordre]\n", 4, 23, "one_per_message.0", "ordre", "order"),
    ("    join_window: {requets: 15m}\n", 4, 19, "join_window.requets", "requets", "request"),
])
def test_a_near_miss_fails_the_flows_row(tmp_path, capsys, ids, line, col, key, name, meant):
    cfg = _config(tmp_path, ids)
    assert _doctor(cfg, capsys) == (1, [
        f"flows FAIL catalog in the config {cfg}:{line}:{col}: flows.ids.{key}: unknown ID type "
        f"{name!r} (did you mean {meant!r}? If your own parser writes it, declare it in "
        "ids.types)"])


@pytest.mark.parametrize(("ids", "col", "key"), [
    ("    labels: [kafka.key, site_ref]\n", 25, "labels.1"),
    ("    link: [order, site_ref]\n", 19, "link.1"),
    ("    one_per_message: [site_ref]\n", 23, "one_per_message.0"),
    ("    join_window: {site_ref: 1h}\n", 19, "join_window.site_ref"),
])
def test_an_unknown_type_is_a_warn_row_and_a_start_up_warning(tmp_path, capsys, caplog, ids,
                                                              col, key):
    cfg = _config(tmp_path, ids)
    note = (f"{cfg}:4:{col}: flows.ids.{key}: ID type 'site_ref' is written by no midwatch "
            "parser and no configured mapping (if your own parser writes it, declare it in "
            "ids.types; else check the spelling)")
    code, rows = _doctor(cfg, capsys)
    assert code == 0
    assert rows[0].startswith("flows WARN catalog in the config 0 flows;")
    assert rows[0].endswith(" ".join(note.split()))
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        with caplog.at_level(logging.WARNING):
            build_correlator(load_config(cfg), store)
    finally:
        store.close()
    assert [r.getMessage() for r in caplog.records].count(note) == 1


def test_a_type_the_mapping_writes_is_known(tmp_path, capsys, caplog):
    cfg = _config(tmp_path, "    labels: [kafka.key, x12.iza]\n    one_per_message: [site_ref]\n",
                  mapping="ids:\n  x12.iza: isa\n  site_ref: ref\n")
    assert _doctor(cfg, capsys) == (0, ["flows OK catalog in the config 0 flows"])
    store = SQLiteStore(tmp_path / "m.sqlite")
    store.setup()
    try:
        with caplog.at_level(logging.WARNING):
            correlator = build_correlator(load_config(cfg), store)
    finally:
        store.close()
    assert not [r for r in caplog.records if "ID type" in r.getMessage()]
    assert correlator.catalog_source.load().apart(["site_ref:1"], ["site_ref:2"])


def test_a_broken_mapping_is_its_inputs_row_not_the_catalogs(tmp_path, capsys):
    """Review L item 10: the mapping's error showed as a FAIL of the flows row."""
    cfg = _config(tmp_path, "    labels: [kafka.key, site_ref]\n", mapping="ids:\n  site_ref: 5\n")
    assert main(["doctor", "-c", str(cfg)]) == 1
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    mapping = [r for r in rows if r.startswith("mapping")]
    assert mapping == [f"mapping FAIL input app: {tmp_path}/map.yaml {tmp_path}/map.yaml:2:3: "
                       "ids.site_ref: expected a field path (text)"]
    flows = [r for r in rows if r.startswith("flows")]
    assert len(flows) == 1 and flows[0].startswith("flows WARN catalog in the config 0 flows;")
    assert "'site_ref' is written by no midwatch parser" in flows[0]
