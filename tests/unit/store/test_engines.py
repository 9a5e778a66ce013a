"""The engine dialects as pure functions: what each engine is sent, and which versions the
doctor warns about. The wire itself is tested against real engines in
tests/integration/test_store_contract.py (Elasticsearch 9.5, 8.19, OpenSearch 2.19, 3.3)."""

from __future__ import annotations

import re

import pytest

from collector.store import es_mappings
from collector.store.engines import (
    ELASTICSEARCH,
    OPENSEARCH,
    Engine,
    engine_of,
    rewrite_headers,
    rewrite_target,
)
from collector.store.es_query import rank_percents

COMPAT9 = "application/vnd.elasticsearch+json; compatible-with=9"
NDJSON9 = "application/vnd.elasticsearch+x-ndjson; compatible-with=9"


def test_the_product_comes_from_the_elastic_header():
    nodes = {"nodes": {"n1": {"version": "8.19.9"}}}
    assert engine_of(nodes, "Elasticsearch") == Engine(ELASTICSEARCH, "8.19.9")
    assert engine_of({"nodes": {"n1": {"version": "2.19.4"}}}, None) == Engine(OPENSEARCH, "2.19.4")


def test_media_types_per_engine():
    headers = {"accept": COMPAT9, "content-type": NDJSON9}
    assert rewrite_headers(Engine(ELASTICSEARCH, "9.5.4"), headers) == headers
    assert rewrite_headers(Engine(ELASTICSEARCH, "8.19.9"), headers) == {
        "accept": "application/vnd.elasticsearch+json; compatible-with=8",
        "content-type": "application/vnd.elasticsearch+x-ndjson; compatible-with=8"}
    assert rewrite_headers(Engine(OPENSEARCH, "2.19.4"), headers) == {
        "accept": "application/json", "content-type": "application/x-ndjson"}
    # a key without the monitor privilege: product known, version not; 8 suits 8.x and 9.x
    assert rewrite_headers(Engine(ELASTICSEARCH, "?"), {"accept": COMPAT9}) == {
        "accept": "application/vnd.elasticsearch+json; compatible-with=8"}


@pytest.mark.parametrize(("target", "expected"), [
    ("/_bulk?filter_path=errors&include_source_on_error=false", "/_bulk?filter_path=errors"),
    ("/_bulk?include_source_on_error=false&filter_path=errors", "/_bulk?filter_path=errors"),
    ("/_bulk?include_source_on_error=false", "/_bulk"),
    ("/x/_search?q=include_source", "/x/_search?q=include_source"),
])
def test_opensearch_is_not_sent_elasticsearch_only_parameters(target, expected):
    assert rewrite_target(Engine(OPENSEARCH, "2.19.4"), target) == expected
    assert rewrite_target(Engine(ELASTICSEARCH, "8.19.9"), target) == target


@pytest.mark.parametrize(("engine", "warned"), [
    (Engine(ELASTICSEARCH, "9.5.4"), False),
    (Engine(ELASTICSEARCH, "8.19.9"), False),
    (Engine(ELASTICSEARCH, "8.17.0"), True),
    (Engine(ELASTICSEARCH, "9.6.0"), True),
    (Engine(OPENSEARCH, "2.19.4"), False),
    (Engine(OPENSEARCH, "3.3.2"), False),
    (Engine(OPENSEARCH, "2.18.0"), True),
    (Engine(OPENSEARCH, "3.4.0"), True),
])
def test_doctor_warns_outside_the_tested_versions(engine, warned):
    warning = engine.untested_warning()
    assert bool(warning) == warned
    if warned:
        assert engine.name in warning
        assert "Elasticsearch 8.19 to 9.5; OpenSearch 2.19 to 3.3" in warning


def test_open_maps_are_keywords_by_key_on_opensearch():
    """flat_object cannot be aggregated on (issue 14225): OpenSearch maps each key."""
    es = es_mappings.templates("mw")["mw-events"]["template"]
    os_ = es_mappings.templates("mw", product=OPENSEARCH)["mw-events"]["template"]
    assert es["mappings"]["properties"]["labels"] == {"type": "flattened", "ignore_above": 1024}
    assert "dynamic_templates" not in es["mappings"]
    assert os_["mappings"]["properties"]["labels"] == {"type": "object", "dynamic": True}
    kinds = ("string", "date", "long", "double", "boolean")
    leaf = {t["labels_" + k]["match_mapping_type"]: t["labels_" + k]["mapping"]
            for t, k in zip(os_["mappings"]["dynamic_templates"], kinds, strict=True)}
    assert set(leaf) == set(kinds)  # date: OpenSearch detects date strings (tls.not_after)
    assert {m["type"] for m in leaf.values()} == {"keyword"}
    alerts = es_mappings.templates("mw", product=OPENSEARCH)["mw-alerts"]["template"]["mappings"]
    assert [next(iter(t)) for t in alerts["dynamic_templates"]][-1] == "strings"


