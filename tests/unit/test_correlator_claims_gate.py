"""A collector claims joining IDs (``collector.store.id_claims``) only when one of its inputs
is a consumer group, whose messages other collectors may share; alone on its files it pays
nothing for claims."""

from __future__ import annotations

from collector.config import config_from_doc
from collector.service.service import build_correlator
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads


def _claims(tmp_path, inputs: str) -> bool:
    text = f"""
collector: {{checkpoint_dir: {tmp_path / "cp"}, spool: {{dir: {tmp_path / "spool"}}}}}
inputs:
{inputs}
"""
    config = config_from_doc(loads(text, str(tmp_path / "midwatch.yaml")))
    store = SQLiteStore(str(tmp_path / "m.sqlite"))
    try:
        return build_correlator(config, store).claim_ids
    finally:
        store.close()


def test_only_a_consumer_group_input_makes_the_correlator_claim_ids(tmp_path):
    files = f'  - {{type: file, name: logs, paths: ["{tmp_path}/*.log"]}}'
    kafka = "  - {type: kafka, name: k, format: json, topics: [orders], group_id: g}"
    assert _claims(tmp_path, files) is False
    assert _claims(tmp_path, f"{files}\n{kafka}") is True
