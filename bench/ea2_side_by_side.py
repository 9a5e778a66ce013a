"""midwatch against ElastAlert2 on a burst scenario: the same events in a fresh index of the
real Elasticsearch, equivalent rules, both replayed over the same three hours; fired /
resolved / pages per incident and the CPU each spent.

Run: ``.venv/bin/python bench/ea2_side_by_side.py [--ea2 ~/.cache/midwatch/ea2-venv/bin/elastalert]
[--prefix mwbench-ea2] [--keep]`` with Elasticsearch at MIDWATCH_ES_URL. ElastAlert2 lives in
its own venv (Python 3.12: ``pip install elastalert2==2.31.0``); ``ES_VERSION`` is set for it
because this Elasticsearch build answers ``GET /`` with 405.

Both are asked the way each offers a replay: ``elastalert --start --end`` (EA2 queries the
span in ``buffer_time`` segments; a frequency rule slides over event time) and ``midwatch
rules backfill --step 1m`` (the engine stepped every minute with its state). Scenario, three
hours from T1, background traffic in three flows:

- bursts: o2c, six failures within 4m50s, at 00:20:40, 01:10:15 and 02:00:30, each split by
  minute ticks; a near miss of five failures at 01:35 must not fire ("more than 5 in 5m")
- spike: billing goes from 2 to 16 events a minute for 00:50-00:55 (factor 3, at least 20)
- flatline: payroll (2 a minute) is silent 01:40-02:05 (fewer than 1 in 5m)

EA2 runs twice: as shipped, and with ``realert: {minutes: 0}`` (its default re-alert time
of one minute is wall-clock time, so in a replay it silences every later match of a rule
and query key). EA2 has no resolve notifications. Its ``--end`` run waits one ``run_every``
before exiting (idle wall time).

Each alert (midwatch: fired/resolved lines of the timeline and pages to the notifier; EA2:
its debug alerter's "Alert for" lines, each of which is a page) is put on the incident whose
span (plus 10 minutes) holds it; anything else is counted as "outside". CPU is the child
process's user+sys time (``resource.getrusage(RUSAGE_CHILDREN)``), wall is its run time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from elasticsearch import Elasticsearch

from collector.event import Event, event_id, iso_to_ms, ms_to_iso
from collector.store.elasticsearch import ElasticsearchStore

T1 = iso_to_ms("2024-05-06T00:00:00Z")
SPAN_MS = 3 * 3_600_000
MIN = 60_000
BURSTS = ["00:20:40", "01:10:15", "02:00:30"]
NEAR_MISS = "01:35:00"
SPIKE = ("00:50:00", "00:55:00")
FLATLINE = ("01:40:00", "02:05:00")
GRACE_MS = 10 * MIN

MIDWATCH_RULES = """\
rules:
  - {name: burst, type: threshold, filter: {event.outcome: failure}, group_by: [midwatch.flow],
     window: 5m, above: 5}
  - {name: surge, type: spike, filter: {midwatch.flow: billing}, window: 5m, factor: 3,
     min_events: 20}
  - {name: quiet, type: threshold, filter: {midwatch.flow: payroll}, window: 5m, below: 1}
"""

EA2_RULES = {
    "burst": """\
type: frequency
num_events: 6
timeframe: {minutes: 5}
query_key: midwatch.flow
filter: [{term: {event.outcome: failure}}]
""",
    "surge": """\
type: spike
spike_height: 3
spike_type: up
timeframe: {minutes: 5}
threshold_cur: 20
filter: [{term: {midwatch.flow: billing}}]
""",
    "quiet": """\
