"""``type: query`` rules without a cluster: checked by shape at file:line, and refused by a
SQLite store at validation and at startup (``rules eval``, ``midwatch run``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_config
from collector.yamlconf import ConfigError, loads
from midwatch.cli import main
from rules.loader import parse_rule
from rules.scheduler import scheduler_worker
from rules.types.query import queries

RULE = "rules:\n  - {{name: q, type: query, index: '{index}', above: 1, {extra}}}\n"


def _parse(extra: str, index: str = "logs-*"):
    doc = loads(RULE.format(extra=extra, index=index), "r.yaml")
    return parse_rule(doc, ("rules", 0), doc.data["rules"][0], None)


@pytest.mark.parametrize(("extra", "message"), [
    ("query: {termz: {a: 1}}", "unknown query type 'termz' (did you mean 'term'"),
    ("query: {term: {a: 1}, range: {b: {gte: 1}}}", "query DSL is one query type holding a mapping"),
    ("query: '   '", "query: is empty"),
    ("query: 'status:(500 OR 502'", "unbalanced parentheses or quotes"),
    ("group_by: [x]", "query: is required: query DSL (a mapping) or a Lucene query string"),
    ("query: 'a:1', filter: {log.level: error}", "a query rule takes its condition in query:"),
    ("query: 'a:1', measure: {field: bytes, agg: p99, unit: B}", "agg"),
])
def test_shape_errors_name_the_key(extra, message):
    with pytest.raises(ConfigError) as exc:
        _parse(extra)
    assert message in str(exc.value)
    assert str(exc.value).startswith("r.yaml:2:")


@pytest.mark.parametrize("pattern", ["logs *", "_all", "a/b"])
def test_index_patterns_are_checked(pattern):
    with pytest.raises(ConfigError, match="is not an index pattern"):
        _parse("query: 'a:1'", pattern)


def test_queries_carry_the_source_and_the_index_field_names():
    rule = _parse("query: {range: {http.response.status_code: {gte: 500}}}, "
                  "group_by: [url.domain], timestamp_field: event.created, "
                  "measure: {field: event.duration, agg: avg, unit: ms}")
    count, measured = queries(rule, 1_796_040_000_000)
    assert count.source.pattern == "logs-*"
    assert count.source.query == '{"range": {"http.response.status_code": {"gte": 500}}}'
    assert count.group_by == ("url.domain",) and count.time_field == "event.created"
    assert (measured.agg.kind, measured.agg.field) == ("avg", "event.duration")


def test_sqlite_store_refuses_query_rules(tmp_path: Path, capsys):
    (tmp_path / "r.yaml").write_text(RULE.format(extra="query: 'status:>=500'", index="logs-*"))
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path}/s.sqlite}}}}\n"
                   f"rules: {{paths: [{tmp_path}/r.yaml]}}\n")
    assert main(["rules", "validate", str(tmp_path / "r.yaml")]) == 0  # shape only: fine
    capsys.readouterr()
    assert main(["rules", "validate", str(tmp_path / "r.yaml"), "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/r.yaml:2: rule q: rules with index:/query: (type query) need an " \
           "Elasticsearch or OpenSearch store" in err
    assert main(["rules", "eval", "-c", str(cfg), "--at", "now"]) == 2
    assert "need an Elasticsearch or OpenSearch store" in capsys.readouterr().err
    config = load_config(cfg)
    store = config.open_store()
    try:
        with pytest.raises(ConfigError, match="need an Elasticsearch or OpenSearch store"):
            scheduler_worker(config, store)
    finally:
        store.close()
