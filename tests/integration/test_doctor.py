"""`midwatch doctor` against the real services: a row per backend, exit 1 when one is down."""

from __future__ import annotations

import socket

from midwatch.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_doctor_reports_each_backend(tmp_path, capsys, es_url, kafka_bootstrap, alertmanager_url, unique_name):
    dead = f"http://127.0.0.1:{_free_port()}"
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(
        f"store:\n  kind: elasticsearch\n  elasticsearch:\n    url: {es_url}\n    index_prefix: {unique_name}\n"
        f"kafka:\n  bootstrap: [{kafka_bootstrap}]\n"
        f"alertmanager:\n  url: {alertmanager_url}\n"
        f"grafana:\n  url: {dead}\n"
    )
    rc = main(["doctor", "-c", str(cfg)])
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    # rules: the top-level alertmanager: section is a notifier, loaded as midwatch run would.
    assert rows == {"store": "OK", "kafka": "OK", "alertmanager": "OK", "grafana": "FAIL",
                    "rules": "OK"}
    assert rc == 1


def test_doctor_all_ok_exits_zero(tmp_path, capsys):
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite:\n    path: {tmp_path / 'm.sqlite'}\n")
    assert main(["doctor", "-c", str(cfg)]) == 0
    assert capsys.readouterr().out.startswith("store  OK")


def test_doctor_names_each_engine_and_its_version(tmp_path, capsys, es_url, es8_url, opensearch_url,
                                                 opensearch3_url, unique_name):
    found = {}
    for kind, url in (("elasticsearch", es_url), ("elasticsearch", es8_url),
                      ("opensearch", opensearch_url), ("opensearch", opensearch3_url)):
        cfg = tmp_path / "midwatch.yaml"
        cfg.write_text(f"store:\n  kind: {kind}\n  {kind}:\n    url: {url}\n"
                       f"    index_prefix: {unique_name}\n")
        assert main(["doctor", "-c", str(cfg)]) == 0
        (line,) = capsys.readouterr().out.splitlines()
        found[url] = line
    assert "  Elasticsearch 9.5." in found[es_url]
    assert "  Elasticsearch 8.19.9 at " in found[es8_url]
    assert "  OpenSearch 2.19.4 at " in found[opensearch_url]
    assert "  OpenSearch 3.3.2 at " in found[opensearch3_url]
    assert not any("WARNING" in line for line in found.values()), found


def test_doctor_refuses_the_other_engine_with_the_kind_to_set(tmp_path, capsys, opensearch_url,
                                                             unique_name):
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: elasticsearch\n  elasticsearch:\n    url: {opensearch_url}\n"
                   f"    index_prefix: {unique_name}\n")
    assert main(["doctor", "-c", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "not elasticsearch; set store.kind: opensearch" in out
