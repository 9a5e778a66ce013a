"""``midwatch trace``/``reconcile`` and ``slo status`` load the flow catalog with the ID types
the configured inputs' mappings write, as ``midwatch run`` and ``doctor`` do: a catalog naming
a mapping's ``ordre`` (one swap from ``order``) ran, yet ``reconcile --flow`` failed "unknown
ID type 'ordre'" and ``slo status`` took every flow for unknown (review L item 7)."""

from __future__ import annotations

from pathlib import Path

from collector.store.sqlite import SQLiteStore
from midwatch.cli import main


def _config(tmp_path: Path, mapping: str = "ids:\n  ordre: ref\n") -> str:
    db = tmp_path / "m.sqlite"
    store = SQLiteStore(db)
    store.setup()
    store.close()
    (tmp_path / "logs").mkdir()
    (tmp_path / "map.yaml").write_text(mapping)
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(
        f"store: {{kind: sqlite, sqlite: {{path: {db}}}}}\n"
        f"collector: {{checkpoint_dir: {tmp_path}/ckpt}}\n"
        f"inputs:\n  - {{type: file, name: app, paths: ['{tmp_path}/logs/*.log'], "
        f"mapping: {tmp_path}/map.yaml}}\n"
        "flows:\n  ids:\n    labels: [kafka.key, ordre]\n  flows:\n"
        "    - name: po-flow\n      stages:\n"
        "        - {name: got, match: {platform: generic}}\n"
        "        - {name: done, terminal: success, match: {platform: boomi}}\n"
        "slos:\n  - {name: po, flow: po-flow, objective: 99}\n")
    return str(cfg)


def test_reconcile_takes_the_catalog_run_takes(tmp_path, capsys):
    cfg = _config(tmp_path)
    code = main(["reconcile", "--flow", "po-flow", "--from", "got", "--to", "done", "-c", cfg])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "0 reached got" in out


def test_slo_status_knows_the_catalogs_flows(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["slo", "status", "-c", cfg]) == 0
    _out, err = capsys.readouterr()
    assert err == (f"midwatch slo status: po ({cfg}:14): no messages of flow 'po-flow' in its "
                   "30d window\n")


def test_a_broken_mapping_fails_reconcile_naming_the_mapping_file(tmp_path, capsys):
    cfg = _config(tmp_path, mapping="ids:\n  ordre: 5\n")
    code = main(["reconcile", "--flow", "po-flow", "--from", "got", "--to", "done", "-c", cfg])
    _out, err = capsys.readouterr()
    assert code == 2 and f"{tmp_path}/map.yaml:2" in err and "ids.ordre" in err
