"""Boards as data: SDK round trip, conventions, field references, provisioning output, and the
replayer's request building against Grafana's own golden requests (no services needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from collector.store import fields
from dashboards import common as c
from dashboards import expressions
from dashboards.boards.alerts import ALERT_FIELDS
from dashboards.datasources import EsDatasource, by_uid
from dashboards.frames import Field, Frame, transform
from dashboards.provision import DATASOURCE_FILE, PROVIDER_FILE, board_docs, render
from dashboards.replay import (
    ALL,
    TimeRange,
    Variable,
    indices,
    interpolate,
    interval_ms,
    panels,
    search_request,
)
from dashboards.settings import BoardSettings
from midwatch.cli import main

REPO = Path(__file__).resolve().parents[2]
SETTINGS = BoardSettings()
DOCS = board_docs(SETTINGS)
SOURCES = by_uid(SETTINGS)
FILTER_VARS = {"flow", "partner", "platform", "environment"}
_FIELD_IN_QUERY = re.compile(r"(?<![\w.\\])(_exists_:)?([@A-Za-z][\w.@]*):")


def _all_panels():
    return [(slug, p) for slug, doc in DOCS.items() for p in panels(doc)]


@pytest.mark.parametrize("slug", sorted(DOCS))
def test_board_round_trips_through_the_foundation_sdk_models(slug):
    doc = DOCS[slug]
    again = json.loads(JSONEncoder().encode(Dashboard.from_json(doc)))
    assert again == doc


def test_boards_have_stable_uids_tags_links_and_described_panels():
    assert sorted(doc["uid"] for doc in DOCS.values()) == [
        "midwatch-alerts", "midwatch-overview", "midwatch-partners", "midwatch-platforms",
        "midwatch-queues", "midwatch-slos", "midwatch-traces"]
    for slug, doc in DOCS.items():
        assert "midwatch" in doc["tags"] and len(doc["tags"]) >= 2, slug
        assert doc["links"][0]["type"] == "dashboards" and doc["links"][0]["tags"] == ["midwatch"]
        titles = [p["title"] for p in panels(doc)]
        assert len(titles) == len(set(titles)), f"{slug}: duplicate panel titles"
        for panel in panels(doc):
            assert len(panel.get("description", "")) > 30, f"{slug}/{panel['title']}"
            assert panel["gridPos"]["w"] <= 24
    assert build_twice_is_identical()


def build_twice_is_identical() -> bool:
    return board_docs(SETTINGS) == DOCS


def test_filter_variables_are_multi_value_with_an_all_that_matches_missing_fields():
    for slug, doc in DOCS.items():
        variables = {v["name"]: v for v in doc["templating"]["list"]}
        assert FILTER_VARS & set(variables), slug
        for name in FILTER_VARS & set(variables):
            v = variables[name]
            assert (v["multi"], v["includeAll"], v["allValue"]) == (True, True, "* OR *:*")
            assert v["current"]["value"] == ALL


def _fields_of_panel(panel: dict) -> list[tuple[str, str]]:
    """(store index, field) for every field a panel's Elasticsearch queries name."""
    found = []
    for target in panel["targets"]:
        if target.get("datasource", {}).get("type") != "elasticsearch":
            continue
        index = SOURCES[target["datasource"]["uid"]].store_index
        query = re.sub(r'"[^"]*"|\$\{[^}]*\}|\$\w+', "", target.get("query", ""))
        found += [(index, m.group(2)) for m in _FIELD_IN_QUERY.finditer(query)]
        found += [(index, b["field"]) for b in target.get("bucketAggs", []) if b.get("field")]
        found += [(index, m["field"]) for m in target.get("metrics", []) if m.get("field")]
        for t in panel.get("transformations", []):
            if t["id"] == "filterFieldsByName":
                # "<field> (first)" is a groupBy result: the field it reduced must exist
                found += [(index, re.sub(r" \((first)\)$", "", n))
                          for n in t["options"]["include"]["names"] if n != "Count"]
            elif t["id"] == "groupBy":
                found += [(index, n) for n in t["options"]["fields"]]
    return found


