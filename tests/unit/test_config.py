"""The config file: the example loads, and mistakes are reported with file, line and key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from collector.config import config_from_doc, load_config
from collector.inputs.file import Config as FileConfig
from collector.inputs.kafka import Config as KafkaConfig
from collector.inputs.otlp import Config as OtlpConfig
from collector.yamlconf import ConfigError, loads

EXAMPLE = Path(__file__).parents[2] / "deploy" / "midwatch.example.yaml"


def cfg(text: str):
    return config_from_doc(loads(text, "mw.yaml"))


def error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        cfg(text)
    return str(info.value)


def test_example_config_loads_with_every_section(tokens_env):
    config = load_config(EXAMPLE)
    kinds = [type(i) for i in config.inputs]
    assert kinds == [FileConfig, KafkaConfig, OtlpConfig]
    assert config.api.listen == ("0.0.0.0", 8080)
    assert config.api.tokens[0].name == "grafana"
    assert config.api.tokens[0].sha256 == hashlib.sha256(b"api-secret-1").digest()
    assert config.collector.batch.max_bytes == 8 * 1024 * 1024
    assert config.collector.batch.linger_ms == 50
    assert cfg("collector: {batch: {linger: 200ms}}\n").collector.batch.linger_ms == 200
    assert config.correlation.sweep_interval_ms == 30_000
    assert config.edi_own_ids == frozenset({"ACMECORP"})
    store = config.open_store()
    try:
        assert type(store).__name__ == "ElasticsearchStore"
    finally:
        store.close()


def test_example_secrets_never_print(tokens_env):
    config = load_config(EXAMPLE)
    assert "api-secret-1" not in repr(config) and "otlp-secret-1" not in repr(config)


def test_config_env_fallback(monkeypatch, tmp_path):
    path = tmp_path / "mw.yaml"
    path.write_text("collector: {default_timezone: Europe/Berlin}\n")
    monkeypatch.setenv("MIDWATCH_CONFIG", str(path))
    assert load_config().collector.default_timezone == "Europe/Berlin"


def test_no_config_at_all_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("MIDWATCH_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="pass -c FILE or set MIDWATCH_CONFIG"):
        load_config()


def test_unknown_top_level_key_suggests_the_right_one():
    msg = error("colector:\n  batch: {}\n")
    assert msg.startswith("mw.yaml:1:1: colector: unknown key")
    assert "did you mean 'collector'?" in msg


def test_unknown_nested_key_names_its_line_and_path():
    msg = error("collector:\n  batch:\n    max_event: 10\n")
    assert msg.startswith("mw.yaml:3:5: collector.batch.max_event: unknown key")
    assert "did you mean 'max_events'?" in msg


def test_bad_duration_and_size():
    assert error("collector:\n  batch: {flush_interval: soon}\n").startswith(
        "mw.yaml:2:11: collector.batch.flush_interval: expected a duration")
    assert "collector.batch.max_bytes: expected a size" in error(
        "collector:\n  batch: {max_bytes: lots}\n")


def test_unknown_time_zone():
    assert "collector.default_timezone: unknown time zone 'Mars/Base'" in error(
        "collector: {default_timezone: Mars/Base}\n")


def test_inputs_unknown_type_and_missing_paths():
    assert error("inputs:\n  - type: ftp\n").startswith(
        "mw.yaml:2:5: inputs.0.type: unknown input type 'ftp'")
    assert error("inputs:\n  - type: file\n").startswith("mw.yaml:2:5: inputs.0.paths: is required")


def test_a_misspelt_input_type_gets_a_did_you_mean():
    assert error("inputs:\n  - {type: fiel, paths: [a.log]}\n") == (
        "mw.yaml:2:6: inputs.0.type: unknown input type 'fiel' (did you mean 'file'?)")


def test_input_format_must_be_known():
    msg = error("inputs:\n  - {type: file, paths: [a.log], format: mulee}\n")
    assert "inputs.0.format: unknown format 'mulee'" in msg and "did you mean 'mule'?" in msg


def test_duplicate_input_names():
    assert "two inputs are named 'x'" in error(
        "inputs:\n  - {type: stdin, name: x}\n  - {type: file, name: x, paths: [a]}\n")


def test_api_token_written_in_yaml_is_refused():
    msg = error("api:\n  tokens:\n    - {name: a, token: hunter2}\n")
    assert msg.startswith("mw.yaml:3:17: api.tokens.0.token: secrets must not be written in YAML")
    assert "hunter2" not in msg


def test_api_without_tokens_may_only_listen_on_loopback():
    assert "api.listen: refusing to listen on 0.0.0.0 without tokens" in error(
        "api: {listen: '0.0.0.0:8080'}\n")
    assert cfg("api: {listen: '[::1]:8080'}\n").api.listen == ("::1", 8080)


def test_otlp_without_tokens_may_only_listen_on_loopback():
    assert "inputs.0.listen: refusing to listen on 10.0.0.5" in error(
        "inputs:\n  - {type: otlp, listen: '10.0.0.5:4318'}\n")


def test_tls_needs_both_files(tmp_path):
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    assert "api.tls.key: tls.key is missing" in error(f"api:\n  tls: {{cert: {cert}}}\n")


def test_kafka_sasl_needs_credentials(monkeypatch):
    monkeypatch.setenv("KPW", "pw")
    assert "kafka.security.sasl_mechanism: protocol SASL_SSL needs a sasl_mechanism" in error(
        "kafka:\n  security: {protocol: SASL_SSL}\n")
    assert "kafka.security.sasl_plain_password: SASL PLAIN needs sasl_plain_password" in error(
        "kafka:\n  security: {protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, "
        "sasl_plain_username: u}\n")
    kafka = cfg("kafka:\n  api_version: '3.0'\n  security: {protocol: SASL_PLAINTEXT, "
                "sasl_mechanism: PLAIN, sasl_plain_username: u, "
                "sasl_plain_password: '${KPW}'}\n").kafka
    opts = kafka.client_options()
    assert opts["api_version"] == (3, 0) and opts["sasl_plain_password"] == "pw"
    assert "pw" not in repr(kafka)


def test_kafka_api_version_format():
    assert "kafka.api_version: expected a broker version like 3.0" in error(
        "kafka: {api_version: latest}\n")


def test_foreign_sections_keep_data_and_positions():
    config = cfg("rules:\n  packs: [core]\n  interval: 1m\n")
    section = config.section("rules")
    assert section.data == {"packs": ["core"], "interval": "1m"}
    assert str(section.doc.error((*section.path, "interval"), "bad")).startswith(
        "mw.yaml:3:3: rules.interval: bad")


def test_store_errors_keep_positions():
    config = cfg("store:\n  kind: elastic\n")
    with pytest.raises(ConfigError, match=r"^mw.yaml:2:3: store.kind: unknown store kind"):
        config.open_store()


def test_max_line_bytes_over_a_mib_is_refused_saying_why():
    """A line over 1 MiB is dead-lettered by the parse stage whatever max_line_bytes says; set
    higher, an EDI interchange over 1 MiB on one line was not read in pieces either (review R 2)."""
    msg = error("inputs:\n  - {type: file, paths: [a.edi], format: x12, max_line_bytes: 4MiB}\n")
    assert msg.startswith("mw.yaml:2:") and "inputs.0.max_line_bytes: size must be at most 1MiB" in msg
    assert cfg("inputs:\n  - {type: file, paths: [a.log], max_line_bytes: 1MiB}\n")


def test_a_password_inside_the_store_url_is_a_secret_written_in_yaml(monkeypatch):
    """``url: http://elastic:pw@es:9200`` was accepted (masked in output) while every other
    credential written in the file is refused."""
    text = "store:\n  kind: elasticsearch\n  elasticsearch: {url: 'http://elastic:hunter2@es:9200'}\n"
    with pytest.raises(ConfigError) as info:
        cfg(text).open_store()
    msg = str(info.value)
    assert msg.startswith("mw.yaml:3:") and "store.elasticsearch.url: a password in the URL" in msg
    assert "hunter2" not in msg
    monkeypatch.setenv("WALK16_ES_URL", "http://elastic:hunter2@es:9200")
    from_env = "store:\n  kind: elasticsearch\n  elasticsearch: {url: '${WALK16_ES_URL}'}\n"
    assert cfg(from_env).open_store() is not None
    assert cfg("store:\n  kind: elasticsearch\n  elasticsearch: {url: 'http://es:9200'}\n"
               ).open_store() is not None
