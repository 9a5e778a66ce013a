"""Raw query rules (``type: query``) on an index midwatch never wrote, in the real
Elasticsearch 9 and 8 and OpenSearch 2 and 3: the rules fire on the index's own fields
(``http.response.status_code``), are checked against its mapping, and SQLite refuses them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.event import ms_to_iso
from collector.store.sqlite import SQLiteStore
from collector.yamlconf import loads
from rules.backfill import backfill
from rules.config import RulesConfig
from rules.engine import Engine
from rules.loader import parse_rule
from rules.sources import check_sources

T0 = 1_796_040_000_000  # 2026-11-30T12:00:00Z
MIN = 60_000

RULES = """\
rules:
  - name: web-5xx
    type: query
    index: {pattern}
    query: 'http.response.status_code:>=500'
    group_by: [url.domain]
    above: 3
    window: 5m
    annotations: {{summary: "{{{{ count }}}} 5xx on {{{{ labels.url_domain }}}}"}}
  - name: web-slow
    type: query
    index: {pattern}
    query: {{range: {{event.duration: {{gte: 1000}}}}}}
    timestamp_field: event.created
    measure: {{field: event.duration, agg: max, unit: ms}}
    above: 0
    window: 5m
"""


def _docs(index: str) -> Iterator[dict]:
    # shop.example: 5 server errors in the last 5 minutes; api.example: 2 (under the bound);
    # one slow request on shop.example (3 s), stamped in event.created as well.
    for i in range(5):
        yield _doc(index, i, "shop.example", 502, T0 - (i + 1) * MIN + 1000, 120)
    for i in range(2):
        yield _doc(index, 10 + i, "api.example", 503, T0 - (i + 1) * MIN, 80)
    for i in range(6):
        yield _doc(index, 20 + i, "api.example", 200, T0 - (i + 1) * 30_000, 3000 if i == 2 else 40)


def _doc(index: str, i: int, domain: str, status: int, ts: int, duration: int) -> dict:
    return {"_index": index, "_id": str(i), "_source": {
        "@timestamp": ms_to_iso(ts), "event": {"created": ms_to_iso(ts), "duration": duration},
        "url": {"domain": domain}, "http": {"response": {"status_code": status}}}}


MAPPING = {"properties": {
    "@timestamp": {"type": "date"}, "event": {"properties": {
        "created": {"type": "date"}, "duration": {"type": "long"}}},
    "url": {"properties": {"domain": {"type": "keyword"}}},
    "http": {"properties": {"response": {"properties": {"status_code": {"type": "long"}}}}}}}


@pytest.fixture(params=["elasticsearch", "es8", "opensearch", "opensearch3"])
def web(request, engine_store, unique_name):
    """(store, index pattern): a web-access index beside midwatch's own, both deleted after."""
    prefix = f"{unique_name}-"
    with engine_store(request.param, prefix) as store:
        client = store._client
        index = f"{prefix}web-2026.11.30"
        client.indices.create(index=index, mappings=MAPPING)
        for d in _docs(index):
            client.index(index=d["_index"], id=d["_id"], document=d["_source"])
        client.indices.refresh(index=index)
        yield store, f"{prefix}web-*"


def _rules(pattern: str, text: str = RULES) -> list:
    doc = loads(text.format(pattern=pattern))
    return [parse_rule(doc, ("rules", i), r, None) for i, r in enumerate(doc.data["rules"])]


def test_raw_query_rules_fire_on_a_foreign_index(web):
    store, pattern = web
    rules = _rules(pattern)
    assert check_sources(rules, store) == ([], True)
    engine = Engine(RulesConfig(rules=rules), store, persist=False)
    outcome = engine.evaluate(T0)
    assert not outcome.failed_rules
    firing = {(a.rule, tuple(sorted(a.labels.items()))): a for a in outcome.alerts}
    assert set(firing) == {("web-5xx", (("url_domain", "shop.example"),)), ("web-slow", ())}
    assert firing[("web-5xx", (("url_domain", "shop.example"),))].value == 5.0
    assert firing[("web-5xx", (("url_domain", "shop.example"),))].annotations["summary"] \
        == "5 5xx on shop.example"
    assert firing[("web-slow", ())].value == 3000.0
    # ten minutes later both windows are empty: backfill over the span fires and resolves
    report = backfill(RulesConfig(rules=rules), store, T0 - 10 * MIN, T0 + 10 * MIN, MIN)
    events = [(c.rule, c.event, c.at_ms) for c in report.timeline]
    assert ("web-5xx", "firing", T0 - MIN) in events  # the first window holding 4 errors
    assert ("web-5xx", "resolved", T0 + 2 * MIN) in events
    assert [e for e in events if e[0] == "web-slow"] == [("web-slow", "firing", T0 - MIN),
                                                         ("web-slow", "resolved", T0 + 4 * MIN)]


def test_the_cluster_checks_fields_and_query(web):
    store, pattern = web
    bad = RULES.replace("url.domain]", "url.domian]").replace("url_domain", "url_domian") \
        .replace("timestamp_field: event.created", "timestamp_field: url.domain") \
        .replace("'http.response.status_code:>=500'", "'http.response.status_code:[500 TO'")
    errors, reached = check_sources(_rules(pattern, bad), store)
    assert reached
    text = "\n".join(str(e) for e in errors)
    assert "field 'url.domian' is not mapped" in text
    assert "timestamp_field 'url.domain' is keyword, not a date" in text
    assert "the query is refused" in text
    assert all(e.line for e in errors)  # each at its rule's line
    missing = RULES.replace("{pattern}", "no-such-index-*")
    errors, _ = check_sources(_rules(pattern, missing), store)
    assert "matches no index" in str(errors[0])


def test_sqlite_refuses_raw_query_rules(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.setup()
    try:
        errors, reached = check_sources(_rules("logs-*"), store)
        assert reached and len(errors) == 2
        assert "need an Elasticsearch or OpenSearch store" in str(errors[0])
    finally:
        store.close()
