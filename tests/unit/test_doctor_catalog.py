"""`midwatch doctor` loads the flow catalog and the known issues as `midwatch run` does, and
the SLOs as `slo status` does: a catalog run refuses (a misspelt terminal kind, a catalog file
that is not there), a known issue defined twice or an objective of 199 passed doctor with
exit 0 and failed only when the service or the report started (new-team walk)."""

from __future__ import annotations

from pathlib import Path

from midwatch.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "flows.example.yaml"


def _doctor(tmp_path: Path, flows: str, capsys) -> tuple[int, list[str]]:
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path}/m.sqlite}}}}\n{flows}")
    code = main(["doctor", "-c", str(cfg)])
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()
            if not line.startswith("store")]
    return code, rows


def test_the_example_catalog_passes(tmp_path, capsys):
    code, rows = _doctor(tmp_path, f"flows: {EXAMPLE}\n", capsys)
    assert code == 0
    assert rows == [f"flows OK {EXAMPLE} 3 flows"]


def test_a_catalog_run_refuses_fails_the_row_and_the_exit_status(tmp_path, capsys):
    bad = tmp_path / "flows.yaml"
    bad.write_text(EXAMPLE.read_text().replace("terminal: success       #", "terminal: sucess       #"))
    code, rows = _doctor(tmp_path, f"flows: {bad}\n", capsys)
    assert code == 1
    (row,) = rows
    assert row.startswith(f"flows FAIL {bad} {bad}:")
    assert row.endswith("terminal: unknown terminal kind 'sucess' (did you mean 'success'?)")


def test_a_missing_catalog_file_fails(tmp_path, capsys):
    code, rows = _doctor(tmp_path, f"flows: {tmp_path}/nope.yaml\n", capsys)
    assert code == 1
    assert rows == [f"flows FAIL {tmp_path}/nope.yaml {tmp_path}/nope.yaml: file not found"]


def test_an_inline_catalog_error_names_the_config_line(tmp_path, capsys):
    code, rows = _doctor(tmp_path, "flows:\n  - name: o2c\n    slaa: 15m\n", capsys)
    assert code == 1
    assert rows == [f"flows FAIL catalog in the config {tmp_path}/midwatch.yaml:4:5: "
                    "flows.0.slaa: unknown key (did you mean 'sla'?)"]


def test_no_catalog_no_row(tmp_path, capsys):
    assert _doctor(tmp_path, "", capsys) == (0, [])


def test_known_issues_and_slos_are_loaded_too(tmp_path, capsys):
    (tmp_path / "ki.yaml").write_text(
        "known_issues:\n"
        "  - {id: KI-1, title: one, match: {platform: boomi, error_class: timeout}}\n"
        "  - {id: KI-1, title: two, match: {platform: mulesoft, error_class: timeout}}\n")
    code, rows = _doctor(tmp_path, "knowledge: {paths: [ki.yaml]}\n"
                                   "slos: [{name: o2c, flow: order-to-cash, objective: 199}]\n",
                         capsys)
    assert code == 1
    assert rows == [
        f"knowledge FAIL ki.yaml {tmp_path}/ki.yaml:3:6: known_issues.1.id: known issue 'KI-1' "
        f"is defined twice (first at {tmp_path}/ki.yaml:2)",
        f"slos FAIL slos: (used by report, slo status) {tmp_path}/midwatch.yaml:3:41: slos.0.objective: expected a percentage "
        "between 0 and 100, got 199 (99.5 means 99.5 %; 100 would leave no error budget)"]
    (tmp_path / "ki.yaml").write_text(
        "known_issues:\n  - {id: KI-1, title: one, match: {platform: boomi, error_class: x}}\n")
    code, rows = _doctor(tmp_path, "knowledge: {paths: [ki.yaml]}\n"
                                   "slos: [{name: o2c, flow: order-to-cash, objective: 99}]\n",
                         capsys)
    assert (code, rows) == (0, ["knowledge OK ki.yaml 1 known issues", "slos OK slos: (used by report, slo status) 1 SLOs"])