type: flatline
threshold: 1
timeframe: {minutes: 5}
filter: [{term: {midwatch.flow: payroll}}]
""",
}


def at(hms: str) -> int:
    return T1 + iso_to_ms(f"1970-01-01T{hms}Z")


def events() -> list[Event]:
    out: list[Event] = []

    def add(ts: int, flow: str, failed: bool = False) -> None:
        out.append(Event(ts, "mule.log", "mulesoft", "refused" if failed else "ok",
                         outcome="failure" if failed else "success", flow=flow,
                         id=event_id("ea2-side", str(len(out)))))

    quiet = range(at(FLATLINE[0]), at(FLATLINE[1]))
    for ts in range(T1 - 30 * MIN, T1 + SPAN_MS, 30_000):  # 2 a minute per flow
        add(ts + 1_000, "o2c")
        add(ts + 2_000, "billing")
        if ts + 3_000 not in quiet:
            add(ts + 3_000, "payroll")
    for start in BURSTS:
        for i in range(6):  # 4m50s
            add(at(start) + i * 58_000, "o2c", failed=True)
    for i in range(5):
        add(at(NEAR_MISS) + i * 50_000, "o2c", failed=True)
    for ts in range(at(SPIKE[0]), at(SPIKE[1]), MIN):
        for k in range(14):
            add(ts + 2_500 + k * 4_000, "billing")
    return out


def incidents() -> list[tuple[str, str, int, int]]:
    """(name, rule, start, end) of what should page."""
    out = [(f"burst {b}", "burst", at(b), at(b) + 5 * MIN) for b in BURSTS]
    out.append((f"spike {SPIKE[0]}", "surge", at(SPIKE[0]), at(SPIKE[1])))
    out.append((f"flatline {FLATLINE[0]}", "quiet", at(FLATLINE[0]), at(FLATLINE[1])))
    out.append((f"near miss {NEAR_MISS} (must not fire)", "burst", at(NEAR_MISS),
                at(NEAR_MISS) + 5 * MIN))
    return out


def place(rule: str, ts: int) -> str:
    for name, r, start, end in incidents():
        if r == rule and start <= ts <= end + GRACE_MS:
            return name
    return f"outside ({rule})"


def child(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def run_midwatch(tmp: Path, url: str, prefix: str) -> tuple[dict, float, float]:
    (tmp / "rules.yaml").write_text(MIDWATCH_RULES)
    config = tmp / "midwatch.yaml"
    config.write_text(f"store:\n  kind: elasticsearch\n  elasticsearch: {{url: '{url}', "
                      f"index_prefix: {prefix}}}\nrules:\n  paths: [{tmp / 'rules.yaml'}]\n"
                      "  interval: 1m\n  notify: [pager]\n"
                      "notifiers:\n  pager: {type: webhook, url: 'http://127.0.0.1:9/'}\n")
    done, wall, cpu = child([str(Path(sys.executable).with_name("midwatch")), "rules", "backfill",
                             "-c", str(config), "--from", ms_to_iso(T1), "--to",
                             ms_to_iso(T1 + SPAN_MS), "--step", "1m", "--json"], dict(os.environ))
    if done.returncode != 0:
        raise SystemExit(f"midwatch rules backfill failed: {done.stderr[-2000:]}")
    table: dict = {}
    for c in json.loads(done.stdout)["timeline"]:
        row = table.setdefault(place(c["rule"], iso_to_ms(c["at"])), _row())
        if c["event"] in ("firing", "resolved"):
            row[c["event"]] += 1
        row["pages"] += len(c["notified"])
    return table, wall, cpu


def run_ea2(tmp: Path, ea2: str, url: str, prefix: str, realert: str | None
            ) -> tuple[dict, float, float]:
    """EA2 over the span; ``realert``: the rules' re-alert time (None: EA2's default, one
    minute of wall-clock time, which in a replay silences every later match of the rule)."""
    host, port = url.split("://", 1)[-1].rstrip("/").rsplit(":", 1)
    run = "default" if realert is None else "realert"
    rules = tmp / f"ea2-rules-{run}"
    rules.mkdir()
    for name, body in EA2_RULES.items():
        (rules / f"{name}.yaml").write_text(
            f"name: {name}\nindex: {prefix}-events-*\ntimestamp_field: '@timestamp'\n"
            f"alert: [debug]\n{body}" + (f"realert: {realert}\n" if realert else ""))
    config = tmp / f"ea2-{run}.yaml"
    writeback = f"{prefix}-ea2-{run}"
    config.write_text(f"rules_folder: {rules}\nrun_every: {{minutes: 1}}\n"
                      "buffer_time: {minutes: 15}\n"
                      f"es_host: {host}\nes_port: {port}\nwriteback_index: {writeback}\n"
                      "alert_time_limit: {days: 1}\nold_query_limit: {days: 1}\n")
    env = {**os.environ, "ES_VERSION": "8.17.0"}
    bindir = Path(ea2).parent
    subprocess.run([str(bindir / "elastalert-create-index"), "--host", host, "--port", port,
                    "--no-ssl", "--no-auth", "--index", writeback, "--old-index", "",
                    "--url-prefix", "", "--config", str(config)], env=env, check=True,
                   capture_output=True, text=True, timeout=300)
    done, wall, cpu = child([ea2, "--config", str(config), "--verbose", "--start",
                             ms_to_iso(T1), "--end", ms_to_iso(T1 + SPAN_MS)], env)
    log = done.stdout + done.stderr
    kept = Path(tempfile.gettempdir()) / f"ea2-side-by-side-{run}.log"
    kept.write_text(log)
    print(f"  EA2's log: {kept}")
    if "Starting up" not in log:
        raise SystemExit(f"elastalert failed: {log[-3000:]}")
    table: dict = {}
    for m in re.finditer(r"Alert for (\S+?)(?:, [^ ]+)? at (\S+?):?$", log, re.M):
        rule, ts = m.group(1), m.group(2)
        row = table.setdefault(place(rule, iso_to_ms(ts)), _row())
        row["firing"] += 1
        row["pages"] += 1
    errors = [line for line in log.splitlines() if "ERROR" in line]
    if errors:
        print(f"  EA2 logged {len(errors)} errors, e.g. {errors[0][:300]}")
    return table, wall, cpu


def _row() -> dict[str, int]:
    return {"firing": 0, "resolved": 0, "pages": 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ea2", default=str(Path.home() / ".cache/midwatch/ea2-venv/bin/elastalert"))
    ap.add_argument("--prefix", default=f"mwbench-ea2-{os.getpid()}")
    ap.add_argument("--keep", action="store_true", help="keep the indices")
    args = ap.parse_args()
    url = os.environ.get("MIDWATCH_ES_URL", "http://127.0.0.1:9200")
    es = Elasticsearch(url, request_timeout=300)
    store = ElasticsearchStore(client=es, index_prefix=args.prefix)
    store.setup()
    try:
        evs = events()
        result = store.write_events(evs)
        assert result.written == len(evs) and not result.rejected, result
        store.refresh()
        print(f"{len(evs):,} events in {args.prefix}-events-*; load {os.getloadavg()[0]:.1f}")
        with tempfile.TemporaryDirectory() as tmp:
            mw, mw_wall, mw_cpu = run_midwatch(Path(tmp), url, args.prefix)
            ea, ea_wall, ea_cpu = run_ea2(Path(tmp), args.ea2, url, args.prefix, None)
            ea0, ea0_wall, ea0_cpu = run_ea2(Path(tmp), args.ea2, url, args.prefix,
                                             "{minutes: 0}")
        names = [n for n, *_ in incidents()]
        names += sorted((set(mw) | set(ea) | set(ea0)) - set(names))
        print("fired/resolved/pages per incident")
        print(f"{'incident':<40} {'midwatch':>10} {'EA2':>10} {'EA2 realert 0':>14}")
        for n in names:
            cells = [(t.get(n) or _row()) for t in (mw, ea, ea0)]
            a, b, c = (f"{r['firing']}/{r['resolved']}/{r['pages']}" for r in cells)
            print(f"{n:<40} {a:>10} {b:>10} {c:>14}")
        print(f"midwatch rules backfill: {mw_wall:.1f} s wall, {mw_cpu:.2f} s CPU; "
              f"elastalert --start/--end: {ea_wall:.1f} s wall (a run_every of idle wait "
              f"included), {ea_cpu:.2f} s CPU; with realert 0: {ea0_wall:.1f} s, "
              f"{ea0_cpu:.2f} s CPU; load {os.getloadavg()[0]:.1f}")
    finally:
        if not args.keep:
            found = es.indices.get(index=f"{args.prefix}*", allow_no_indices=True)
            for name in found:
                es.indices.delete(index=name)


if __name__ == "__main__":
    main()
