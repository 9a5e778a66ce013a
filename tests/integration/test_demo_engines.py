"""``midwatch demo --es URL`` takes OpenSearch as well as Elasticsearch: the config it writes
names the engine that answers at URL (new-user walk-through of issue 28: OpenSearch 2 at
--es ended in "the node is OpenSearch 2.19.4, not elasticsearch; set store.kind: opensearch",
a key of a file the demo writes itself). Only the files are written here; the demo's run
into Elasticsearch is ``test_demo.py``'s."""

from __future__ import annotations

import time

from collector.yamlconf import load
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
