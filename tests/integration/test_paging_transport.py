"""Notifier transport: ``ca_file`` for HTTPS receivers signed by an in-house CA, a
per-notifier ``proxy``, and ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` from the environment.
Local receivers (contract stand-ins) behind a real TLS stack and a local forward proxy."""

from __future__ import annotations

import pytest
from paging_support import Proxy, Receiver
from probe_targets import TestCA, server_context

from collector.yamlconf import loads
from rules.config import load_notifiers
from rules.notify.base import Notification, SendError
from rules.notify.transport import proxy_for

NOTE = Notification(action="firing", rule="r", key="k", severity="critical", labels={},
                    annotations={"summary": "s"}, value=1.0, starts_ms=0, at_ms=0, expires_ms=0)


@pytest.fixture
def tls_receiver(tmp_path):
    ca = TestCA(tmp_path)
    r = Receiver(tls=server_context(ca.issue("hook", ["127.0.0.1"], days=30)))
    yield r, ca
    r.close()


@pytest.fixture
def proxy():
    p = Proxy()
    yield p
    p.close()


def _notifiers(yaml: str):
    return load_notifiers(loads(f"notifiers:\n{yaml}"))


@pytest.mark.parametrize("kind", ["webhook", "pagerduty", "alertmanager"])
def test_ca_file_and_proxy_for_https(tls_receiver, proxy, kind, monkeypatch):
    receiver, ca = tls_receiver
    monkeypatch.setenv("PD_KEY", "x" * 32)
    url = {"webhook": f"url: '{receiver.url}/hook'",
           "pagerduty": f"routing_key: '${{PD_KEY}}', url: '{receiver.url}/v2/enqueue'",
           "alertmanager": f"url: '{receiver.url}'"}[kind]
    trusted = _notifiers(f"  n: {{type: {kind}, {url}, ca_file: '{ca.path}', "
                         f"proxy: '{proxy.url}'}}\n")["n"]
    trusted.send(NOTE)
    assert len(receiver.requests) == 1
    assert proxy.seen == [f"CONNECT 127.0.0.1:{receiver.server.server_port}"]
    untrusted = _notifiers(f"  n: {{type: {kind}, {url}}}\n")["n"]
    with pytest.raises(SendError, match="cannot connect"):  # the in-house CA is not trusted
        untrusted.send(NOTE)


def test_environment_proxy_and_no_proxy(proxy, monkeypatch):
    receiver = Receiver()
    try:
        hook = _notifiers(f"  n: {{type: webhook, url: '{receiver.url}/hook'}}\n")["n"]
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        hook.send(NOTE)
        assert proxy.seen == [f"POST {receiver.url}/hook"] and len(receiver.requests) == 1
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        hook.send(NOTE)
        assert len(proxy.seen) == 1 and len(receiver.requests) == 2  # direct this time
    finally:
        receiver.close()


def test_proxy_choice():
    env = {"HTTPS_PROXY": "http://p:3128", "http_proxy": "http://q:3128",
           "NO_PROXY": ".internal,alertmanager"}
    assert proxy_for("https://events.pagerduty.com/v2", None, env) == "http://p:3128"
    assert proxy_for("http://hooks.example.com/x", None, env) == "http://q:3128"
    assert proxy_for("https://am.corp.internal/api", None, env) is None
    assert proxy_for("http://alertmanager:9093/api", None, env) is None
    assert proxy_for("http://alertmanager:9093/api", "http://mine:8080", env) == "http://mine:8080"
    assert proxy_for("https://x.example.com", None, {}) is None


def test_transport_keys_are_checked(tmp_path):
    from collector.yamlconf import ConfigError

    with pytest.raises(ConfigError, match="expected an http\\(s\\) proxy URL"):
        _notifiers("  n: {type: webhook, url: 'https://hooks.example.com/x', proxy: 'socks5://p'}\n")
    with pytest.raises(ConfigError, match="a proxy password must not be written in YAML"):
        _notifiers("  n: {type: webhook, url: 'https://x', proxy: 'http://u:pw@p:3128'}\n")
    with pytest.raises(ConfigError, match="is not a readable file"):
        _notifiers(f"  n: {{type: webhook, url: 'https://x', ca_file: '{tmp_path}/none.pem'}}\n")