def test_panels_reference_only_fields_the_index_mappings_have():
    checked = 0
    for slug, panel in _all_panels():
        for index, name in _fields_of_panel(panel):
            checked += 1
            if index == "alerts":
                assert name in ALERT_FIELDS or name.startswith("labels."), (slug, name)
            else:
                fields.spec(index, name)  # raises naming the field and a fix
    assert checked > 100


def test_the_field_walk_catches_a_misspelt_field():
    panel = {"targets": [{"datasource": {"type": "elasticsearch", "uid": "midwatch-events"},
                          "query": "(midwatch.flw:$flow) AND event.outcome:failure"}]}
    with pytest.raises(ValueError, match="midwatch.flow"):
        for index, name in _fields_of_panel(panel):
            fields.spec(index, name)


def test_variable_queries_name_mapped_event_fields():
    for doc in DOCS.values():
        for v in doc["templating"]["list"]:
            if v["type"] == "query":
                fields.spec("events", json.loads(v["query"])["field"])


def test_datasources_use_json_data_index_without_es_version_or_database():
    events = SOURCES["midwatch-events"].grafana("http://es:9200")
    assert events["jsonData"]["index"] == "[midwatch-events-]YYYY.MM.DD"
    assert events["jsonData"]["interval"] == "Daily"
    assert events["jsonData"]["logMessageField"] == "message"
    assert events["jsonData"]["logLevelField"] == "log.level"
    for ds in SOURCES.values():
        body = ds.grafana("http://es:9200")
        assert "database" not in body and "esVersion" not in body["jsonData"]
    assert SOURCES["midwatch-traces"].grafana("x")["jsonData"]["index"] == "midwatch-traces"


# --- request building, checked against Grafana's golden requests -------------------------

RANGE = TimeRange(1668422437218, 1668422625668)
TESTTIME = EsDatasource("haha", "golden", "events", "logs", "testtime")


def test_metric_request_matches_grafanas_golden_metric_simple():
    """pkg/tsdb/elasticsearch/testdata_request/metric_simple.{queries,request.line1}.json"""
    target = {"refId": "a", "query": "", "metrics": [{"id": "1", "type": "count"}],
              "bucketAggs": [
                  {"field": "label", "id": "3", "type": "terms", "settings": {
                      "min_doc_count": "1", "order": "desc", "orderBy": "_term", "size": "10"}},
                  {"field": "testtime", "id": "2", "type": "date_histogram",
                   "settings": {"interval": "1m"}}]}
    header, body = search_request(target, TESTTIME, RANGE, {})
    assert body == {
        "aggs": {"3": {
            "aggs": {"2": {"date_histogram": {
                "extended_bounds": {"max": 1668422625668, "min": 1668422437218},
                "field": "testtime", "fixed_interval": "1m", "format": "epoch_millis",
                "min_doc_count": 0}}},
            "terms": {"field": "label", "min_doc_count": 1, "order": {"_key": "desc"},
                      "size": 10}}},
        "query": {"bool": {"filter": {"range": {"testtime": {
            "format": "epoch_millis", "gte": 1668422437218, "lte": 1668422625668}}}}},
        "size": 0,
    }
    assert header == {"search_type": "query_then_fetch", "ignore_unavailable": True,
                      "index": "logs"}


def test_raw_data_request_matches_grafanas_golden_raw_data():
    target = {"refId": "a", "query": "", "metrics": [{"id": "1", "type": "raw_data"}]}
    _, body = search_request(target, TESTTIME, RANGE, {})
    assert body == {
        "docvalue_fields": ["testtime"],
        "query": {"bool": {"filter": {"range": {"testtime": {
            "format": "epoch_millis", "gte": 1668422437218, "lte": 1668422625668}}}}},
        "script_fields": {}, "size": 500,
        "sort": {"testtime": {"order": "desc", "unmapped_type": "boolean"},
                 "_doc": {"order": "desc"}},
        "fields": [{"field": "testtime", "format": "strict_date_optional_time_nanos"}],
    }


def test_auto_interval_respects_the_panel_minimum_and_rounds_like_grafana():
    six_hours = TimeRange(0, 6 * 3_600_000)
    assert interval_ms(six_hours) == 20_000  # 21.6 s per point rounds to 20 s
    assert interval_ms(six_hours, 300_000) == 300_000
    assert interval_ms(TimeRange(0, 60_000)) == 10_000  # never below the datasource's 10 s


