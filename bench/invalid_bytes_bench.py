"""Per-record cost of the invalid-UTF-8 check on the Kafka, syslog and http paths
(``collector.inputs.decode_check.InvalidBytesNote``), old against new, interleaved.

Kafka: ``to_record``'s value decode, ``bytes.decode("utf-8", "replace")`` before, a strict
decode falling back to it now. Syslog: the per-frame ``check`` added to ``deliver`` (an
``isascii`` scan for ASCII frames, a strict decode for others). http: the same ``check``
once per request body (a 100-line NDJSON body here), reported per line.

    .venv/bin/python bench/invalid_bytes_bench.py [--reps 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit

from collector.inputs.decode_check import InvalidBytesNote
from collector.metrics import Registry

ASCII = (b'{"timestamp":"2024-05-01T10:00:00Z","level":"INFO","message":"order 4711 posted to '
         b'SAP","correlationId":"c-4711","flow":"order-to-cash","partner":"ACME"}')
UTF8 = ASCII.replace(b"posted", "postée".encode())
BODY = b"\n".join([ASCII] * 100)
N = 200_000


def per_call_ns(stmt: str, number: int = N) -> float:
    return timeit.timeit(stmt, number=number, globals=globals()) / number * 1e9


note = InvalidBytesNote("bench", "kafka", Registry())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    reps = ap.parse_args().reps
    cases = {  # statements, not lambdas: a call layer would be most of what is timed
        "empty statement": "pass",
        "kafka ascii   old": 'ASCII.decode("utf-8", "replace")',
        "kafka ascii   new": 'note.decode(ASCII, "t/0", dict)',
        "kafka utf-8   old": 'UTF8.decode("utf-8", "replace")',
        "kafka utf-8   new": 'note.decode(UTF8, "t/0", dict)',
        "syslog ascii  add": 'ASCII.isascii() or note.check(ASCII, "peer", dict)',
        "syslog utf-8  add": 'UTF8.isascii() or note.check(UTF8, "peer", dict)',
    }
    got: dict[str, list[float]] = {k: [] for k in cases}
    body: list[float] = []
    for _ in range(reps):  # interleaved: load drifts over the run, not between cases
        for name, fn in cases.items():
            got[name].append(per_call_ns(fn))
        body.append(per_call_ns('note.check(BODY, "peer /ingest", dict)', N // 50) / 100)
    print(f"load average {os.getloadavg()[0]:.1f}; record {len(ASCII)} bytes; "
          f"median (min-max) of {reps} runs, ns per record")
    for name, values in [*got.items(), ("http body   add/line", body)]:
        print(f"{name:22s} {statistics.median(values):7.1f} "
              f"({min(values):.1f}-{max(values):.1f})")


if __name__ == "__main__":
    main()
