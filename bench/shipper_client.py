"""The sending side of ``bench/shipper_bench.py``, in a process of its own.

Started before the bench's clock (the interpreter's start is not the receiver's cost); it
reads the payload (and makes the requests of it), says ``ready``, waits for a line on
stdin, sends, then prints the CPU seconds it spent sending, which the bench reports apart
from the receiver's. Standard library only, so it starts fast.

The payload is a JSON list, one entry a connection, all sending at once from threads of
their own: each a sender (a host's rsyslog, a Filebeat) with its own files, in order, as
several shippers send to one collector; a syslog entry is its octet-counted frames (as
latin-1 text), an http entry its ``_bulk`` bodies. One entry is one sender.

Run: ``python bench/shipper_client.py syslog|http PORT PAYLOAD_FILE``.
"""

from __future__ import annotations

import http.client
import json
import resource
import socket
import sys
import threading
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
    # The requests' bodies are made before the clock starts, as the syslog payload is: what
    # the bench times is the receiver taking them, not this process decoding its input.
    senders = [[body.encode() for body in entry] if kind == "http" else entry.encode("latin-1")
               for entry in json.loads(Path(path).read_bytes())]
    send = {"syslog": send_syslog, "http": send_http}[kind]
    failed: list[BaseException] = []

    def run(sent: object) -> None:
        try:
            send(int(port), sent)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - reported below, the exit status says it
            failed.append(exc)

    threads = [threading.Thread(target=run, args=(sent,)) for sent in senders]
    print("ready", flush=True)
    sys.stdin.readline()  # the bench's clock starts
    start = cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise SystemExit(f"a sender failed: {failed[0]!r}")
    print(cpu_seconds() - start, flush=True)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