def test_only_unsearched_dates_take_the_fast_format_and_only_where_it_exists():
    """``rfc3339_lenient`` (OpenSearch 2.12+) refuses epoch numbers and partial times that
    the default format takes, so no searched date gets it: queries keep their meaning. The
    searched ones on OpenSearch put an exact pattern in front of the default list (which
    answers the same, tests/integration/test_store_engines.py), and leave it out of a
    mapping update: no update changes a date's format."""
    def dates(product, version=None):
        props = es_mappings.templates("mw", product=product, version=version)[
            "mw-events"]["template"]["mappings"]["properties"]
        return (props["@timestamp"]["format"], props["event"]["properties"]["ingested"]["format"],
                props["event"]["properties"]["created"]["format"])
    default, fast = "strict_date_optional_time||epoch_millis", "rfc3339_lenient"
    exact = "uuuu-MM-dd'T'HH:mm:ss.SSSXXX||" + default
    assert dates(OPENSEARCH) == dates(OPENSEARCH, (2, 12)) == dates(OPENSEARCH, (3, 3)) == (
        exact, fast, fast)
    assert dates(OPENSEARCH, (2, 11)) == (exact, default, default)
    assert dates(ELASTICSEARCH) == dates(ELASTICSEARCH, (9, 5)) == (default, default, default)
    for product, format_of in ((ELASTICSEARCH, default), (OPENSEARCH, exact)):
        # OpenSearch's searched dates: the default list behind the exact pattern, in every
        # index but state (its updated_at keeps the default); what a query may send parses
        # as before
        for name, body in es_mappings.templates("mw", product=product).items():
            searched = [m for m in _leaves(body["template"]["mappings"]["properties"])
                        if m.get("type") == "date" and m.get("index") is not False]
            want = default if name == "mw-state" else format_of
            assert searched and {m.get("format", default) for m in searched} == {want}, name
        events = es_mappings.templates("mw", product=product)["mw-events"]
        assert es_mappings.for_existing_indices(
            events["template"]["mappings"], product)["properties"].get("@timestamp") == (
            {"type": "date", "format": default} if product == ELASTICSEARCH else None)


def test_each_index_dates_are_pinned():
    """A mapping update cannot change a date's format, so ``for_existing_indices`` leaves the
    dates of schema 1 out where the template's format differs. A date added to an index must
    be added here, and to ``es_mappings.SCHEMA_1_DATES`` only if it was there at schema 1."""
    from collector.store import fields

    dates = {index: sorted(n for n, s in schema.items() if s.type == "date")
             for index, schema in fields.SCHEMAS.items()}
    assert dates == {"events": ["@timestamp", "event.created", "event.ingested"],
                     "traces": ["ended_at", "last_seen", "started_at"],
                     "deadletter": ["@timestamp"], "alerts": ["@timestamp"]}
    # event.created came with schema 2/3, the others were there at schema 1
    assert es_mappings.SCHEMA_1_DATES == {"@timestamp", "event.ingested", "started_at",
                                          "ended_at", "last_seen"}


def test_an_update_maps_a_date_added_since_schema_1_in_the_template_format():
    """The update dropped every date in another format than the default: a searched date
    added by a later schema would never have been mapped on OpenSearch's existing indices
    (``dynamic: false``: unsearchable there for good)."""
    exact = es_mappings.OPENSEARCH_DATE_FORMAT
    mappings = {"dynamic": False, "properties": {
        "@timestamp": {"type": "date", "format": exact},
        "started_at": {"type": "date", "format": exact},
        "event": {"properties": {"resolved": {"type": "date", "format": exact}}}}}
    lean = es_mappings.for_existing_indices(mappings, OPENSEARCH)
    assert lean["properties"] == {
        "event": {"properties": {"resolved": {"type": "date", "format": exact}}}}
    traces = es_mappings.templates("mw", product=OPENSEARCH)["mw-traces"]["template"]
    assert not {"started_at", "ended_at", "last_seen"} & set(
        es_mappings.for_existing_indices(traces["mappings"], OPENSEARCH)["properties"])