def test_query_string_added_after_the_range_with_variables_interpolated():
    target = {"refId": "A", "query": "(midwatch.flow:$flow) AND (midwatch.partner:$partner)",
              "metrics": [{"id": "1", "type": "count"}],
              "bucketAggs": [{"id": "2", "type": "date_histogram", "settings": {"interval": "auto"}}]}
    variables = {"flow": Variable("flow", ("order-to-cash", "a b")),
                 "partner": Variable("partner", ALL, "* OR *:*")}
    _, body = search_request(target, SOURCES["midwatch-events"], RANGE, variables)
    range_filter, query_string = body["query"]["bool"]["filter"]
    assert "range" in range_filter
    assert query_string == {"query_string": {
        "query": '(midwatch.flow:("order\\-to\\-cash" OR "a\\ b")) AND (midwatch.partner:* OR *:*)',
        "analyze_wildcard": True}}
    assert body["aggs"]["2"]["date_histogram"]["field"] == "@timestamp"
    assert body["aggs"]["2"]["date_histogram"]["fixed_interval"] == "10000ms"


def test_interpolation_formats():
    v = {"id": Variable("id", '"order:4711"'), "n": Variable("n", "4711"),
         "s": Variable("s", "a:b")}
    assert interpolate("ids:${id:raw}", v) == 'ids:"order:4711"'
    assert interpolate("x:$n y:$s z:$unknown", v) == "x:4711 y:a\\:b z:$unknown"
    assert interpolate("f:$e", {"e": Variable("e", ())}) == "f:__empty__"


def test_daily_pattern_expands_to_one_index_per_utc_day():
    ds = SOURCES["midwatch-events"]
    day = 86_400_000
    start = 20_000 * day + 23 * 3_600_000  # 2024-10-04 23:00 UTC
    assert indices(ds, TimeRange(start, start + 2 * 3_600_000)) == (
        "midwatch-events-2024.10.04,midwatch-events-2024.10.05")


# --- expressions -------------------------------------------------------------------------

def _series(labels, values, times=(1, 2, 3)):
    return expressions.Item(labels, list(values), list(times))


def test_math_joins_by_labels_and_divides_like_go():
    a = [_series({"f": "x"}, [4, 0, 2]), _series({"f": "y"}, [1, 1, 1])]
    b = [_series({"f": "x"}, [1, 0, 2]), _series({"f": "z"}, [5, 5, 5])]
    out = expressions.evaluate_math("$B / $A", {"A": a, "B": b})
    assert [(i.labels, i.values[0], i.values[2]) for i in out] == [({"f": "x"}, 0.25, 1.0)]
    assert out[0].values[1] != out[0].values[1]  # 0/0 is NaN
    assert expressions.evaluate_math("1 - $A", {"A": [expressions.Item({}, [0.25])]})[0].values == [0.75]


def test_reduce_sums_each_series_and_keeps_its_labels():
    out = expressions.reduce([_series({"f": "x"}, [1, 2, 3])], "sum")
    assert (out[0].labels, out[0].values, out[0].is_number) == ({"f": "x"}, [6.0], True)


def test_math_names_a_missing_ref():
    with pytest.raises(ValueError, match=r"\$C"):
        expressions.evaluate_math("$C / $A", {"A": []})


# --- provisioning ------------------------------------------------------------------------

def _pack_rule(pack: str, name: str) -> dict:
    doc = yaml.safe_load((REPO / "rules" / "packs" / f"{pack}.yaml").read_text())
    return next(r for r in doc["rules"] if r["name"] == name)


def test_board_thresholds_are_where_the_rule_packs_page():
    assert _pack_rule("mulesoft", "mule-flow-failure-ratio")["above"] == c.FAILURE_RATIO_WARN
    assert _pack_rule("boomi", "boomi-process-errors")["above"] == c.FAILURE_RATIO_CRIT
    for pack, rule in (("generic", "stuck-messages"), ("edi", "edi-997-overdue")):
        assert _pack_rule(pack, rule).get("above", 0) + 1 == c.STUCK_PAGES_AT
    steps = {p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"]
             for slug in ("overview", "partners") for p in panels(DOCS[slug])
             if p["title"] in ("Stuck messages", "Acknowledgements overdue")}
    assert {t: [s["value"] for s in st if s["color"] == "red"] for t, st in steps.items()} == {
        "Stuck messages": [1], "Acknowledgements overdue": [1]}


