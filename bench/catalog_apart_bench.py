"""Cost of ``Catalog.apart`` per call on ID lists as correlation meets them: an event's few IDs
against a trace's, and trace against trace (merges, the repair's ``group_ids``), non-EDI and EDI.

Run it under two checkouts in turn to compare (old vs new interleaved, the machine is shared):
``PYTHONPATH=<checkout> .venv/bin/python bench/catalog_apart_bench.py <label>``; it prints the
best of ``--repeat`` runs of ``--number`` calls, in ns a call.
"""

from __future__ import annotations

import argparse
import timeit

from collector.correlation.catalog import empty_catalog

EVENT = ["correlation:6f1c2a9e-1b2c-4d5e-9f00-1234567890ab", "jms.message:ID:broker-1-4711-1",
         "http.request:req-88231"]
TRACE = ["correlation:6f1c2a9e-1b2c-4d5e-9f00-1234567890ab", "jms.message:ID:broker-1-4711-0",
         "http.request:req-88230", "order:PO-77", "mq.msgid:414d5120514d31",
         "traceparent:0af7651916cd43dd8448eb211c80319c"]
BIG = TRACE + [f"jms.message:ID:broker-1-4711-{n}" for n in range(40)]
EDI_EVENT = ["x12.st:US>P:1:0001", "x12.gs:US>P:1", "x12.isa:US>P:000000001", "order:PO-2"]
EDI_TRACE = ["x12.st:US>P:1:0001", "x12.gs:US>P:1", "x12.isa:US>P:000000001", "order:PO-1"]
CASES = (("event(3) vs trace(6)", EVENT, TRACE), ("event(3) vs trace(46)", EVENT, BIG),
         ("trace(46) vs trace(46)", BIG, BIG), ("edi event vs edi trace", EDI_EVENT, EDI_TRACE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("label")
    ap.add_argument("--number", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    catalog = empty_catalog()
    for name, a, b in CASES:
        best = min(timeit.repeat(lambda a=a, b=b: catalog.apart(a, b), number=args.number,
                                 repeat=args.repeat))
        print(f"{args.label:4} {name:24} {best / args.number * 1e9:7.0f} ns/call")


if __name__ == "__main__":
    main()
