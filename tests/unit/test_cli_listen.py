"""`midwatch serve` and `midwatch run` as processes: a port already in use ends in one line
naming the setting and the port (exit 2, no traceback); `run` without inputs keeps running
its probes until stopped instead of ending silently."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture
def busy_port():
    """A port some other program holds."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def _config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(f"store:\n  kind: sqlite\n  sqlite: {{path: {tmp_path / 'mw.sqlite'}}}\n"
                   f"collector:\n  checkpoint_dir: {tmp_path / 'ckpt'}\n"
                   f"  state_dir: {tmp_path}\n  spool: {{dir: {tmp_path / 'spool'}}}\n"
                   + extra)
    return cfg


def _midwatch(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midwatch", *args], capture_output=True,
                          text=True, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_serve_listen_on_a_busy_port(tmp_path, busy_port):
    line = _one_line_error(_midwatch("serve", "-c", str(_config(tmp_path)),
                                     "--listen", f"127.0.0.1:{busy_port}"))
    assert line == (f"midwatch serve: --listen: cannot listen on 127.0.0.1:{busy_port}: the port "
                    f"is already in use (another midwatch, or another program?)")


def test_serve_config_listen_on_a_busy_port(tmp_path, busy_port):
    cfg = _config(tmp_path, f"api:\n  listen: 127.0.0.1:{busy_port}\n")
    line = _one_line_error(_midwatch("serve", "-c", str(cfg)))
    assert line.startswith(f"midwatch serve: {cfg}: api.listen: cannot listen on "
                           f"127.0.0.1:{busy_port}: the port is already in use")


def test_run_api_on_a_busy_port(tmp_path, busy_port):
    cfg = _config(tmp_path, f"api:\n  listen: 127.0.0.1:{busy_port}\n"
                            "inputs:\n  - {type: stdin, name: in}\n")
    line = _one_line_error(_midwatch("run", "-c", str(cfg), "--log-level", "error"))
    assert line.startswith(f"midwatch run: {cfg}: api.listen: cannot listen on "
                           f"127.0.0.1:{busy_port}: the port is already in use")


def test_run_otlp_receiver_on_a_busy_port(tmp_path, busy_port):
    cfg = _config(tmp_path, f"inputs:\n  - {{type: otlp, name: traces, "
                            f"listen: '127.0.0.1:{busy_port}'}}\n")
    line = _one_line_error(_midwatch("run", "-c", str(cfg), "--no-api", "--log-level", "error"))
    assert line == (f"midwatch run: {cfg}: inputs.0.listen: input 'traces': cannot listen on "
                    f"127.0.0.1:{busy_port}: the port is already in use (another midwatch, or "
                    f"another program?)")


def test_run_with_probes_and_no_inputs_keeps_probing_until_stopped(tmp_path):
    cfg = _config(tmp_path, "probes:\n  - {name: self, kind: http, "
                            "url: 'http://127.0.0.1:9/', interval: 1s, timeout: 1s}\n")
    proc = subprocess.Popen([sys.executable, "-m", "midwatch", "run", "-c", str(cfg),
                             "--no-api", "--log-level", "warning"],
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        assert first.strip() == (f"midwatch run: {cfg} configures no inputs; running rules and "
                                 f"probes until stopped")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _probe_stored(tmp_path / "mw.sqlite"):
            assert proc.poll() is None, "run ended on its own"
            time.sleep(0.2)  # poll: the probe runs on its interval
        assert _probe_stored(tmp_path / "mw.sqlite"), "no probe result stored in 20 s"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()


def _probe_stored(db: Path) -> bool:
    import sqlite3

    if not db.exists():
        return False
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0] > 0
        except sqlite3.OperationalError:
            return False


@pytest.mark.parametrize("kind", ["syslog-tcp", "syslog-udp", "http"])
def test_run_shipper_inputs_on_a_busy_port(tmp_path, kind):
    """Walk-through: a second `midwatch run` with the same syslog input ended in a traceback
    (OSError from bind); it is the one line the other listeners give."""
    udp = kind == "syslog-udp"
    holder = socket.socket(type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    if not udp:
        holder.listen(1)
    port = holder.getsockname()[1]
    typ, proto = ("http", "") if kind == "http" else ("syslog", f", protocol: {kind[7:]}")
    try:
        cfg = _config(tmp_path, f"inputs:\n  - {{type: {typ}, name: shipped, "
                                f"listen: '127.0.0.1:{port}'{proto}}}\n")
        line = _one_line_error(_midwatch("run", "-c", str(cfg), "--no-api", "--log-level",
                                         "error"))
    finally:
        holder.close()
    assert line == (f"midwatch run: {cfg}: inputs.0.listen: input 'shipped': cannot listen on "
                    f"127.0.0.1:{port}: the port is already in use (another midwatch, or "
                    f"another program?)")


@pytest.mark.parametrize("typ", ["syslog", "http"])
def test_run_with_a_tls_file_that_is_no_pem_is_one_line(tmp_path, typ):
    """Walk-through: a cert or key file that is not PEM ended in an ssl.SSLError traceback."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    proto = ", protocol: tls" if typ == "syslog" else ""
    cfg = _config(tmp_path, f"inputs:\n  - {{type: {typ}, name: shipped, listen: "
                            f"'127.0.0.1:0'{proto}, tls: {{cert: {junk}, key: {junk}}}}}\n")
    line = _one_line_error(_midwatch("run", "-c", str(cfg), "--no-api", "--log-level", "error"))
    assert line.startswith(f"midwatch run: {cfg}: inputs.0.listen: input 'shipped': cannot "
                           f"listen on 127.0.0.1:0: cannot load the TLS certificate {junk} "
                           f"with key {junk}: ")
    assert line.endswith("(a PEM certificate chain and its unencrypted private key)")
