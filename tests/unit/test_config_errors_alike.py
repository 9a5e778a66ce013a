"""The store and flow-catalog sections are read through ``Section`` like every other section,
so a value of the wrong shape is reported in the same words wherever it is written."""

from __future__ import annotations

import pytest

from collector.config_values import Section
from collector.correlation.catalog import load_catalog
from collector.store import open_store
from collector.yamlconf import ConfigError, loads


def _error(call) -> str:
    with pytest.raises(ConfigError) as err:
        call()
    return str(err.value)


def test_a_list_where_a_mapping_belongs_reads_the_same_in_every_section():
    doc = loads("api: [1]\nstore: [1]\nflows:\n  flows:\n    - [orders]\n", "mw.yaml")
    messages = [
        _error(lambda: Section(doc, ("api",), doc.data["api"], ("listen",))),
        _error(lambda: open_store(doc.data["store"], doc)),
        _error(lambda: load_catalog(doc.data["flows"], doc)),
    ]
    assert messages == [
        "mw.yaml:1:1: api: expected a mapping, got a list",
        "mw.yaml:2:1: store: expected a mapping, got a list",
        "mw.yaml:5:7: flows.flows.0: expected a mapping, got a list",
    ]


def test_catalog_numbers_and_store_flags_use_the_shared_readers():
    doc = loads("flows:\n  ids: {max_trace_ids: 1}\n"
                "store:\n  kind: elasticsearch\n  elasticsearch:\n    url: http://h:9200\n"
                "    verify_certs: maybe\n", "mw.yaml")
    assert _error(lambda: load_catalog(doc.data["flows"], doc)).endswith(
        "flows.ids.max_trace_ids: expected a whole number >= 2, got 1")
    assert _error(lambda: open_store(doc.data["store"], doc)).endswith(
        "store.elasticsearch.verify_certs: expected true or false, got 'maybe'")


def test_a_store_built_in_code_names_the_config_and_keeps_its_credentials():
    """Without a file (a mapping built in code) errors still name the key."""
    message = _error(lambda: open_store({"kind": "elasticsearch",
                                         "elasticsearch": {"url": "h:9200"}}))
    assert message.startswith("<config>: store.elasticsearch.url: expected an http(s) URL")
