"""The HTTP endpoint probe against a real HTTPS server started here (status, body match,
auth header from a secret), and the Elasticsearch probe against the real cluster."""

from __future__ import annotations

import time

import pytest
from probe_targets import TestCA, http_server, server_context

from collector.config import config_from_doc
from collector.event import Event, event_id
from collector.probes.config import load_probes
from collector.probes.runner import run_once
from collector.store.elasticsearch import ElasticsearchStore
from collector.yamlconf import ConfigError, loads

pytestmark = pytest.mark.timeout(60)


def _up(events) -> dict[str, tuple]:
    return {e.service: (e.probe_value, e.outcome, e.labels.get("http.status"), e.error_message)
            for e in events if e.labels["probe.metric"] == "endpoint.up"}


def test_status_body_and_secret_auth_header(tmp_path, monkeypatch):
    ca = TestCA(tmp_path)
    cert = ca.issue("api", ["localhost", "127.0.0.1"], days=30)
    routes = {"/health": (200, b'{"status":"UP"}', "Bearer s3cret-token"),
              "/degraded": (200, b'{"status":"DOWN"}', None),
              "/broken": (503, b"maintenance", None)}
    monkeypatch.setenv("API_AUTH", "Bearer s3cret-token")
    monkeypatch.setenv("WRONG_AUTH", "Bearer guessed")
    with http_server(routes, server_context(cert)) as port:
        base = f"https://127.0.0.1:{port}"
        doc = loads(f"""
probes:
  - {{name: ok, kind: http, url: "{base}/health", ca_file: "{ca.path}",
     body_contains: '"status":"UP"', secret_headers: {{Authorization: "${{API_AUTH}}"}}}}
  - {{name: unauthorized, kind: http, url: "{base}/health", ca_file: "{ca.path}",
     secret_headers: {{Authorization: "${{WRONG_AUTH}}"}}}}
  - {{name: degraded, kind: http, url: "{base}/degraded", ca_file: "{ca.path}",
     body_regex: 'status.:.UP'}}
  - {{name: broken, kind: http, url: "{base}/broken", ca_file: "{ca.path}",
     headers: {{Accept: application/json}}}}
  - {{name: maintenance-expected, kind: http, url: "{base}/broken", ca_file: "{ca.path}",
     expect_status: [503]}}
  - {{name: untrusted, kind: http, url: "{base}/health"}}
""")
        events = run_once(load_probes(config_from_doc(doc)))
    up = _up(events)
    assert up["ok"] == (1, "success", "200", None)
    assert up["unauthorized"] == (0, "failure", "401", "HTTP 401, expected 200")
    assert up["degraded"] == (0, "failure", "200",
                              "body does not match 'status.:.UP'")
    assert up["broken"] == (0, "failure", "503", "HTTP 503, expected 200")
    assert up["maintenance-expected"] == (1, "success", "503", None)
    value, outcome, status, error = up["untrusted"]
    assert (value, outcome, status) == (0, "failure", None) and "CERTIFICATE_VERIFY_FAILED" in error
    latency = [e for e in events if e.service == "ok" and e.labels["probe.metric"] == "http.latency_ms"]
    assert len(latency) == 1 and 0 <= latency[0].probe_value < 10_000
    assert all("s3cret" not in (e.message + (e.error_message or "")) for e in events)


def test_a_literal_secret_header_is_refused():
    doc = loads("""
probes:
  - name: api
    kind: http
    url: https://api.example.com/health
    secret_headers: {Authorization: Bearer literal}
""", file="midwatch.yaml")
    with pytest.raises(ConfigError) as err:
        load_probes(config_from_doc(doc))
    assert str(err.value).startswith("midwatch.yaml:6:")
    assert "secret_headers.Authorization: secrets must not be written in YAML" in str(err.value)


def test_elasticsearch_health_and_index_sizes(es, es_url, es_index_prefix):
    store = ElasticsearchStore(client=es, index_prefix=es_index_prefix)
    store.setup()
    ts = 1_709_546_400_000
    store.write_events([Event(ts + i, "app.log", "generic", f"m{i}", id=event_id("es-probe", str(i)))
                        for i in range(7)])
    store.refresh()
    es.indices.flush(index=f"{es_index_prefix}*")
    doc = loads(f"""
probes:
  - {{name: store, kind: elasticsearch, url: "{es_url}", index_prefix: "{es_index_prefix}"}}
""")
    probes = load_probes(config_from_doc(doc))
    # The cluster's status is every test's: another worker's collector creating an index
    # turns it red for a moment. Probed again until the probe and the health read after it
    # saw the same cluster (a probe that misreads it never agrees: the assert fails).
    deadline = time.monotonic() + 30
    while True:
        events = run_once(probes)
        by_metric: dict[str, list] = {}
        for e in events:
            by_metric.setdefault(e.labels["probe.metric"], []).append(e)
        [status] = by_metric["es.cluster_status"]
        health = es.cluster.health()
        if status.labels["es.status"] == health["status"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status.labels["es.status"] == health["status"]
    assert status.probe_value == {"green": 0, "yellow": 1, "red": 2}[health["status"]]
    docs = {e.labels["es.index"]: e.probe_value for e in by_metric["es.index_docs"]}
    events_index = f"{es_index_prefix.rstrip('-')}-events-2024.03.04"
    assert docs[events_index] == 7
    sizes = {e.labels["es.index"]: e.probe_value for e in by_metric["es.index_bytes"]}
    assert set(sizes) == set(docs) and sizes[events_index] > 0
    assert all(name.startswith(es_index_prefix) for name in docs)


@pytest.mark.timeout(300)  # the secure node may have to start first (shared session fixture)
def test_elasticsearch_probe_with_tls_and_a_password_from_a_file(secure_es, tmp_path):
    secret = tmp_path / "es-password"
    secret.write_text(secure_es.password)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password")
    doc = loads(f"""
probes:
  - {{name: secure, kind: elasticsearch, url: "{secure_es.url}", ca_file: "{secure_es.ca}",
     username: {secure_es.username}, password: "file:{secret}"}}
  - {{name: denied, kind: elasticsearch, url: "{secure_es.url}", ca_file: "{secure_es.ca}",
     username: {secure_es.username}, password: "file:{wrong}"}}
  - {{name: untrusting, kind: elasticsearch, url: "{secure_es.url}",
     username: {secure_es.username}, password: "file:{secret}"}}
""")
    events = run_once(load_probes(config_from_doc(doc)))
    up = {e.service: (e.probe_value, e.error_message or "") for e in events
          if e.labels["probe.metric"] == "probe.up"}
    assert up["secure"] == (1, "")
    assert up["denied"][0] == 0 and "HTTP 401" in up["denied"][1]
    assert up["untrusting"][0] == 0 and "CERTIFICATE_VERIFY_FAILED" in up["untrusting"][1]
    assert any(e.service == "secure" and e.labels["probe.metric"] == "es.cluster_status"
               for e in events)
    assert all(secure_es.password not in (e.message + (e.error_message or "")) for e in events)
