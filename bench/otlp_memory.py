"""Peak memory of one OTLP request: the largest accepted one and each rejected bomb.

    .venv/bin/python bench/otlp_memory.py

Each case gets a fresh ``midwatch run`` (OTLP input, SQLite store) so its peak is its own:
the process's VmHWM (peak resident set) is read once it is up and idle, the request is
sent, and VmHWM is read again. Cases (the bodies of issue 29):

- accepted: 10,000 spans (``max_records``) with 5 attributes each, gzip JSON, and the same
  as protobuf; 10,000 spans of 22 attributes (960,000 JSON values, 950,000 protobuf fields: near
  ``max_values``),
  as JSON and as protobuf; 10,000 log records of 3,000 characters (30 MiB expanded, near
  ``max_decompressed_bytes``);
- bomb-json: 29 KB of gzip JSON expanding to 10 million empty spans (``{}``);
- bomb-protobuf: 4 MB of protobuf holding 2 million empty spans;
- bomb-json-numbers: 27 KB of gzip JSON expanding to one span holding 7 million numbers
  (375 MB once parsed, before values were counted);
- deep-json: a span attribute nested 339 JSON levels deep.
"""

from __future__ import annotations

import gzip
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from google.protobuf.internal.encoder import _VarintBytes
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOT = Path(__file__).resolve().parents[1]
MIDWATCH = ROOT / ".venv" / "bin" / "midwatch"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def accepted_json() -> dict:
    spans = [{"traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": f"GET /orders/{i}",
              "kind": 2, "startTimeUnixNano": str(1_765_000_000_000_000_000 + i),
              "endTimeUnixNano": str(1_765_000_000_250_000_000 + i),
              "attributes": [{"key": k, "value": {"stringValue": f"{k}-{i}"}}
                             for k in ("order.id", "http.method", "http.route", "peer", "env")]}
             for i in range(10_000)]
    return {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "bench"}}]},
        "scopeSpans": [{"spans": spans}]}]}


def widest_json() -> dict:
    """As many values as ``max_values`` lets through: 10,000 spans of 22 attributes."""
    doc = accepted_json()
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["attributes"] = [{"key": f"attr.{a}", "value": {"stringValue": f"v{a}"}}
                              for a in range(22)]
    return doc


def biggest_json() -> dict:
    """As many bytes as ``max_decompressed_bytes`` lets through: 10,000 logs of 3,000 chars."""
    records = [{"timeUnixNano": str(1_765_000_000_000_000_000 + i),
                "body": {"stringValue": f"{i:08d} " + "x" * 3000}} for i in range(10_000)]
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]}


def _empty_spans(n: int) -> bytes:
    """An ExportTraceServiceRequest of ``n`` empty spans, written as wire bytes (building it
    with the message classes would take the bench itself 170 bytes a span)."""
    spans = b"\x12\x00" * n  # ScopeSpans.spans (field 2), each of length 0
    scope = b"\x12" + _VarintBytes(len(spans)) + spans  # ResourceSpans.scope_spans (2)
    return b"\x0a" + _VarintBytes(len(scope)) + scope  # resource_spans (1)


def cases() -> list[tuple[str, str, bytes, str, str | None]]:
    doc = accepted_json()
    from google.protobuf.json_format import ParseDict

    proto = ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()
    empty = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + b"{}," * 9_999_999 + b"{}]}]}]}"
    numbers = (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"s","x":['
               + b"1.5," * 7_000_000 + b"1.5]}]}]}]}")
    arrays = (339 - 9) // 3
    deep = (b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"s","attributes":'
            b'[{"key":"deep","value":' + b'{"arrayValue":{"values":[' * arrays
            + b'{"stringValue":"x"}' + b"]}}" * arrays + b"}]}]}]}]}")
    traces, logs = "/v1/traces", "/v1/logs"
    return [
        ("accepted-json-10k-spans", traces, gzip.compress(orjson.dumps(doc)), "application/json",
         "gzip"),
        ("accepted-protobuf-10k-spans", traces, proto, "application/x-protobuf", None),
        ("accepted-json-960k-values", traces, gzip.compress(orjson.dumps(widest_json())),
         "application/json", "gzip"),
        ("accepted-protobuf-950k-fields", traces, gzip.compress(
            ParseDict(widest_json(), ExportTraceServiceRequest()).SerializeToString()),
         "application/x-protobuf", "gzip"),
        ("accepted-json-30MiB-of-logs", logs, gzip.compress(orjson.dumps(biggest_json())),
         "application/json", "gzip"),
        ("bomb-json-10M-empty-spans", traces, gzip.compress(empty, 9), "application/json",
         "gzip"),
        ("bomb-protobuf-2M-empty-spans", traces, _empty_spans(2_000_000),
         "application/x-protobuf", None),
        ("bomb-json-7M-numbers", traces, gzip.compress(numbers, 9), "application/json",
         "gzip"),
        ("deep-json-339-levels", traces, deep, "application/json", None),
    ]


def run_case(name: str, path: str, body: bytes, ctype: str, encoding: str | None,
             work: Path) -> None:
    port = _free_port()
    config = work / f"{name}.yaml"
    config.write_text(f"""
store: {{kind: sqlite, sqlite: {{path: {work / name}.sqlite}}}}
collector: {{checkpoint_dir: {work / name}-cp, state_dir: {work / name}-var}}
api: {{listen: 127.0.0.1:{_free_port()}}}
inputs:
  - {{type: otlp, name: otlp, listen: 127.0.0.1:{port}}}
""")
    proc = subprocess.Popen([str(MIDWATCH), "run", "-c", str(config), "--log-level", "error"],
                            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{name}: midwatch run did not come up") from None
                time.sleep(0.2)
        before = _hwm_kb(proc.pid)
        headers = {"Content-Type": ctype, **({"Content-Encoding": encoding} if encoding else {})}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.monotonic()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        took = time.monotonic() - started
        after = _hwm_kb(proc.pid)
        detail = "" if resp.status == 200 else " " + orjson.loads(answer).get("error", "")[:90]
        print(f"{name:30} {len(body):>10,} B  HTTP {resp.status}  {took:5.2f} s  "
              f"peak RSS {before / 1024:6.1f} -> {after / 1024:6.1f} MiB "
              f"(+{(after - before) / 1024:.1f}){detail}", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    only = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, body, ctype, encoding in cases():
            if not only or name in only:
                run_case(name, path, body, ctype, encoding, Path(tmp))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