def _leaves(props: dict):
    for mapping in props.values():
        yield from _leaves(mapping["properties"]) if "properties" in mapping else [mapping]


@pytest.mark.parametrize("reason, key", [
    ("illegal_argument_exception: can't merge a non object mapping [labels.a] with an object "
     "mapping", "a"),
    ("mapper_parsing_exception: Could not dynamically add mapping for field [a.b]. Existing "
     "mapping for [labels.a] must be of type object but found [keyword].", "a"),
    ("mapper_parsing_exception: failed to parse field [labels.a] of type [keyword] in document "
     "with id '9c'. Preview of field's value: '{c=z}'", "a"),
    ("mapper_parsing_exception: object mapping for [labels.k] tried to parse field [k] as "
     "object, but found a concrete value", "k"),
    ("illegal_argument_exception: mapper [labels.alerts.x] cannot be changed from type "
     "[keyword] to [ObjectMapper]", "alerts.x"),
])
def test_opensearch_label_clashes_name_the_key_and_the_fix(reason, key):
    """OpenSearch 2.19's own words for a label key both value and object (each seen)."""
    explained = es_mappings.explain_refusal(reason)
    assert explained.startswith(reason)
    assert f"label {key!r} is a value in one place" in explained
    assert f"e.g. to '{key}.value'" in explained


def test_other_refusals_are_left_as_the_engine_said_them():
    for reason in ("mapper_parsing_exception: failed to parse field [@timestamp] of type [date]",
                   "illegal_argument_exception: Limit of total fields [5000] has been exceeded"):
        assert es_mappings.explain_refusal(reason) == reason


def test_replicas_expand_to_the_nodes_there_are_unless_set():
    for product in (ELASTICSEARCH, OPENSEARCH):
        for body in es_mappings.templates("mw", product=product).values():
            assert body["template"]["settings"]["auto_expand_replicas"] == "0-1"
            assert "number_of_replicas" not in body["template"]["settings"]
    fixed = es_mappings.templates("mw", replicas=2)["mw-traces"]["template"]["settings"]
    assert fixed["number_of_replicas"] == 2 and "auto_expand_replicas" not in fixed


def test_opensearch_is_asked_for_both_neighbouring_ranks():
    # p95 of 12 values: rank 0.95 * 11 = 10.45, between the 11th and 12th value
    low, high, frac = rank_percents(95, 12)
    assert (low, high, frac) == (pytest.approx(10.5 / 12 * 100), pytest.approx(11.5 / 12 * 100),
                                 pytest.approx(0.45))
    assert rank_percents(95, 4) == (pytest.approx(62.5), pytest.approx(87.5), pytest.approx(0.85))
    assert rank_percents(100, 5)[1:] == (pytest.approx(90), pytest.approx(1.0))
    assert rank_percents(0, 5) == (pytest.approx(10), pytest.approx(30), 0)
    assert rank_percents(95, 1) == rank_percents(95, 0) == (95, 95, 0.0)
    assert rank_percents(95, 100_000)[0] == pytest.approx(95, abs=0.001)


def test_readme_names_the_versions_ci_starts_and_the_doctor_accepts():
    """README "Stores" says which versions are tested: exactly those services.sh starts by
    default, each inside the range the doctor takes as tested (``engines.TESTED``)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    readme = " ".join((root / "README.md").read_text().split())
    tested = readme.split("**Tested**", 1)[1].split(". ", 1)[0]
    named = {(p, v) for p, v in re.findall(r"(Elasticsearch|OpenSearch) (\d+\.\d+\.\d+)", tested)}
    script = (root / "deploy/local/services.sh").read_text()
    started = {
        ("Elasticsearch" if var in ("ES", "ES8") else "OpenSearch", v)
        for var, v in re.findall(r'^(ES|ES8|OPENSEARCH|OPENSEARCH3)_VERSION="\$\{MIDWATCH_\w+:-'
                                 r'([\d.]+)\}"', script, re.M)}
    assert named == started and len(started) == 4, (named, started)
    for product, version in named:
        assert Engine(OPENSEARCH if product == "OpenSearch" else ELASTICSEARCH, version).tested()
