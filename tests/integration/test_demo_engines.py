"""``midwatch demo --es URL`` takes OpenSearch as well as Elasticsearch: the config it writes
names the engine that answers at URL (new-user walk-through of issue 28: OpenSearch 2 at
--es ended in "the node is OpenSearch 2.19.4, not elasticsearch; set store.kind: opensearch",
a key of a file the demo writes itself). Only the files are written here; the demo's run
into Elasticsearch is ``test_demo.py``'s."""

from __future__ import annotations

import time

from collector.store.engines import delete_prefix
from collector.yamlconf import load
from midwatch.cli import main
from midwatch.demo.run import Result, write_files


def test_demo_config_names_the_engine_at_es(tmp_path, opensearch, opensearch_url, es8,
                                            es8_url):
    for url, kind in ((opensearch_url, "opensearch"), (es8_url, "elasticsearch")):
        workdir = tmp_path / kind
        result = Result(workdir=workdir, config=workdir / "midwatch.yaml")
        write_files(workdir, 3, 20, time.time_ns() // 1_000_000, es=url,
                    index_prefix="walk-demo", result=result)
        store = load(result.config).data["store"]
        assert store == {"kind": kind, kind: {"url": url, "index_prefix": "walk-demo"}}


def test_demo_twice_into_opensearch_replaces_the_first(tmp_path, capsys, opensearch,
                                                       opensearch_url, unique_name):
    """A second demo under the same prefix replaces the first (the same seed's order numbers
    would join the first run's traces, and every certificate paged twice); on OpenSearch the
    label-grouped probe rules fire, each certificate once, its expiry as the text it was."""
    args = ["demo", "--seed", "3", "--messages", "60", "--es", opensearch_url,
            "--index-prefix", unique_name]
    try:
        assert main([*args, "--workdir", str(tmp_path / "first")]) == 0
        first = capsys.readouterr().out
        assert main([*args, "--workdir", str(tmp_path / "second")]) == 0
        second = capsys.readouterr().out
    finally:
        delete_prefix(opensearch, f"{unique_name}-")
    assert "replaced the previous demo" not in first
    assert "replaced the previous demo's" in second
    certs = [line for line in second.splitlines() if "certificate-expiring-30d {" in line]
    assert len(certs) == 1 and "tls_not_after=20" in certs[0], certs
    assert "health report: " in second and "not written" not in second


def test_demo_refuses_the_deployments_default_prefix(capsys):
    assert main(["demo", "--es", "http://127.0.0.1:9", "--index-prefix", "midwatch"]) == 2
    assert "replaces its prefix's indices" in capsys.readouterr().err
