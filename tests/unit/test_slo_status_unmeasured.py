"""`midwatch slo status` says why an SLO measured nothing: a misspelt flow or probe showed
"100% budget left" like a healthy objective, and nothing else (new-team walk). The table on
stdout and the exit status stay as documented; the notes go to stderr."""

from __future__ import annotations

import time
from pathlib import Path

from correlate_support import EXAMPLE, correlated

from collector.event import Event, event_id
from midwatch.cli import main


def _config(tmp_path: Path, slos: str) -> str:
    """A store holding one order-to-cash message, posted to SAP within its SLA."""
    now = int(time.time() * 1000)
    events = [Event(timestamp_ms=now - 60_000 + n, dataset="test", platform=platform,
                    id=event_id("slo", str(n)), service=service, action=action,
                    outcome="success") for n, (platform, service, action) in enumerate(
                        [("mulesoft", "order-sync", "logged"),
                         ("generic", "sap-bridge", "delivered")])]
    for ev in events:
        ev.add_id("order", "4711")
    with correlated(tmp_path, events):
        pass
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store: {{kind: sqlite, sqlite: {{path: {tmp_path / 'm.sqlite'}}}}}\n"
                   f"flows: {EXAMPLE}\n"
                   "probes:\n  - {name: orders-api, kind: http, url: 'http://127.0.0.1:9/'}\n"
                   f"slos:\n{slos}")
    return str(cfg)


def test_a_misspelt_flow_or_probe_is_named_with_the_closest_configured_one(tmp_path, capsys):
    cfg = _config(tmp_path, "  - {name: typo, flow: order-to-csh, objective: 99.5}\n"
                            "  - {name: api, sli: availability, probe: order-api, objective: 99}\n"
                            "  - {name: gone, sli: availability, probe: billing, objective: 99}\n")
    assert main(["slo", "status", "-c", cfg]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[:6] == ["typo", "sla", "order-to-csh", "99.5%", "30d", "0"]
    assert err.splitlines() == [
        f"midwatch slo status: typo ({cfg}:6): no messages of flow 'order-to-csh' in its 30d "
        "window (did you mean 'order-to-cash'?)",
        f"midwatch slo status: api ({cfg}:7): no endpoint.up readings of probe 'order-api' in "
        "its 30d window (did you mean 'orders-api'?)",
        f"midwatch slo status: gone ({cfg}:8): no endpoint.up readings of probe 'billing' in "
        "its 30d window (probes: has no probe of that name)",
    ]


def test_an_slo_that_measured_something_gets_no_note(tmp_path, capsys):
    cfg = _config(tmp_path, "  - {name: o2c, flow: order-to-cash, objective: 99.5}\n"
                            "  - {name: quiet, flow: edi-850-outbound, objective: 95}\n")
    assert main(["slo", "status", "-c", cfg]) == 0
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["o2c"][5] == "1" and rows["quiet"][5] == "0"
    assert err == (f"midwatch slo status: quiet ({cfg}:7): no messages of flow "
                   "'edi-850-outbound' in its 30d window\n")
