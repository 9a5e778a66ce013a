"""The sending side of ``bench/shipper_bench.py``, in a process of its own.

Started before the bench's clock (the interpreter's start is not the receiver's cost); it
reads the payload (and makes the requests of it), says ``ready``, waits for a line on
stdin, sends, then prints the CPU seconds it spent sending, which the bench reports apart
from the receiver's. Standard library only, so it starts fast.

Run: ``python bench/shipper_client.py syslog|http PORT PAYLOAD_FILE``.
"""

from __future__ import annotations

import http.client
import json
import resource
import socket
import sys
from pathlib import Path


def send_syslog(port: int, payload: bytes) -> None:
    """One TCP connection, octet-counted frames as rsyslog sends them."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)  # the receiver closes once it read everything


def send_http(port: int, bodies: list[bytes]) -> None:
    """``_bulk`` requests one after another on one connection, as Filebeat's output does."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    # As the shippers' Go and Rust clients do: the request's head and body are two writes,
    # and Nagle's algorithm would hold the body for the server's delayed ACK.
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for body in bodies:
        conn.request("POST", "/_bulk", body=body,
                     headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"_bulk answered {resp.status}")
    conn.close()


def main() -> None:
    kind, port, path = sys.argv[1:4]
    payload = Path(path).read_bytes()
    # The requests' bodies are made before the clock starts, as the syslog payload is: what
    # the bench times is the receiver taking them, not this process decoding its input.
    sent = ([body.encode() for body in json.loads(payload)] if kind == "http" else payload)
    print("ready", flush=True)
    sys.stdin.readline()  # the bench's clock starts
    start = cpu_seconds()
    {"syslog": send_syslog, "http": send_http}[kind](int(port), sent)
    print(cpu_seconds() - start, flush=True)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
