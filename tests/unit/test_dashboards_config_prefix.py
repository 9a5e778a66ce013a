"""``dashboards build -c FILE`` reads the index prefix the config's store writes under.

Found on a first day with a unique ``store.elasticsearch.index_prefix``: the boards built from
that same config read ``midwatch-*``, other data or none, without a word."""

from __future__ import annotations

import yaml

from midwatch.cli import main


def _events_index(out) -> str:
    doc = yaml.safe_load((out / "provisioning" / "datasources" / "midwatch.yaml").read_text())
    return next(d["jsonData"]["index"] for d in doc["datasources"] if d["uid"] == "midwatch-events")


def _config(tmp_path, store: str):
    config = tmp_path / "mw.yaml"
    config.write_text(store)
    return config


def test_build_takes_the_index_prefix_of_the_configured_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    for kind in ("elasticsearch", "opensearch"):
        config = _config(tmp_path, f"store:\n  kind: {kind}\n  {kind}:\n"
                                   "    url: http://127.0.0.1:9200\n    index_prefix: walk15\n")
        out = tmp_path / kind
        assert main(["dashboards", "build", "--out", str(out), "-c", str(config)]) == 0
        assert _events_index(out) == "[walk15-events-]YYYY.MM.DD"


def test_the_flag_wins_and_sqlite_or_no_config_keep_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    config = _config(tmp_path, "store:\n  kind: elasticsearch\n  elasticsearch:\n"
                               "    url: http://127.0.0.1:9200\n    index_prefix: walk15\n")
    assert main(["dashboards", "build", "--out", str(tmp_path / "a"), "-c", str(config),
                 "--index-prefix", "other"]) == 0
    assert _events_index(tmp_path / "a") == "[other-events-]YYYY.MM.DD"
    sqlite = _config(tmp_path, "store: {kind: sqlite}\n")
    assert main(["dashboards", "build", "--out", str(tmp_path / "b"), "-c", str(sqlite)]) == 0
    assert _events_index(tmp_path / "b") == "[midwatch-events-]YYYY.MM.DD"
    assert main(["dashboards", "build", "--out", str(tmp_path / "c")]) == 0
    assert _events_index(tmp_path / "c") == "[midwatch-events-]YYYY.MM.DD"


def test_a_bad_prefix_in_the_config_names_its_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    config = _config(tmp_path, "store:\n  kind: elasticsearch\n  elasticsearch:\n"
                               "    url: http://127.0.0.1:9200\n    index_prefix: Walk*\n")
    assert main(["dashboards", "build", "--out", str(tmp_path / "d"), "-c", str(config)]) == 2
    assert "mw.yaml:5" in capsys.readouterr().err
