"""`midwatch run` with a Kafka input whose brokers do not answer (a mistyped port, a broker
down, a refused SASL login, which the client cannot tell apart) ends with the address, the
key and what to check, exit 2: it printed kafka-python's traceback and exited 1 (new-team
walk). A real closed port on loopback, no fake broker."""

from __future__ import annotations

import socket
import time

from midwatch.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_names_the_bootstrap_address_and_exits_2(tmp_path, capsys):
    port = _closed_port()
    cfg = tmp_path / "midwatch.yaml"
    cfg.write_text(
        f"store: {{kind: sqlite, sqlite: {{path: {tmp_path}/m.sqlite}}}}\n"
        f"kafka: {{bootstrap: ['127.0.0.1:{port}'], bootstrap_timeout: 1s}}\n"
        "inputs:\n  - {type: kafka, name: orders, topics: [orders], group_id: g}\n"
        f"collector: {{checkpoint_dir: {tmp_path}/cp, state_dir: {tmp_path}/st,"
        f" spool: {{dir: {tmp_path}/spool}}}}\n"
        "api: {listen: '127.0.0.1:0'}\n")
    started = time.monotonic()
    assert main(["run", "-c", str(cfg), "--no-api"]) == 2
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(
        f"midwatch run: {cfg}:2:9: kafka.bootstrap: input 'orders': no broker at "
        f"127.0.0.1:{port} answered over PLAINTEXT within kafka.bootstrap_timeout (1s): ")
    assert err.rstrip().endswith("(is the broker up and the address right? `midwatch doctor` "
                                 "checks it)")
