"""Health probe for a Kafka broker, standard library only.

Sends one Metadata v4 request (still served by Kafka 4.x, which dropped v0-v3) and exits 0 only
when the broker answers with at least one registered broker. The port being open is not enough:
the listener accepts connections before the broker has joined the KRaft quorum.

Usage: python3 kafka_probe.py HOST:PORT
"""

import socket
import struct
import sys


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def probe(host: str, port: int, timeout: float = 3.0) -> tuple[int, str, int]:
    client_id = b"midwatch-probe"
    correlation_id = 7
    # Request header v1 (api_key=3 Metadata, api_version=4), then body: topics=null, no auto-create.
    body = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body += struct.pack(">ib", -1, 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        resp = _read_exact(sock, size)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from(fmt, resp, pos)
        pos += struct.calcsize(fmt)
        return vals

    def take_str() -> str | None:
        (n,) = take(">h")
        if n < 0:
            return None
        nonlocal pos
        s = resp[pos : pos + n].decode()
        pos += n
        return s

    (corr,) = take(">i")
    if corr != correlation_id:
        raise ValueError(f"correlation id mismatch: {corr}")
    take(">i")  # throttle_time_ms
    (n_brokers,) = take(">i")
    for _ in range(n_brokers):
        take(">i")
        take_str()
        take(">i")
        take_str()
    cluster_id = take_str() or ""
    (controller_id,) = take(">i")
    return n_brokers, cluster_id, controller_id


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    host, _, port = target.rpartition(":")
    try:
        n_brokers, cluster_id, controller_id = probe(host or "127.0.0.1", int(port))
    except (OSError, ValueError, struct.error) as exc:
        print(f"kafka at {target}: not answering: {exc}", file=sys.stderr)
        return 1
    print(
        f"kafka at {target}: {n_brokers} broker(s), cluster {cluster_id}, controller {controller_id}"
    )
    return 0 if n_brokers > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
