"""Deliveries per second for a sender that waits for each answer (issue: one ack per flush
interval).

A shipper on one HTTP connection (Filebeat's Elasticsearch output), or a syslog TCP
connection waiting for its previous delivery's ack, sends its next request only once the
last one is answered, and the http input answers only once the writer acked the request's
events (and their traces). If the writer waits out the flush interval before settling what
is in flight, such a sender gets about one delivery per interval whatever its size.

Run: ``.venv/bin/python bench/waiting_sender_bench.py [--docs 100,1000] [--seconds 6]
[--flush-interval 1s]``. The service runs in this process as ``midwatch run`` builds it
(http input with its parse worker, SQLite store, the correlator); one client sends
``_bulk`` requests of ``--docs`` Filebeat documents (the Mule sample, repeated) one after
another on one connection for ``--seconds``. Prints deliveries/s and events/s per size, and
the load average: on a shared machine compare runs interleaved with the same load.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.config import config_from_doc  # noqa: E402
from collector.service.service import Service, build_correlator  # noqa: E402
from collector.yamlconf import loads  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "mule" / "app-runtime.log"


def bulk_body(docs: int, first: int) -> bytes:
    """``docs`` Filebeat documents of the sample's lines; offsets from ``first`` on, so that
    every request's events are new events (event IDs come from path and offset)."""
    rows = SAMPLE.read_text().splitlines()
    out = []
    for n in range(first, first + docs):
        doc = {"@timestamp": "2024-03-01T10:15:33.004Z", "agent": {"type": "filebeat"},
               "host": {"name": "mule-01"}, "input": {"type": "filestream"},
               "log": {"offset": n * 1000, "file": {"path": "/opt/mule/logs/app.log"}},
               "message": rows[n % len(rows)]}
        out.append('{"create":{}}\n' + json.dumps(doc) + "\n")
    return "".join(out).encode()


def start(folder: Path, flush_interval: str) -> tuple[Service, threading.Thread, int]:
    text = f"""
store:
  kind: sqlite
  sqlite: {{path: "{folder / 'midwatch.sqlite'}"}}
collector:
  checkpoint_dir: {folder / 'checkpoints'}
  batch: {{flush_interval: {flush_interval}}}
inputs:
  - type: http
    name: shippers
    listen: 127.0.0.1:0
"""
    path = folder / "midwatch.yaml"
    path.write_text(text)
    config = config_from_doc(loads(text, str(path)))
    store = config.open_store()
    store.setup()
    service = Service(config, store, with_api=False, progress_tty=False,
                      correlator=build_correlator(config, store))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    (receiver,) = service.inputs
    deadline = time.monotonic() + 30
    while receiver.out is None:
        if time.monotonic() > deadline:
            raise SystemExit("the http input did not start listening within 30 s")
        time.sleep(0.05)
    return service, thread, receiver.port


def deliveries(port: int, docs: int, seconds: float) -> tuple[int, float]:
    """Requests answered in ``seconds`` (at least one), one after another on one
    connection; and the time they took."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent, started = 0, time.perf_counter()
    while sent == 0 or time.perf_counter() - started < seconds:
        conn.request("POST", "/_bulk", body=bulk_body(docs, sent * docs),
                     headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise SystemExit(f"_bulk answered {resp.status}")
        sent += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return sent, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", default="100,1000", help="documents a request, comma-separated")
    ap.add_argument("--seconds", type=float, default=6.0, help="sending time per size")
    ap.add_argument("--flush-interval", default="1s")
    args = ap.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"flush_interval {args.flush_interval}")
    for docs in (int(d) for d in args.docs.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            service, thread, port = start(Path(tmp), args.flush_interval)
            try:
                sent, elapsed = deliveries(port, docs, args.seconds)
            finally:
                service.stop()
                thread.join(30)
                service.store.close()
        print(f"{docs:>5} docs/request: {sent / elapsed:7.2f} deliveries/s "
              f"({elapsed / sent * 1000:7.1f} ms each), {sent * docs / elapsed:9.0f} events/s")


if __name__ == "__main__":
    main()