def _alert_frame(rows):
    """Raw alert history documents, newest first, as the replayer flattens them."""
    names = ["@timestamp", "dedup_key", "labels.flow", "rule", "severity", "state"]
    return Frame("", [Field(n, [r[i] for r in rows]) for i, n in enumerate(names)])


def test_firing_now_keeps_each_alerts_newest_transition_when_it_is_firing():
    panel = next(p for p in panels(DOCS["alerts"]) if p["title"] == "Firing now")
    frame = _alert_frame([
        ("12:30", "k1", "order-to-cash", "stuck-messages", "error", "firing"),
        ("12:20", "k2", "edi", "edi-rejected", "error", "resolved"),
        ("12:10", "k2", "edi", "edi-rejected", "error", "firing"),
        ("12:05", "k1", "order-to-cash", "stuck-messages", "warning", "resolved"),
        ("12:00", "k1", "order-to-cash", "stuck-messages", "warning", "firing"),
    ])
    [out] = transform([frame], panel["transformations"])
    # columns absent from every document (partner, value...) are absent from the table
    assert [f.shown_as for f in out.fields] == ["Since", "Severity", "Rule", "Flow"]
    assert out.column("Since") == ["12:30"] and out.column("Rule") == ["stuck-messages"]
    assert out.column("Severity") == ["error"] and out.column("Flow") == ["order-to-cash"]


def test_group_by_and_filter_by_value_follow_grafana():
    frame = _alert_frame([("2", "a", None, "r", "info", "firing"),
                          ("1", "a", "f", "r", "info", "resolved"),
                          ("3", "b", "g", "r", "info", "resolved")])
    by_key = {"dedup_key": {"operation": "groupby"},
              "state": {"operation": "aggregate", "aggregations": ["first"]},
              "labels.flow": {"operation": "aggregate", "aggregations": ["first"]}}
    [grouped] = transform([frame], [{"id": "groupBy", "options": {"fields": by_key}}])
    # group-by columns first, then the reduced ones in the frame's order, named "<f> (first)"
    assert [f.name for f in grouped.fields] == ["dedup_key", "labels.flow (first)",
                                                "state (first)"]
    assert grouped.column("labels.flow (first)") == [None, "g"]  # first, not first non-null
    exclude = {"filters": [{"fieldName": "state (first)",
                            "config": {"id": "equal", "options": {"value": "firing"}}}],
               "type": "exclude", "match": "any"}
    [kept] = transform([grouped], [{"id": "filterByValue", "options": exclude}])
    assert kept.column("dedup_key") == ["b"]
    missing = {**exclude, "type": "include", "filters": [{**exclude["filters"][0],
                                                          "fieldName": "nope"}]}
    assert transform([grouped], [{"id": "filterByValue", "options": missing}])[0].rows == 0
    with pytest.raises(ValueError, match="reducer 'mean' is not replayed"):
        transform([frame], [{"id": "groupBy", "options": {"fields": {
            **by_key, "state": {"operation": "aggregate", "aggregations": ["mean"]}}}}])


