"""The probes: section: defaults per kind, and errors that name file, line and key."""

from __future__ import annotations

import pytest

from collector.config import config_from_doc
from collector.probes.config import load_probes
from collector.yamlconf import ConfigError, loads


def _probes(text: str):
    return load_probes(config_from_doc(loads(text, file="midwatch.yaml")))


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        _probes(text)
    return str(err.value)


def test_default_intervals_and_timeouts():
    specs = _probes("""
probes:
  - {name: lag, kind: kafka}
  - {name: broker, kind: rabbitmq}
  - {name: api, kind: http, url: "https://api.example.com/health"}
  - {name: store, kind: elasticsearch}
  - {name: certs, kind: tls, endpoints: ["api.example.com:443"]}
  - {name: retired, kind: tls, endpoints: ["old.example.com:443"], enabled: false}
  - {name: fast, kind: http, url: "http://127.0.0.1:8080/healthz", interval: 5s, timeout: 2s}
""")
    assert [(s.name, s.interval_ms, s.timeout_ms) for s in specs] == [
        ("lag", 30_000, 10_000), ("broker", 30_000, 10_000), ("api", 30_000, 10_000),
        ("store", 60_000, 10_000), ("certs", 3_600_000, 10_000), ("fast", 5_000, 2_000)]


def test_no_probes_section_means_no_probes():
    assert _probes("store: {kind: sqlite}\n") == []


def test_tls_endpoints_take_strings_or_mappings():
    [spec] = _probes("""
probes:
  - name: certs
    kind: tls
    endpoints:
      - "api.example.com:443"
      - {address: "10.0.0.5:9093", server_name: kafka.example.com}
      - {address: "smtp.example.com:587", starttls: smtp}
""")
    assert [(e.host, e.port, e.server_name, e.starttls) for e in spec.settings.endpoints] == [
        ("api.example.com", 443, "api.example.com", "none"),
        ("10.0.0.5", 9093, "kafka.example.com", "none"),
        ("smtp.example.com", 587, "smtp.example.com", "smtp")]


def test_kafka_probe_uses_the_kafka_section_connection():
    [spec] = _probes("""
kafka: {bootstrap: ["broker-1:9092", "broker-2:9092"], client_id: watcher}
probes:
  - {name: lag, kind: kafka, groups: [orders], dead_letter_topics: [orders-failed]}
""")
    opts = spec.settings.client_options
    assert opts["bootstrap_servers"] == ["broker-1:9092", "broker-2:9092"]
    assert opts["client_id"] == "watcher"
    assert spec.settings.groups == ("orders",)


@pytest.mark.parametrize(("text", "expected"), [
    ("probes: {name: x}\n", "midwatch.yaml:1:1: probes: expected a list of probes"),
    ("probes:\n  - {name: x, kind: rabitmq}\n",
     "midwatch.yaml:2:15: probes.0.kind: unknown probe kind 'rabitmq' (did you mean 'rabbitmq'?)"),
    ("probes:\n  - {name: x}\n", "midwatch.yaml:2:5: probes.0.kind: is required"),
    ("probes:\n  - {name: x, kind: http, url: 'http://a/', intervall: 5s}\n",
     "probes.0.intervall: unknown key (did you mean 'interval'?)"),
    ("probes:\n  - {name: x, kind: http, url: 'http://a/'}\n  - {name: x, kind: kafka}\n",
     "midwatch.yaml:3:6: probes.1.name: probe 'x' is defined twice"),
    ("probes:\n  - {name: x, kind: http, url: 'http://a/', interval: 5s, timeout: 10s}\n",
     "probes.0.timeout: is longer than the interval (5000 ms)"),
    ("probes:\n  - {name: x, kind: http, url: 'ftp://a/'}\n",
     "probes.0.url: expected an http(s):// URL, got 'ftp://a/'"),
    ("probes:\n  - {name: x, kind: http, url: 'http://a/', expect_status: [200, 'ok']}\n",
     "probes.0.expect_status: expected HTTP status codes"),
    ("probes:\n  - {name: x, kind: tls, endpoints: ['api.example.com']}\n",
     "midwatch.yaml:2:38: probes.0.endpoints.0.address: expected HOST:PORT, got 'api.example.com'"),
    ("probes:\n  - {name: x, kind: tls, endpoints: [{address: 'a:1', starttls: imap}]}\n",
     "probes.0.endpoints.0.starttls: expected one of none, smtp, got 'imap'"),
    ("probes:\n  - {name: x, kind: kafka, dead_letter_pattern: '(dlq'}\n",
     "probes.0.dead_letter_pattern: not a regular expression"),
    ("probes:\n  - {name: x, kind: rabbitmq, password: guest}\n",
     "probes.0.password: secrets must not be written in YAML"),
    ("probes:\n  - {name: x, kind: elasticsearch, index_prefix: '-bad'}\n",
     "probes.0.index_prefix: index prefix '-bad' is not usable"),
])
def test_errors_name_file_line_and_key(text, expected):
    assert expected in _error(text)


def test_the_example_config_documents_every_probe_kind(monkeypatch):
    from pathlib import Path

    from collector.config import load_config
    from collector.probes import PROBES

    monkeypatch.setenv("MIDWATCH_API_TOKEN", "a")
    monkeypatch.setenv("MIDWATCH_OTLP_TOKEN", "b")
    example = Path(__file__).parents[3] / "deploy" / "midwatch.example.yaml"
    specs = load_probes(load_config(example))
    assert sorted({s.kind for s in specs}) == PROBES.names()
