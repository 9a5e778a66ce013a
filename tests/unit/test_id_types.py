"""The registry of ID types midwatch writes, and the flow catalog's check of the types its
``ids:`` section names: ``labels: [x12.iza]`` let real ISA numbers join messages again (one
interchange's orders folded into one trace), ``one_per_message: [ordr]`` and
``join_window: {requets: 15m}`` did nothing, all without a word (new-user walk)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.correlation.catalog import (
    DEFAULT_JOIN_WINDOWS_MS,
    DEFAULT_LABEL_TYPES,
    JOIN_WINDOW_ACK,
    JOIN_WINDOW_DEFAULT,
    build_catalog,
)
from collector.id_types import BUILT_IN_ID_TYPES, near_miss
from collector.parsers import _fields, edifact, json_lines, otlp_json, x12
from collector.yamlconf import ConfigError, loads
from midwatch.demo import run as demo

ROOT = Path(__file__).resolve().parents[2]
# ``ev.add_id("order", ...)`` in Python, ``add_id(&mut ids, "order", ...)`` in the native readers.
_LITERAL = re.compile(r'add_id\((?:&mut \w+, )?"([^"]+)"')


def _written_kinds() -> dict[str, str]:
    """Each ID type a source file names literally in an ``add_id`` call, with the file."""
    found: dict[str, str] = {}
    sources = [*(ROOT / "collector").rglob("*.py"), *(ROOT / "native" / "src").rglob("*.rs")]
    for source in sources:
        for kind in _LITERAL.findall(source.read_text(encoding="utf-8")):
            found.setdefault(kind, str(source.relative_to(ROOT)))
    return found


def test_every_literal_add_id_kind_is_in_the_registry():
    written = _written_kinds()
    assert len(written) >= 20, written  # the scan still finds the parsers' calls
    missing = {k: f for k, f in written.items() if k not in BUILT_IN_ID_TYPES}
    assert not missing, f"add to collector/id_types.py BUILT_IN_ID_TYPES: {missing}"


def test_every_kind_the_parsers_tables_map_to_is_in_the_registry():
    """The kinds written through a variable come from these tables."""
    tabled = {kind for _rx, kind in _fields._ID_KINDS}
    tabled |= {kind for keys in x12._BUSINESS_KEYS.values() for _seg, _i, kind in keys}
    tabled |= set(edifact._BUSINESS_KIND.values()) | set(edifact._REFERENCED_KIND.values())
    tabled |= set(otlp_json._ID_ATTRIBUTES.values())
    tabled |= set(json_lines._DEFAULT_ID_KINDS.values())
    tabled |= set(DEFAULT_LABEL_TYPES)
    tabled |= set(DEFAULT_JOIN_WINDOWS_MS) - {JOIN_WINDOW_DEFAULT, JOIN_WINDOW_ACK}
    assert {"order", "claim", "shipment", "msg", "batch", "xray", "request"} <= tabled
    assert json_lines._DEFAULT_ID_KINDS  # the JSON parser's default ID fields still map
    assert tabled - BUILT_IN_ID_TYPES == set()


@pytest.mark.parametrize(("name", "meant"), [
    ("x12.iza", "x12.isa"), ("requets", "request"), ("ordre", "order"), ("x12.se", "x12.st"),
    ("correlatoin", "correlation"), ("kafka.kye", "kafka.key"), ("edifact.unt", "edifact.unb"),
    ("region", None), ("po_number", None), ("order", None),
    # longer or shorter: a type of its own more likely than a slip (review L item 8)
    ("orders", None), ("invoices", None), ("claims", None), ("requests", None),
    ("batches", None), ("files", None), ("message.id", None), ("mule.correlation", None),
    ("custom", None), ("ace.msgid", None), ("x12.isa13", None), ("mq.msg", None),
    ("ordr", None), ("x12.i", None), ("correlaton", None),
    # the same letters further apart than neighbours
    ("oderr", None),
])
def test_near_miss(name, meant):
    assert near_miss(name, BUILT_IN_ID_TYPES) == meant


def _load(text: str, mapped: frozenset[str] = frozenset()):
    return build_catalog(loads(text, "flows.yaml"), mapped_types=mapped)


@pytest.mark.parametrize(("text", "line", "key", "name", "meant"), [
    ("ids:\n  labels: [x12.isa, x12.iza]\n", 2, "ids.labels.1", "x12.iza", "x12.isa"),
    ("ids:\n  link: [order, correlatoin]\n", 2, "ids.link.1", "correlatoin", "correlation"),
    ("ids:\n  one_per_message: [ordre]\n", 2, "ids.one_per_message.0", "ordre", "order"),
    ("ids:\n  join_window:\n    default: 1d\n    requets: 15m\n", 4, "ids.join_window.requets",
     "requets", "request"),
    ("ids:\n  join_window: {defualt: 2d}\n", 2, "ids.join_window.defualt", "defualt", "default"),
])
def test_a_near_miss_is_refused_with_file_line_key_and_the_type_meant(text, line, key, name,
                                                                       meant):
    with pytest.raises(ConfigError) as err:
        _load(text)
    assert (err.value.file, err.value.line, err.value.key) == ("flows.yaml", line, key)
    assert str(err.value).endswith(f"unknown ID type {name!r} (did you mean {meant!r}? If your "
                                   "own parser writes it, declare it in ids.types)")


def test_a_type_a_mapping_writes_is_taken_however_close():
    catalog = _load("ids:\n  one_per_message: [ordr]\n  labels: [x12.iza]\n",
                    frozenset({"ordr", "x12.iza"}))
    assert catalog.apart(["ordr:1"], ["ordr:2"])
    assert not catalog.is_link("x12.iza:A:B:1")
    assert catalog.upgrade_notes() == ["ids.labels does not list kafka.key, so Kafka record "
                                       "keys join messages (every record of one key into one "
                                       "trace); add kafka.key to ids.labels unless the key "
                                       "names one message"]


def test_an_unknown_type_like_none_is_kept_and_warned_of_once():
    catalog = _load("ids:\n  labels: [kafka.key, region_code]\n"
                    "  one_per_message: [region_code, order]\n"
                    "  join_window: {region_code: 1h, default: 2d, ack: 3d}\n")
    assert not catalog.is_link("region_code:EU")
    assert catalog.join_window_ms("region_code:EU", ack=False) == 3_600_000
    assert catalog.upgrade_notes() == [
        "flows.yaml:2:23: ids.labels.1: ID type 'region_code' is written by no midwatch parser "
        "and no configured mapping (if your own parser writes it, declare it in ids.types; else "
        "check the spelling)"]


def test_a_longer_type_like_a_plural_is_warned_of_not_refused():
    """``orders`` (a mapping or plug-in parser's own) refused the start before (review L)."""
    catalog = _load("ids:\n  labels: [kafka.key, orders, x12.isa13]\n")
    assert not catalog.is_link("orders:1")
    assert [n.split(": ID type ")[1].split(" ")[0] for n in catalog.upgrade_notes()] == [
        "'orders'", "'x12.isa13'"]


def test_types_the_site_declares_are_known_however_close():
    """``x12.se`` (an X12 trailer a site's parser writes) is one letter from x12.st: refused
    unless ``ids.types`` declares it, then neither refused nor warned of."""
    text = "ids:\n  labels: [kafka.key, x12.se, edifact.unt]\n"
    with pytest.raises(ConfigError) as err:
        _load(text)
    assert (err.value.line, err.value.key) == (2, "ids.labels.1")
    assert "'x12.se' (did you mean 'x12.st'?" in str(err.value)
    catalog = _load("ids:\n  types: [x12.se, edifact.unt, po_number]\n" + text[5:]
                    + "  one_per_message: [po_number]\n")
    assert catalog.upgrade_notes() == []
    assert not catalog.is_link("x12.se:1") and catalog.is_link("x12.st:1")
    assert catalog.apart(["po_number:1"], ["po_number:2"])


@pytest.mark.parametrize(("types", "key", "message"), [
    ("x12.se", "ids.types", "expected a list of ID types"),
    ("[po:1]", "ids.types", "'po:1' is a typed ID, not a type"),
])
def test_a_malformed_types_list_is_refused(types, key, message):
    with pytest.raises(ConfigError) as err:
        _load(f"ids:\n  types: {types}\n")
    assert err.value.key == key and message in str(err.value)


def test_the_example_catalogs_name_only_known_types():
    example = build_catalog(loads((ROOT / "deploy" / "flows.example.yaml").read_text(),
                                  "flows.example.yaml"))
    assert example.upgrade_notes() == []


def test_the_demo_catalog_names_only_known_types():
    """``midwatch demo`` builds its own catalog (``midwatch.demo.run.CATALOG``): one of its
    ID types refused or warned of would break or clutter the demo (review L item 9)."""
    catalog = build_catalog(loads(demo.CATALOG, "flows.yaml"))
    assert len(catalog.flows) >= 2
    assert catalog.upgrade_notes() == []
