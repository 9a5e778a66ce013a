"""The top-level ``smtp:`` section gives every email notifier its server and credentials."""

from __future__ import annotations

import pytest

from collector.yamlconf import ConfigError, loads
from rules.config import load_notifiers

CONFIG = """\
notifiers:
  ops-mail: {type: email, to: [ops@example.com]}
  dba-mail: {type: email, to: [dba@example.com], host: other.example.com, port: 2525}
  pager: {type: webhook, url: "http://127.0.0.1:1/hook"}
smtp:
  host: mail.example.com
  from: midwatch@example.com
  username: midwatch
  password: ${MW_TEST_SMTP_PASSWORD}
"""


def test_email_notifiers_inherit_smtp_and_may_override(monkeypatch):
    monkeypatch.setenv("MW_TEST_SMTP_PASSWORD", "s3cret-smtp")
    notifiers = load_notifiers(loads(CONFIG, "midwatch.yaml"))
    ops, dba = notifiers["ops-mail"].options, notifiers["dba-mail"].options
    assert (ops.host, ops.port, ops.sender, ops.to) == ("mail.example.com", 587, "midwatch@example.com",
                                                        ("ops@example.com",))
    assert ops.username == "midwatch" and ops.password.reveal() == "s3cret-smtp"
    assert (dba.host, dba.port, dba.password.reveal()) == ("other.example.com", 2525, "s3cret-smtp")
    assert "s3cret-smtp" not in repr(ops)


def test_smtp_literal_password_is_refused_at_its_own_line():
    text = CONFIG.replace("${MW_TEST_SMTP_PASSWORD}", "hunter2")
    with pytest.raises(ConfigError) as err:
        load_notifiers(loads(text, "midwatch.yaml"))
    assert err.value.line == 9 and err.value.key == "smtp.password"


def test_smtp_unknown_key_names_the_key_and_suggests(monkeypatch):
    monkeypatch.setenv("MW_TEST_SMTP_PASSWORD", "s3cret-smtp")
    text = CONFIG.replace("  host: mail", "  hots: mail")
    with pytest.raises(ConfigError) as err:
        load_notifiers(loads(text, "midwatch.yaml"))
    assert err.value.key == "smtp.hots" and "host" in str(err.value)


def test_without_smtp_an_email_notifier_needs_its_own_host(monkeypatch):
    monkeypatch.setenv("MW_TEST_SMTP_PASSWORD", "s3cret-smtp")
    text = CONFIG.split("smtp:")[0]
    with pytest.raises(ConfigError) as err:
        load_notifiers(loads(text, "midwatch.yaml"))
    assert "host" in str(err.value)
