"""``midwatch parse`` reads EDI as ``midwatch run`` does: our own interchange IDs (``--own-id``
or ``edi.own_ids`` of ``-c FILE``) make the 850s we sent outbound, with the trading partner as
partner; without them every 850 reads as received. ``-c`` also brings the time zone and the
redaction key, so tokens equal those in the store. A real subprocess, a real file."""

import subprocess
import sys
from pathlib import Path

import orjson

from collector.normalize import redact_text
from collector.redaction_key import from_state_dir

DATA = Path(__file__).resolve().parents[1] / "data"
POS = str(DATA / "x12" / "purchase-orders.edi")  # ACMEBUYER's 850s, WIDGETSUPPLY's answers


def parse(*args: str) -> tuple[int, list[dict], str]:
    proc = subprocess.run([sys.executable, "-m", "midwatch", "parse", *args],
                          capture_output=True, timeout=60)
    return (proc.returncode, [orjson.loads(x) for x in proc.stdout.splitlines()],
            proc.stderr.decode())


def _sides(events: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["labels"]["x12_transaction_set"], e["event"]["action"], e["midwatch"]["partner"])
            for e in events]


def test_own_id_makes_our_850s_outbound():
    code, events, err = parse("--format", "x12", POS)
    assert code == 0 and not err
    assert [s[1] for s in _sides(events)][:2] == ["received", "received"]
    code, events, err = parse("--format", "x12", "--own-id", "ACMEBUYER", POS)
    assert code == 0 and not err
    assert _sides(events) == [("850", "sent", "WIDGETSUPPLY"), ("850", "sent", "WIDGETSUPPLY"),
                              ("855", "received", "WIDGETSUPPLY"),
                              ("856", "received", "WIDGETSUPPLY"),
                              ("810", "received", "WIDGETSUPPLY")]


def test_config_gives_own_ids_zone_and_the_stores_redaction_key(tmp_path):
    config = tmp_path / "midwatch.yaml"
    config.write_text(f"collector:\n  state_dir: {tmp_path / 'var'}\n"
                      "  default_timezone: Europe/Berlin\nedi:\n  own_ids: [ACMEBUYER]\n")
    code, events, err = parse("--format", "x12", "-c", str(config), POS)
    assert code == 0 and not err
    assert [s[1] for s in _sides(events)][:2] == ["sent", "sent"]
    card = tmp_path / "pay.log"
    card.write_text("2024-03-01 10:00:00 INFO paid with 4012888888881881\n")
    code, events, err = parse("--format", "text", "-c", str(config), str(card))
    assert code == 0 and not err
    key = from_state_dir(tmp_path / "var")  # the key `midwatch run` with this config uses
    assert events[0]["message"] == "paid with " + redact_text("4012888888881881", key=key)
    assert events[0]["@timestamp"] == "2024-03-01T09:00:00.000Z"  # 10:00 in Berlin (CET)


def test_a_bad_config_is_a_usage_error():
    code, events, err = parse("-c", "/nonexistent/midwatch.yaml", POS)
    assert code == 2 and not events and err.startswith("midwatch parse: -c: ")
