"""EDI parse speed: X12 transaction sets (target >= 20,000/s on one core) and EDIFACT messages.

Measures the parse core's ``run_parser`` (parser + normalization + event IDs) over framed
interchanges of a realistic size: one interchange per record, a few sets per group, as
VAN mailboxes deliver them. Run: ``.venv/bin/python bench/edi_bench.py [--seconds 3]``.
"""

from __future__ import annotations

import argparse
import time

from collector.event import Record
from collector.parse import ParseStats, run_parser
from collector.parsers import edifact, x12
from collector.parsers._base import ParseContext

SETS_PER_INTERCHANGE = 5


def _isa(control: int) -> str:
    fields = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "WIDGETSUPPLY".ljust(15), "ZZ",
              "ACMEBUYER".ljust(15), "240301", "0930", "U", "00401", f"{control:09d}", "0", "P",
              ">"]
    return "*".join(fields)


def x12_interchange(control: int) -> str:
    segs = [_isa(control), f"GS*PO*WIDGETSUPPLY*ACMEBUYER*20240301*0930*{control}*X*004010"]
    for n in range(1, SETS_PER_INTERCHANGE + 1):
        body = [f"BEG*00*SA*PO-{control}-{n}**20240301", "REF*DP*038", "DTM*002*20240315",
                "N1*ST*ACME DC EAST*92*0042", "PO1*1*120*EA*9.25*PE*BP*WID-100",
                "PO1*2*40*EA*14.10*PE*BP*WID-220", "CTT*2"]
        segs += [f"ST*850*{n:04d}", *body, f"SE*{len(body) + 2}*{n:04d}"]
    segs += [f"GE*{SETS_PER_INTERCHANGE}*{control}", f"IEA*1*{control:09d}"]
    return "~\n".join(segs) + "~"


def edifact_interchange(control: int) -> str:
    segs = [f"UNB+UNOC:3+WIDGETSUPPLY:14+ACMEBUYER:14+240301:0930+{control}"]
    for n in range(1, SETS_PER_INTERCHANGE + 1):
        body = [f"BGM+220+PO{control}{n}+9", "DTM+137:20240301:102", "NAD+BY+5412345000013::9",
                "LIN+1++4000862141404:SRS", "QTY+21:120", "UNS+S"]
        segs += [f"UNH+{n}+ORDERS:D:96A:UN", *body, f"UNT+{len(body) + 2}+{n}"]
    segs.append(f"UNZ+{SETS_PER_INTERCHANGE}+{control}")
    return "UNA:+.? '" + "'\n".join(segs) + "'"


def measure(module, make, seconds: float) -> tuple[float, int]:
    ctx = ParseContext(now_ms=1_709_900_000_000)
    stats = ParseStats()
    records = [Record(text=make(i), source="bench.edi", position=str(i)) for i in range(1, 501)]
    events = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for record in records:
            events += len(run_parser(record, module, ctx, stats))
    elapsed = time.perf_counter() - start
    assert stats.events == events and not any(stats.deadletters.values()), stats
    return events / elapsed, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    for name, module, make, unit in (("x12", x12, x12_interchange, "transaction sets"),
                                     ("edifact", edifact, edifact_interchange, "messages")):
        rate, total = measure(module, make, args.seconds)
        print(f"{name}: {rate:,.0f} {unit}/s ({total:,} in {args.seconds:.0f} s, "
              f"{SETS_PER_INTERCHANGE} per interchange, parse + normalize)")


if __name__ == "__main__":
    main()
