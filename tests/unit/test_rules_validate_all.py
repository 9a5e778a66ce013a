"""``midwatch rules validate`` lists every mistake of a file, several per rule, each with
file:line:column (issue 26 item 9), in file order."""

from __future__ import annotations

from pathlib import Path

from midwatch.cli import main
from rules.loader import load_rules

BAD = Path(__file__).parents[1] / "data" / "rules-validate" / "three_bad_rules.yaml"


def test_every_error_of_three_bad_rules(capsys):
    assert main(["rules", "validate", str(BAD)]) == 1  # the documented exit code for errors
    out, err = capsys.readouterr()
    assert out == "0 rules valid, 11 error(s)\n"
    f = str(BAD)
    lines = err.splitlines()
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"{f}:4:5", "rules.0.above"],
        [f"{f}:5:5", "rules.0.window"],
        [f"{f}:6:5", "rules.0.severity"],
        [f"{f}:7:5", "rules.0.colour"],
        [f"{f}:8:5", "rules.1.name"],
        [f"{f}:12:14", "rules.1.filter.midwatch.flw"],
        [f"{f}:13:16", "rules.1.group_by.0"],
        [f"{f}:14:5", "rules.1.for"],
        [f"{f}:16:5", "rules.2.type"],
        [f"{f}:18:5", "rules.2.interval"],
        [f"{f}:19:14", "rules.2.labels.team"],
    ]
    assert "(did you mean 'threshold'?)" in lines[8]
    assert "(did you mean 'midwatch.flow'?)" in lines[5]


def test_a_good_rule_beside_bad_ones_still_loads(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(BAD.read_text() + "  - {name: fine, type: threshold, above: 3}\n")
    loaded = load_rules([path])
    assert [r.name for r in loaded.rules] == ["fine"]
    assert len(loaded.errors) == 11


def test_a_misspelt_type_still_reports_its_rules_misspelt_keys(tmp_path, capsys):
    """Walk-through: ``type: threshhold`` hid ``windw`` beside it. With the type unknown, a
    key that no rule type takes is still a typo; one some other type takes is left alone
    (the type's own error covers it)."""
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n"
                    "  - name: broken\n"
                    "    type: threshhold\n"
                    "    windw: 5m\n"
                    "    where: {event.outcome: failure}\n"
                    "    above: 3\n")
    assert main(["rules", "validate", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 2)[:2] for line in err] == [
        [f"{path}:3:5", "rules.0.type"], [f"{path}:4:5", "rules.0.windw"]]
    assert "(did you mean 'window'?)" in err[1]


def test_store_checks_run_beside_shape_errors(tmp_path, capsys):
    """Walk-through: the store's verdict on query rules came only once every shape error was
    fixed, so a second run showed new errors. The rules that load are checked at once (here
    on SQLite, which refuses query rules), beside the shape errors of the others."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n"
                     "  - {name: web-5xx, type: query, index: 'logs-*', query: 'status:500',"
                     " above: 3}\n"
                     "  - {name: typo, type: threshold, above: 3, windw: 5m}\n")
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path / 's.sqlite'}}}}}\n"
                      f"rules: {{paths: [{rules}]}}\n")
    assert main(["rules", "validate", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == "0 rules valid, 2 error(s)\n"  # the store's refusal makes web-5xx invalid
    assert f"{rules}:3:" in err and "rules.1.windw: unknown key" in err
    assert f"{rules}:2: rule web-5xx:" in err and "need an Elasticsearch or OpenSearch" in err


def test_validate_with_only_a_config_checks_its_rules(tmp_path, capsys, monkeypatch):
    """Walk-through: every other rules command takes ``-c CONFIG`` alone, ``validate`` asked
    for a PATH too; the config's own rule files are what a person wants checked."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - {name: typo, type: threshold, above: 3, windw: 5m}\n")
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path / 's.sqlite'}}}}}\n"
                      f"rules: {{paths: [{rules}]}}\n")
    assert main(["rules", "validate", "-c", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == "0 rules valid, 1 error(s)\n"
    assert err.startswith(f"{rules}:2:") and "rules.0.windw: unknown key" in err
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    assert main(["rules", "validate"]) == 2
    assert "give rule files or directories, a config file, or -c CONFIG" in capsys.readouterr().err
