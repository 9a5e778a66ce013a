"""When the parse workers ship events as document bytes (``collector.encoded``): only when
the store takes the bytes and nothing in the collector's process reads whole events. A
correlator reads only what the workers classify for it (``collector.correlation.joinview``),
so it must be one whose catalog the workers can build: one built from the config."""

from __future__ import annotations

from pathlib import Path

from collector.config import config_from_doc
from collector.correlation.catalog import empty_catalog
from collector.correlation.correlator import Correlator
from collector.correlation.joinview import CatalogSource
from collector.service.service import Service, build_correlator
from collector.store.elasticsearch import ElasticsearchStore
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads

KNOWN_ISSUES = Path(__file__).resolve().parents[2] / "deploy" / "knowledge" / "example.yaml"


def _config(tmp_path, extra: str = ""):
    text = f"""
collector: {{checkpoint_dir: {tmp_path / "cp"}, spool: {{dir: {tmp_path / "spool"}}}}}
inputs:
  - {{type: file, name: logs, paths: ["{tmp_path}/*.log"]}}
{extra}
"""
    return config_from_doc(loads(text, str(tmp_path / "midwatch.yaml")))


def _encoding(config, store, **kwargs) -> list:
    service = Service(config, store, with_api=False, progress_tty=False, **kwargs)
    return [inp.encode_events for inp in service.inputs]


def test_only_a_service_on_elasticsearch_ships_encoded_events(tmp_path):
    config = _config(tmp_path)
    es = ElasticsearchStore("http://127.0.0.1:9", index_prefix="never-contacted")
    try:
        assert _encoding(config, es) == [True]
        # Correlated: classified by the workers with the config's own flow catalog...
        assert _encoding(config, es, correlator=build_correlator(config, es)) == [
            CatalogSource(None, ("flows",))]
        # ... which a correlator over some other catalog does not share: Events then.
        assert _encoding(config, es, correlator=Correlator(empty_catalog(), es)) == [False]
        # Known issues label events in this process (collector.knowledge): Events again.
        known = _config(tmp_path, f"knowledge: {{paths: [{KNOWN_ISSUES}]}}")
        assert _encoding(known, es) == [False]
    finally:
        es.close()
    sqlite = SQLiteStore(str(tmp_path / "m.sqlite"))
    try:
        assert _encoding(config, sqlite) == [False]  # it writes Events only
    finally:
        sqlite.close()


def test_the_shippers_listening_inputs_ship_encoded_events_as_files_do(tmp_path):
    config = _config(tmp_path, """  - {type: syslog, name: syslog, listen: "127.0.0.1:0"}
  - {type: http, name: http, listen: "127.0.0.1:0"}""")
    es = ElasticsearchStore("http://127.0.0.1:9", index_prefix="never-contacted")
    service = Service(config, es, with_api=False, progress_tty=False)
    try:
        assert [inp.encode_events for inp in service.inputs] == [True, True, True]
    finally:
        for inp in service.inputs:
            inp.close()
        es.close()


def test_a_catalog_file_is_read_once_for_the_collector_and_its_workers(tmp_path):
    """Parse workers start later (lazily, after a crash) and built their catalog from the
    file again: an edit since the start split the workers' classification from the
    collector's, and a half-saved file stopped the input (the worker's init failed)."""
    flows = tmp_path / "flows.yaml"
    flows.write_text("flows:\n  - name: orders\n    stages:\n"
                     "      - {name: received, match: {platform: apigw}}\n"
                     "      - {name: done, terminal: success, match: {platform: sap}}\n")
    config = _config(tmp_path, f"flows: {flows}\n")
    sqlite = SQLiteStore(str(tmp_path / "m.sqlite"))
    try:
        source = build_correlator(config, sqlite).catalog_source
        flows.write_text("flows: [ {name: half-saved")  # an edit under way
        assert list(source.load().flows) == ["orders"]
    finally:
        sqlite.close()