def test_build_writes_grafanas_provisioning_layout(tmp_path, capsys):
    assert main(["dashboards", "build", "--out", str(tmp_path)]) == 0
    provider = yaml.safe_load((tmp_path / PROVIDER_FILE).read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert provider["folderUid"] == "midwatch" and provider["type"] == "file"
    sources = yaml.safe_load((tmp_path / DATASOURCE_FILE).read_text())["datasources"]
    assert {s["uid"] for s in sources} == set(SOURCES)
    assert {s["url"] for s in sources} == {"http://elasticsearch:9200"}
    boards = sorted(p.name for p in (tmp_path / "dashboards").iterdir())
    assert boards == sorted(f"{d['uid']}.json" for d in DOCS.values())
    assert len(capsys.readouterr().out.splitlines()) == 2 + len(DOCS)


def test_index_prefix_moves_datasources_with_the_store():
    files = render(BoardSettings(index_prefix="acme-mw"))
    sources = yaml.safe_load(files[DATASOURCE_FILE])["datasources"]
    assert sources[0]["jsonData"]["index"] == "[acme-mw-events-]YYYY.MM.DD"
    assert sources[2]["jsonData"]["index"] == "acme-mw-alerts"


def test_committed_deploy_grafana_is_what_build_writes():
    """docker-compose mounts deploy/grafana; regenerate with
    `midwatch dashboards build --out deploy/grafana` after changing a board."""
    for rel, text in render(SETTINGS).items():
        path = REPO / "deploy" / "grafana" / rel
        assert path.is_file(), f"{path} is missing: run midwatch dashboards build --out deploy/grafana"
        assert path.read_text() == text, f"{path} is stale: run midwatch dashboards build --out deploy/grafana"


def test_preview_reduces_as_the_panel_says_and_marks_isolated_samples():
    from dashboards import preview

    assert preview._reduce([0, 2.0, None, 1, float("nan")], "max") == 2.0
    assert preview._reduce([0, 2.0, 1], "lastNotNull") == 1 and preview._reduce([], "sum") is None
    with pytest.raises(ValueError, match="reducer 'median' is not previewed"):
        preview._reduce([1], "median")
    nan = float("nan")
    assert preview._isolated([nan, 3.0, nan, 4.0]) and not preview._isolated([1.0, 2.0, nan])


def test_opensearch_flavor_provisions_the_plugin_with_its_query_model(tmp_path, capsys):
    assert main(["dashboards", "build", "--flavor", "opensearch", "--out", str(tmp_path)]) == 0
    sources = yaml.safe_load((tmp_path / DATASOURCE_FILE).read_text())["datasources"]
    assert {s["type"] for s in sources} == {"grafana-opensearch-datasource"}
    events = next(s for s in sources if s["uid"] == "midwatch-events")["jsonData"]
    assert events["database"] == "[midwatch-events-]YYYY.MM.DD" and "index" not in events
    assert (events["flavor"], events["version"], events["interval"]) == ("opensearch", "2.19.4", "Daily")
    assert events["timeField"] == "@timestamp" and events["logMessageField"] == "message"
    text = "".join(p.read_text() for p in (tmp_path / "dashboards").iterdir())
    assert '"type": "elasticsearch"' not in text
    es_docs, os_docs = board_docs(SETTINGS), board_docs(BoardSettings(flavor="opensearch"))
    for slug, doc in os_docs.items():
        es_targets = [t for p in panels(es_docs[slug]) for t in p.get("targets", [])
                      if t.get("datasource", {}).get("type") == "elasticsearch"]
        os_targets = [t for p in panels(doc) for t in p.get("targets", [])
                      if t.get("datasource", {}).get("type") == "grafana-opensearch-datasource"]
        # the same Lucene queries, marked as such for the plugin
        assert len(os_targets) == len(es_targets)
        for es_t, os_t in zip(es_targets, os_targets, strict=True):
            assert os_t.pop("queryType") == "lucene"
            assert {**os_t, "datasource": {}} == {**es_t, "datasource": {}}


def test_opensearch_flavor_tells_the_plugin_the_engine_version_given(tmp_path, capsys):
    out = tmp_path / "os3"
    assert main(["dashboards", "build", "--flavor", "opensearch", "--engine-version", "3.3.2",
                 "--out", str(out)]) == 0
    sources = yaml.safe_load((out / DATASOURCE_FILE).read_text())["datasources"]
    assert [s["jsonData"]["version"] for s in sources] == ["3.3.2"] * 4
    # a version for the Elasticsearch datasource would be dropped: refused, saying so
    assert main(["dashboards", "build", "--engine-version", "3.3.2", "--out", str(out)]) == 2
    assert "--engine-version 3.3.2 is for --flavor opensearch only" in capsys.readouterr().err
    # semver only: the plugin's coerceOptions drops what semver.valid refuses ("3.3")
    for given in ("3", "3.3", "v3.3.2"):
        with pytest.raises(SystemExit):
            main(["dashboards", "build", "--flavor", "opensearch", "--engine-version", given,
                  "--out", str(out)])
        assert f"{given!r} is not a version: give the OpenSearch version as X.Y.Z" in \
            capsys.readouterr().err
