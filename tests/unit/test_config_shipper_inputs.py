"""The syslog and http inputs' configuration: defaults, and the mistakes a person can act on."""

from __future__ import annotations

import pytest

from collector.config import config_from_doc
from collector.inputs.http import Config as HttpConfig
from collector.inputs.syslog import Config as SyslogConfig
from collector.yamlconf import ConfigError, loads


def inputs(text: str):
    return config_from_doc(loads(f"inputs:\n{text}", "mw.yaml")).inputs


def error(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        inputs(text)
    return str(exc.value)


def test_defaults():
    syslog, http = inputs("  - {type: syslog}\n  - {type: http, max_body_bytes: 1MiB}\n")
    assert syslog == SyslogConfig(name="syslog-0")
    assert (syslog.listen, syslog.protocol, syslog.max_message_bytes) == (
        ("127.0.0.1", 5514), "tcp", 64 * 1024)
    assert isinstance(http, HttpConfig) and http.max_body_bytes == 1024 * 1024
    assert http.listen == ("127.0.0.1", 9280) and http.ack_timeout_ms == 10_000


def test_plain_syslog_off_loopback_is_refused_with_the_way_out():
    message = error("  - {type: syslog, listen: 0.0.0.0:514, protocol: udp}\n")
    assert "mw.yaml:2" in message and "refusing plain syslog on 0.0.0.0" in message
    assert "protocol: tls" in message


def test_tls_needs_its_certificate():
    assert "protocol tls needs tls.cert and tls.key" in error(
        "  - {type: syslog, protocol: tls}\n")


def test_http_off_loopback_needs_tokens_and_keys_are_checked():
    assert "without tokens" in error("  - {type: http, listen: 0.0.0.0:9280}\n")
    assert "max_body" in error("  - {type: http, max_body: 1MiB}\n")
