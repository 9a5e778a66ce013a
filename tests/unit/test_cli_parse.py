"""``midwatch parse`` as other checks call it: a real subprocess, real files, real stdin."""

import subprocess
import sys
from pathlib import Path

import orjson

DATA = Path(__file__).resolve().parents[1] / "data"


def midwatch(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midwatch", "parse", *args], input=stdin,
                          capture_output=True, timeout=60)


def lines(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines()]


def test_events_to_stdout_dead_letters_to_stderr_exit_zero():
    proc = midwatch("--format", "mule", str(DATA / "mule/malformed.log"))
    assert proc.returncode == 0
    events, dead = lines(proc.stdout), lines(proc.stderr)
    assert len(events) == 3 and len(dead) == 2
    jl = events[-1]
    assert jl["event"]["outcome"] == "unknown" and jl["event"]["action"] == "delivered"
    assert "order:4711" in jl["midwatch"]["ids"]
    assert jl["@timestamp"] == "2024-03-01T10:15:41.000Z"
    assert dead[0]["source"] == f"{DATA / 'mule/malformed.log'}:1"
    assert dead[0]["reason"].startswith("parse_error: mule:")


def test_auto_and_several_files_and_stdin():
    payload = (DATA / "json/app.jsonl").read_bytes()
    proc = midwatch(str(DATA / "ace/console.log"), "-", stdin=payload)
    assert proc.returncode == 0 and proc.stderr == b""
    datasets = [e["event"]["dataset"] for e in lines(proc.stdout)]
    assert datasets == ["ace.bip"] * 5 + ["generic.json"] * 3


def test_mapping_and_tz():
    proc = midwatch("--format", "json", "--mapping", str(DATA / "json/custom-mapping.yaml"),
                    "--tz", "Europe/Berlin", str(DATA / "json/custom.jsonl"))
    assert proc.returncode == 0, proc.stderr
    first = lines(proc.stdout)[0]
    assert first["@timestamp"] == "2024-03-01T10:15:32.000Z"  # 11:15:32 CET
    assert first["midwatch"]["flow"] == "orders-to-sap"
    assert first["midwatch"]["ids"] == ["order:4711", "correlation:abc-123"]


def test_unreadable_file_exits_2_naming_it_after_the_readable_ones():
    missing = str(DATA / "nope.log")
    proc = midwatch(missing, str(DATA / "json/app.jsonl"))
    assert proc.returncode == 2
    assert f"cannot read {missing}" in proc.stderr.decode()
    assert len(lines(proc.stdout)) == 3


def test_usage_errors_exit_2():
    assert midwatch("--format", "nonsense", "x").returncode == 2
    bad_tz = midwatch("--tz", "Mars/Olympus", str(DATA / "json/app.jsonl"))
    assert bad_tz.returncode == 2 and b"unknown time zone" in bad_tz.stderr
    bad_map = midwatch("--format", "json", "--mapping", str(DATA / "json/bad-mapping.yaml"), "-")
    assert bad_map.returncode == 2 and b"bad-mapping.yaml:2" in bad_map.stderr
    assert midwatch().returncode == 2


def test_no_secret_or_card_reaches_output():
    proc = midwatch("--format", "mule", str(DATA / "mule/app-runtime.log"))
    assert b"4111 1111 1111 1111" not in proc.stdout
    assert b"jane.doe@example.com" not in proc.stdout
