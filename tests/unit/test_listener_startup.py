"""Every listening input logs one start-up line with the protocol and the address it actually
bound (port 0 asked: the port the system gave), as the API does: a person starting midwatch
sees where to point the shipper without reading the config."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from test_security_http import _cert  # the API's TLS tests' self-signed certificate

from collector.config import CollectorSettings
from collector.inputs.base import ChunkQueue, parse_context
from collector.inputs.http import Config as HttpConfig
from collector.inputs.http import HttpInput
from collector.inputs.otlp import Config as OtlpConfig
from collector.inputs.otlp import OtlpInput
from collector.inputs.syslog import Config as SyslogConfig
from collector.inputs.syslog import SyslogInput


def _ctx():
    return parse_context(CollectorSettings(), frozenset(), None)


def _make(kind: str, tmp_path):
    if kind.startswith("syslog"):
        protocol = kind.split("-")[1]
        tls = dict(zip(("tls_cert", "tls_key"), _cert(tmp_path), strict=True)) \
            if protocol == "tls" else {}
        return SyslogInput(SyslogConfig(name=kind, listen=("127.0.0.1", 0), protocol=protocol,
                                        parse_worker=False, **tls), _ctx())
    if kind == "http":
        return HttpInput(HttpConfig(name=kind, listen=("127.0.0.1", 0), parse_worker=False),
                         _ctx())
    return OtlpInput(OtlpConfig(name=kind, listen=("127.0.0.1", 0)), _ctx())


@pytest.mark.parametrize("kind, message, protocol", [
    ("syslog-tcp", "syslog input listening", "tcp"),
    ("syslog-udp", "syslog input listening", "udp"),
    ("syslog-tls", "syslog input listening", "tls"),
    ("http", "http input listening", "http"),
    ("otlp", "otlp input listening", "http"),
])
def test_one_start_up_line_with_the_bound_address(kind, message, protocol, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="midwatch.inputs")
    receiver = _make(kind, tmp_path)
    threading.Thread(target=receiver.run, args=(ChunkQueue(4),), daemon=True).start()
    try:
        deadline = time.monotonic() + 10
        lines: list[logging.LogRecord] = []
        while not lines and time.monotonic() < deadline:
            lines = [r for r in caplog.records if r.getMessage() == message]
            time.sleep(0.01)
        assert len(lines) == 1, [r.getMessage() for r in caplog.records]
        line = lines[0]
        assert receiver.port != 0
        assert (line.input, line.protocol, line.listen) == (
            kind, protocol, f"127.0.0.1:{receiver.port}")
    finally:
        receiver.stop()
        receiver.close()
