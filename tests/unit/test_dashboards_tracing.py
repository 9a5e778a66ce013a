"""ui.tracing: the Jaeger/Tempo datasource is provisioned and the Traces board links each
journey into Grafana Explore, only when configured; a wrong setting names file:line."""

import json

import pytest

from collector.yamlconf import ConfigError, load
from dashboards.provision import render
from dashboards.settings import BoardSettings, tracing_source_from
from dashboards.tracing import TracingSource, interpolate, jaeger_search_params


def _explore_links(files: dict[str, str]) -> list[dict]:
    board = json.loads(files["dashboards/midwatch-traces.json"])
    return [link for p in board["panels"]
            for link in p.get("fieldConfig", {}).get("defaults", {}).get("links") or []
            if "internal" in link]


def test_without_tracing_nothing_is_provisioned_or_linked():
    files = render(BoardSettings())
    assert "midwatch-tracing" not in files["provisioning/datasources/midwatch.yaml"]
    assert _explore_links(files) == []


@pytest.mark.parametrize("kind,field", [("jaeger", "tags"), ("tempo", "query")])
def test_a_configured_tool_is_provisioned_and_linked(tmp_path, kind, field):
    path = tmp_path / "mw.yaml"
    path.write_text(f"ui:\n  tracing:\n    type: {kind}\n    url: http://{kind}:1234/\n")
    source = tracing_source_from(load(path))
    assert source == TracingSource(kind, f"http://{kind}:1234")
    files = render(BoardSettings(tracing=source))
    provisioned = files["provisioning/datasources/midwatch.yaml"]
    assert f"type: {kind}" in provisioned and f"url: http://{kind}:1234\n" in provisioned
    [link] = _explore_links(files)
    assert link["internal"]["datasourceUid"] == "midwatch-tracing"
    filled = interpolate(link["internal"]["query"], {"flow": "orders", "trace_key": "order:PO 4711"})
    if kind == "jaeger":
        assert filled == {"refId": "A", "queryType": "search", "service": "orders",
                          "tags": 'midwatch.trace_key="order:PO 4711"'}
        params = jaeger_search_params(filled)
        assert params["service"] == "orders"
        assert json.loads(params["tags"]) == {"midwatch.trace_key": "order:PO 4711"}
    else:
        assert filled[field] == '{ span.midwatch.trace_key = "order:PO 4711" }'


@pytest.mark.parametrize("text,message", [
    ("ui:\n  tracing:\n    type: zipkin\n    url: http://z\n", "3:5: ui.tracing.type"),
    ("ui:\n  tracing:\n    type: tempo\n", "ui.tracing.url"),
    ("ui:\n  tracing:\n    url: jaeger:16686\n", "3:5: ui.tracing.url: expected an http(s) URL"),
])
def test_a_wrong_setting_names_the_line(tmp_path, text, message):
    path = tmp_path / "mw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        tracing_source_from(load(path))
    assert message in str(err.value)
