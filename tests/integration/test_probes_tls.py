"""The TLS probe against real TLS servers started here, with certificates made in the test:
one valid, one expiring in 5 days, one for the wrong hostname, one behind SMTP STARTTLS."""

from __future__ import annotations

import math
import time

import pytest
from probe_targets import TestCA, http_server, server_context, smtp_starttls

from collector.config import config_from_doc
from collector.probes.config import load_probes
from collector.probes.runner import run_once
from collector.yamlconf import loads

pytestmark = pytest.mark.timeout(60)


def _certificates(events) -> dict[str, dict]:
    return {e.labels["endpoint"]: {**e.labels, "value": e.probe_value, "outcome": e.outcome,
                                   "error": e.error_message}
            for e in events if e.labels["probe.metric"] == "tls.certificate"}


def test_expiry_hostname_chain_and_starttls(tmp_path):
    ca = TestCA(tmp_path)
    valid = ca.issue("valid", ["localhost", "127.0.0.1"], days=90)
    soon = ca.issue("soon", ["localhost", "127.0.0.1"], days=5)
    wrong = ca.issue("wrong", ["partner.example.com"], days=200)
    mail = ca.issue("mail", ["localhost", "127.0.0.1"], days=40)
    (tmp_path / "other").mkdir()
    other_ca = TestCA(tmp_path / "other", name="somebody else's CA")
    stranger = other_ca.issue("stranger", ["localhost"], days=90)
    ok = {"/": (200, b"ok", None)}
    with http_server(ok, server_context(valid)) as p_valid, \
            http_server(ok, server_context(soon)) as p_soon, \
            http_server(ok, server_context(wrong)) as p_wrong, \
            http_server(ok, server_context(stranger)) as p_stranger, \
            smtp_starttls(mail) as p_smtp:
        doc = loads(f"""
probes:
  - name: certs
    kind: tls
    ca_file: {ca.path}
    endpoints:
      - {{address: "127.0.0.1:{p_valid}", server_name: localhost}}
      - {{address: "127.0.0.1:{p_soon}", server_name: localhost}}
      - {{address: "127.0.0.1:{p_wrong}", server_name: localhost}}
      - {{address: "127.0.0.1:{p_stranger}", server_name: localhost}}
      - {{address: "127.0.0.1:{p_smtp}", starttls: smtp}}
      - "127.0.0.1:1"
""")
        events = run_once(load_probes(config_from_doc(doc)))
    certs = _certificates(events)

    def days(issued) -> int:
        return math.floor((issued.not_after.timestamp() - time.time()) / 86_400)

    v = certs[f"127.0.0.1:{p_valid}"]
    assert (v["tls.verify"], v["outcome"], v["value"]) == ("ok", "success", days(valid))
    assert v["tls.subject"] == "CN=localhost"
    assert v["tls.issuer"] == "CN=midwatch test CA"
    assert v["tls.serial"] == format(valid.serial, "x")
    assert v["tls.not_after"] == valid.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")

    s = certs[f"127.0.0.1:{p_soon}"]
    assert (s["tls.verify"], s["value"]) == ("ok", 4)  # 5 days minus the seconds elapsed
    assert s["tls.serial"] == format(soon.serial, "x")

    w = certs[f"127.0.0.1:{p_wrong}"]
    assert (w["tls.verify"], w["outcome"]) == ("hostname_mismatch", "failure")
    assert w["tls.subject"] == "CN=partner.example.com" and w["value"] == days(wrong)
    assert w["error"] == "certificate hostname_mismatch"

    u = certs[f"127.0.0.1:{p_stranger}"]
    assert (u["tls.verify"], u["tls.issuer"]) == ("untrusted", "CN=somebody else's CA")

    m = certs[f"127.0.0.1:{p_smtp}"]
    assert (m["tls.verify"], m["value"], m["tls.serial"]) == ("ok", days(mail),
                                                              format(mail.serial, "x"))

    down = [e for e in events if e.labels["probe.metric"] == "endpoint.up"
            and e.labels["endpoint"] == "127.0.0.1:1"]
    assert [(e.probe_value, e.outcome) for e in down] == [(0, "failure")]
    assert "Connection refused" in down[0].error_message
    assert "127.0.0.1:1" not in certs
    up = {e.labels["endpoint"]: e.probe_value for e in events
          if e.labels["probe.metric"] == "endpoint.up"}
    assert up[f"127.0.0.1:{p_valid}"] == 1 and up[f"127.0.0.1:{p_smtp}"] == 1
    assert all(e.dataset == "midwatch.probe" and e.service == "certs" for e in events)
