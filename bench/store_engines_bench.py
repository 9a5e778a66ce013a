"""Store speed per search engine: the same documents, the same run, Elasticsearch 9 and 8 and
OpenSearch 2 and 3 side by side (issue 28: within 20% of each other).

Run: ``.venv/bin/python bench/store_engines_bench.py [--events 40000] [--lookups 600]
[--rounds 5] [--ways raw,gzip,store] [--engines "elasticsearch 9,opensearch"]`` with the
engines of ``deploy/local/services.sh up es es8 opensearch opensearch3`` (MIDWATCH_ES_URL,
MIDWATCH_ES8_URL, MIDWATCH_OPENSEARCH_URL, MIDWATCH_OPENSEARCH3_URL). "elasticsearch 9 quiet"
is a private ES 9 that no test suite uses (the shared one on :9200 serves them all, and their
requests land in its CPU figures): ``MIDWATCH_INSTANCE=bench MIDWATCH_ES_PORT=9240
deploy/local/services.sh up es`` (MIDWATCH_ES_QUIET_URL).

Per engine and round, three ways of writing the same events into indices made by the same
templates, so that a gap can be put where it belongs:
- raw NDJSON / raw gzip: the bodies ``write_events`` sends, serialized (and gzipped) before
  the clock, POSTed one at a time with plain urllib3: the engine's own capacity;
- write_events: midwatch (documents built inside the clock, batches of 5,000), then
  ``upsert_traces`` of their traces and ``get_trace`` p50/p99 by a typed ID, a bare ID or
  the trace key.
Each write is also given as the engine JVM's CPU microseconds per event (its pid file from
services.sh): on a shared, loaded machine events/s follow whoever else runs, CPU per event
much less. The JVM's CPU also counts other clients' requests (ES 9 on :9200 serves every
test suite), so each write is given a third way too: the engine's own indexing time of the
bench's indices (``_stats/indexing`` ``index_time_in_millis`` of the primaries, microseconds
per event), which no other client's documents enter (it still grows with CPU contention).
To compare two versions of the mapping, run this script alternately with
``PYTHONPATH=<other checkout>`` (the store and its templates come from there).

On a loaded two-core machine a figure of one engine taken a minute after another's compares
two loads, not two engines. So a round runs one way on every engine back to back before the
next way (ways and engines in rotated order, none always first), every round is printed, and
the summary gives the medians over rounds and, steadier, the median of each round's own
spread (slowest/fastest of the engines within that round: the same load for all of them).
Heaps as services.sh sets them (ES 9 1 GB, the others 512 MB).

The figures to compare engines by on a loaded machine come from the races, which interleave
finer still: ``--write-race`` writes each chunk of events to every engine in turn (engine
CPU an event in its own requests, events/s over them), ``--lookup-race`` asks every lookup
of every engine in turn (p50/p99 by block, engine CPU and GC a lookup). One run at
load 6-8 (20k events, 6 rounds; 1,500 lookups): engine CPU an event ES 9.5 (quiet) 25.3 us,
ES 8.19 27.0, OpenSearch 2.19 40.5, 3.3 36.8; the shared ES 9.5 43.0 (other suites'
requests); lookup p99 28-39 ms on all engines with p50 4-6 ms and the engines' own
``took`` under 1 ms at p50: the p99 is the wait for a core, not the query.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import random
import statistics
import time
import uuid
from pathlib import Path

import orjson
import urllib3
from ceiling import proc_cpu_s
from store_bench import BATCH, EVENTS_PER_TRACE, make_events, make_traces

from collector.event import Event, to_doc
from collector.store import engines, es_mappings
from collector.store.elasticsearch import ElasticsearchStore

# label: (URL variable, default URL, services.sh name: its JVM's pid file for CPU figures,
# services.sh MIDWATCH_INSTANCE or "" for the shared set)
ENGINES = {
    "elasticsearch 9": ("MIDWATCH_ES_URL", "http://127.0.0.1:9200", "es", ""),
    "elasticsearch 9 quiet": ("MIDWATCH_ES_QUIET_URL", "http://127.0.0.1:9240", "es", "bench"),
    "elasticsearch 8": ("MIDWATCH_ES8_URL", "http://127.0.0.1:9210", "es8", ""),
    "opensearch": ("MIDWATCH_OPENSEARCH_URL", "http://127.0.0.1:9220", "opensearch", ""),
    "opensearch 3": ("MIDWATCH_OPENSEARCH3_URL", "http://127.0.0.1:9230", "opensearch3", ""),
}
# The quiet ES 9 stands in for the shared one when it runs (its pid file, see EngineCpu).
_QUIET = "elasticsearch 9 quiet"


class EngineCpu:
    """CPU seconds the engine's JVM used during a timed section (the pid file services.sh
    writes), or nan when it is not a local services.sh engine. On a loaded shared machine
    the engine's CPU per event moves far less than events/s, which depend on who else runs."""

    def __init__(self, service: str, instance: str = ""):
        home = Path(os.environ.get("MIDWATCH_CACHE", Path.home() / ".cache" / "midwatch"))
        self._pidfile = home / f"run{'-' + instance if instance else ''}" / f"{service}.server.pid"

    def running(self) -> bool:
        return self._pidfile.is_file()

    def now(self) -> float:
        try:
            return proc_cpu_s(self._pidfile.read_text().strip())
        except OSError:
            return math.nan


def ndjson_chunks(events: list[Event], prefix: str, chunk: int) -> list[bytes]:
    """The bodies ``write_events`` sends for ``events`` (same action lines, same documents,
    same chunk size), serialized before any clock starts."""
    base = es_mappings.index_names(prefix).events
    ops = [b"%s\n%s\n" % (orjson.dumps({"index": {"_index": es_mappings.daily(base, e.timestamp_ms),
                                                     "_id": e.id}}), orjson.dumps(to_doc(e)))
           for e in events]
    return [b"".join(ops[i:i + chunk]) for i in range(0, len(ops), chunk)]


def index_us(client, prefix: str, n_events: int) -> float:
    """The engine's indexing time of the events indices under ``prefix``, us per event."""
    stats = client.indices.stats(index=f"{prefix}-events-*", metric="indexing")
    return stats["_all"]["primaries"]["indexing"]["index_time_in_millis"] * 1000 / n_events


def raw_round(url: str, cpu: EngineCpu, events: list[Event], *, gzipped: bool
              ) -> tuple[float, float, float]:
    """The engine's own capacity: midwatch's bodies, pre-serialized (and pre-compressed),
    POSTed one at a time (as ``write_events`` has one request in flight) with plain urllib3
    into indices made by the same templates; (events/s, engine CPU us per event, engine
    indexing time us per event)."""
    client = engines.client(url, request_timeout=120)
    store = ElasticsearchStore(client=client, index_prefix=f"mwbench-engraw-{uuid.uuid4().hex[:6]}")
    http = urllib3.PoolManager(maxsize=1)
    try:
        store.setup()
        bodies = ndjson_chunks(events, store.names.prefix, 2_000)
        headers = {"Content-Type": "application/x-ndjson"}
        if gzipped:
            bodies = [gzip.compress(b, compresslevel=1) for b in bodies]
            headers["Content-Encoding"] = "gzip"
        c, t = cpu.now(), time.perf_counter()
        for body in bodies:
            resp = http.request("POST", f"{url}/_bulk?filter_path=errors", body=body,
                                headers=headers, timeout=120)
            if resp.status != 200 or orjson.loads(resp.data)["errors"]:
                raise SystemExit(f"raw bulk to {url}: {resp.status} {resp.data[:300]!r}")
        return (len(events) / (time.perf_counter() - t),
                (cpu.now() - c) / len(events) * 1e6,
                index_us(client, store.names.prefix, len(events)))
    finally:
        store.close()
        _delete(client, store.names.prefix)
        client.close()
        http.clear()


def one_round(url: str, cpu: EngineCpu, events: list[Event], lookups: int) -> dict:
    """midwatch's figures on a fresh prefix: write_events events/s and engine
    and client CPU us per event, upsert_traces traces/s, get_trace p50/p99 ms."""
    n_events = len(events)
    traces = make_traces(events)
    client = engines.client(url, request_timeout=120)
    store = ElasticsearchStore(client=client, index_prefix=f"mwbench-eng-{uuid.uuid4().hex[:6]}")
    try:
        store.setup()
        out: dict = {}
        c, t, own = cpu.now(), time.perf_counter(), time.process_time()
        written = sum(store.write_events(events[i:i + BATCH]).written
                      for i in range(0, len(events), BATCH))
        out["store"] = written / (time.perf_counter() - t)
        out["store_cpu"] = (cpu.now() - c) / written * 1e6
        # this process (documents, NDJSON, HTTP): the same work whichever engine answers
        out["store_client"] = (time.process_time() - own) / written * 1e6
        out["store_idx"] = index_us(client, store.names.prefix, written)
        t = time.perf_counter()
        for i in range(0, len(traces), BATCH):
            store.upsert_traces(traces[i:i + BATCH])
        out["traces"] = len(traces) / (time.perf_counter() - t)
        store.refresh()
        rng = random.Random(1)
        samples = [_timed_lookup(store, _lookup_id(rng, k, n_events)) for k in range(lookups)]
        out["p50"], out["p99"] = _p50_p99(samples)
        return out
    finally:
        store.close()
        _delete(client, store.names.prefix)
        client.close()


def _lookup_id(rng: random.Random, k: int, n_events: int) -> str:
    """A typed ID, a bare ID or a trace key of a random order, in turn."""
    order = rng.randrange(n_events // EVENTS_PER_TRACE)
    return (f"order:{100_000 + order}", str(100_000 + order),
            f"correlation:corr-{order:08d}")[k % 3]


def _timed_lookup(store: ElasticsearchStore, any_id: str) -> float:
    """Milliseconds ``get_trace`` took; a lookup that finds nothing ends the bench."""
    t = time.perf_counter()
    if store.get_trace(any_id) is None:
        raise SystemExit(f"{store.engine().name}: no trace found for {any_id}")
    return (time.perf_counter() - t) * 1000


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


def write_race(urls: dict[str, str], cpus: dict[str, EngineCpu], events: list[Event],
               rounds: int, chunk: int, warmup: int) -> None:
    """midwatch's writes to every engine under the same load: each round fresh indices on
    every engine, then ``write_events`` of the same ``chunk`` events to each engine in turn
    (rotated), chunk after chunk, so the load of any second lands on all engines alike
    (a round per engine, even back to back, compares loads minutes apart: x2-4 at load 8).
    Per engine: events/s over its own requests, the engine JVM's CPU during its requests
    and over the whole round (its refreshes and merges too, and whatever else it serves,
    which the other engines' requests also leave it time for), microseconds an event, and
    the engine's own indexing time of the round's indices (``index_us``), which no other
    client's requests enter: the figure to read when test suites share the engines.
    The first ``warmup`` rounds are not counted: a JVM that has not run these requests for
    a while spends x1.5-3 the CPU an event in its first rounds (its JIT), which would be
    put down to the engine."""
    labels = list(urls)
    rows: list[dict[str, dict[str, float]]] = []
    for r in range(-warmup, rounds):
        clients = {label: engines.client(urls[label], request_timeout=120) for label in labels}
        stores = {label: ElasticsearchStore(
            client=clients[label], index_prefix=f"mwbench-wr-{uuid.uuid4().hex[:6]}")
            for label in labels}
        try:
            for store in stores.values():
                store.setup()
            wall = dict.fromkeys(labels, 0.0)
            in_request = dict.fromkeys(labels, 0.0)
            start = {label: cpus[label].now() for label in labels}
            for k, i in enumerate(range(0, len(events), chunk)):
                batch = events[i:i + chunk]
                for label in _rotated(labels, k + r):
                    c, t = cpus[label].now(), time.perf_counter()
                    if stores[label].write_events(batch).written != len(batch):
                        raise SystemExit(f"{label}: not every event was written")
                    wall[label] += time.perf_counter() - t
                    in_request[label] += cpus[label].now() - c
            n = len(events)
            if r < 0:
                print(f"warm-up round {r + warmup + 1} done; load {os.getloadavg()[0]:.2f}")
                continue
            rows.append({label: {"events_s": n / wall[label],
                                 "cpu": in_request[label] / n * 1e6,
                                 "cpu_round": (cpus[label].now() - start[label]) / n * 1e6,
                                 "index": index_us(clients[label], stores[label].names.prefix, n)}
                         for label in labels})
            print(f"round {r + 1}: " + "; ".join(
                f"{label} {f['events_s']:,.0f}/s {f['cpu']:.1f} us ({f['cpu_round']:.1f}, "
                f"index {f['index']:.1f})" for label, f in rows[-1].items())
                + f"; load {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            for label, store in stores.items():
                store.close()
                _delete(clients[label], store.names.prefix)
                clients[label].close()
    print(f"median of {rounds} rounds, {len(events)} events in chunks of {chunk}, interleaved:")
    for label in labels:
        m = {k: statistics.median(row[label][k] for row in rows)
             for k in ("events_s", "cpu", "cpu_round", "index")}
        print(f"  {label:<22} write_events {m['events_s']:,.0f}/s, engine CPU {m['cpu']:.1f} us "
              f"an event in its requests, {m['cpu_round']:.1f} over the round, own indexing "
              f"time {m['index']:.1f}")
    for key, higher, name in (("events_s", True, "events/s"), ("cpu", False, "CPU in requests"),
                              ("cpu_round", False, "CPU over the round"),
                              ("index", False, "own indexing time")):
        medians = [statistics.median(row[label][key] for row in rows) for label in labels]
        own = statistics.median(_spread([row[label][key] for label in labels], higher)
                                for row in rows)
        print(f"spread {name} (slowest/fastest, target >= 0.80): of the medians "
              f"{_spread(medians, higher):.2f}, median of the rounds' own {own:.2f}")


# Settings that name the index rather than configure it.
_IDENTITY = ("uuid", "creation_date", "provided_name", "version.", "routing.allocation.")


def settings_diff(urls: dict[str, str], events: list[Event]) -> None:
    """The settings each engine gives a daily events index that midwatch made (its own and
    the engine's defaults, ``include_defaults``), where two or more engines know a setting
    and do not agree: what to look at first when one engine costs more per event."""
    found: dict[str, dict[str, str]] = {}
    for label, url in urls.items():
        client = engines.client(url, request_timeout=120)
        store = ElasticsearchStore(client=client, index_prefix=f"mwbench-set-{uuid.uuid4().hex[:6]}")
        try:
            store.setup()
            store.write_events(events[:100])
            index = es_mappings.daily(store.names.events, events[0].timestamp_ms)
            body = client.indices.get_settings(index=index, include_defaults=True,
                                               flat_settings=True)[index]
            found[label] = {k: str(v) for k, v in {**body.get("defaults", {}),
                                                   **body["settings"]}.items()}
        finally:
            store.close()
            _delete(client, store.names.prefix)
            client.close()
    labels = list(found)
    print(f"{'setting':<58} " + " | ".join(labels))
    for key in sorted(set().union(*found.values())):
        values = [found[label].get(key) for label in labels]
        known = [v for v in values if v is not None]
        if len(known) >= 2 and len(set(known)) > 1 and not any(p in key for p in _IDENTITY):
            print(f"{key:<58} " + " | ".join("-" if v is None else v[:24] for v in values))


def _gc_ms(client) -> float:
    """Milliseconds the node's JVM spent in garbage collection so far (every collector)."""
    nodes = client.nodes.stats(node_id="_local", metric="jvm",
                               filter_path="nodes.*.jvm.gc.collectors")["nodes"]
    return sum(c["collection_time_in_millis"] for n in nodes.values()
               for c in n["jvm"]["gc"]["collectors"].values())


def lookup_race(urls: dict[str, str], cpus: dict[str, EngineCpu], events: list[Event],
                lookups: int, rounds: int) -> None:
    """Trace lookup latency of the engines under the same load: the same traces in each,
    then every lookup asked of each engine in turn (rotated), so a burst of someone else's
    work on this shared machine lands on all of them rather than on one engine's run.
    ``rounds`` blocks of ``lookups`` each: a p99 per block and engine, and each block's own
    spread, show how far one p99 moves by chance at this load. Beside the latency, each
    engine JVM's CPU in its lookups and its garbage collection time over the whole race,
    per lookup (a slow p99 with the same CPU per lookup is waiting, for a core or for a
    collection). Over the whole race an idle JVM's own CPU (a few ms a second) would
    outweigh the lookups'."""
    stores, clients = {}, {}
    try:
        for label, url in urls.items():
            clients[label] = engines.client(url, request_timeout=120)
            store = ElasticsearchStore(client=clients[label],
                                       index_prefix=f"mwbench-look-{uuid.uuid4().hex[:6]}")
            stores[label] = store
            store.setup()
            traces = make_traces(events)
            for i in range(0, len(traces), BATCH):
                store.upsert_traces(traces[i:i + BATCH])
            store.refresh()
        rng, labels = random.Random(1), list(stores)
        blocks: list[dict[str, list[float]]] = []
        cpu = dict.fromkeys(labels, 0.0)
        gc0 = {label: _gc_ms(clients[label]) for label in labels}
        for r in range(rounds):
            samples: dict[str, list[float]] = {label: [] for label in labels}
            for k in range(lookups):
                any_id = _lookup_id(rng, k, len(events))
                for label in _rotated(labels, k + r):
                    c = cpus[label].now()
                    samples[label].append(_timed_lookup(stores[label], any_id))
                    cpu[label] += cpus[label].now() - c
            blocks.append(samples)
            print(f"block {r + 1}: " + ", ".join(
                f"{label} p99 {_p50_p99(samples[label])[1]:.1f} ms" for label in labels)
                + f"; load {os.getloadavg()[0]:.2f}", flush=True)
        n = lookups * rounds
        p99s = []
        for label in labels:
            p50, p99 = _p50_p99([t for b in blocks for t in b[label]])
            p99s.append(p99)
            block_p99 = statistics.median(_p50_p99(b[label])[1] for b in blocks)
            print(f"  {label:<22} {stores[label].engine().name:<22} get_trace p50 {p50:.1f} ms, "
                  f"p99 {p99:.1f} ms (median of blocks {block_p99:.1f}); engine "
                  f"{cpu[label] / n * 1e6:,.0f} us CPU and "
                  f"{(_gc_ms(clients[label]) - gc0[label]) / n * 1e3:,.0f} us GC a lookup")
        own = statistics.median(_spread([_p50_p99(b[label])[1] for label in labels], False)
                                for b in blocks)
        print(f"{n} lookups each, interleaved; p99 spread (fastest/slowest) "
              f"{min(p99s) / max(p99s):.2f}, median of the blocks' own {own:.2f}; "
              f"load {os.getloadavg()[0]:.2f}")
    finally:
        for label, store in stores.items():
            store.close()
            _delete(clients[label], store.names.prefix)
            clients[label].close()


def _delete(client, prefix: str) -> None:
    """Every index and template of the bench prefix."""
    found = client.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    if found:
        client.indices.delete(index=",".join(found))
    for name in (f"{prefix}-events", f"{prefix}-deadletter", f"{prefix}-traces",
                 f"{prefix}-alerts", f"{prefix}-state"):
        client.options(ignore_status=404).indices.delete_index_template(name=name)


# (figure, label, higher is better) in the order they are printed
FIGURES = (("raw", "raw NDJSON/s", True), ("raw_cpu", "us CPU/ev", False),
           ("raw_idx", "us index/ev", False),
           ("raw_gz", "raw gzip/s", True), ("raw_gz_cpu", "us CPU/ev", False),
           ("raw_gz_idx", "us index/ev", False),
           ("store", "write_events/s", True), ("store_cpu", "us CPU/ev", False),
           ("store_client", "us client CPU/ev", False),
           ("store_idx", "us index/ev", False),
           ("traces", "upsert_traces/s", True), ("p50", "get_trace p50 ms", False),
           ("p99", "p99 ms", False))
WAY_FIGURES = {"raw": ("raw", "raw_cpu", "raw_idx"), "gzip": ("raw_gz", "raw_gz_cpu", "raw_gz_idx"),
               "store": ("store", "store_cpu", "store_client", "store_idx", "traces", "p50", "p99")}


WAYS = ("raw", "gzip", "store")


def _rotated(items: list, r: int) -> list:
    return items[r % len(items):] + items[:r % len(items)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--lookups", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=5)
    es9 = _QUIET if EngineCpu(*ENGINES[_QUIET][2:]).running() else "elasticsearch 9"
    ap.add_argument("--engines", default=f"{es9},elasticsearch 8,opensearch,opensearch 3",
                    help=f"comma-separated labels of: {', '.join(ENGINES)} (default: the "
                         "quiet ES 9 in place of the shared one when it runs)")
    ap.add_argument("--ways", default=",".join(WAYS),
                    help="comma-separated: raw (NDJSON), gzip (raw gzipped), store "
                         "(write_events, upsert_traces, get_trace)")
    ap.add_argument("--write-race", action="store_true",
                    help="only write_events, each chunk written to every engine in turn")
    ap.add_argument("--chunk", type=int, default=2_000, help="events a write (--write-race)")
    ap.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (--write-race)")
    ap.add_argument("--settings-diff", action="store_true",
                    help="only the index settings the engines disagree on")
    ap.add_argument("--lookup-race", action="store_true",
                    help="only trace lookups, each asked of every engine in turn")
    args = ap.parse_args()
    labels = [label for label in ENGINES if label in args.engines.split(",")]
    urls = {label: os.environ.get(ENGINES[label][0], ENGINES[label][1]) for label in labels}
    cpus = {label: EngineCpu(*ENGINES[label][2:]) for label in labels}
    events = make_events(args.events)
    if args.settings_diff:
        settings_diff(urls, events)
        return
    if args.write_race:
        write_race(urls, cpus, events, args.rounds, args.chunk, args.warmup)
        return
    if args.lookup_race:
        lookup_race(urls, cpus, events, args.lookups, args.rounds)
        return
    for label in labels:  # untimed: JIT and caches of every engine warm before any figure
        raw_round(urls[label], cpus[label], events[:4_000], gzipped=False)
        client = engines.client(urls[label])
        print(f"{label}: {engines.engine_of_client(client).name} at {urls[label]}")
        client.close()
    ways = {
        "raw": lambda label: dict(zip(("raw", "raw_cpu", "raw_idx"), raw_round(
            urls[label], cpus[label], events, gzipped=False), strict=True)),
        "gzip": lambda label: dict(zip(("raw_gz", "raw_gz_cpu", "raw_gz_idx"), raw_round(
            urls[label], cpus[label], events, gzipped=True), strict=True)),
        "store": lambda label: one_round(urls[label], cpus[label], events, args.lookups),
    }
    chosen = [w for w in WAYS if w in args.ways.split(",")]
    figures = [f for f in FIGURES if any(f[0] in WAY_FIGURES[w] for w in chosen)]
    rounds: list[dict[str, dict]] = []
    for r in range(args.rounds):
        got: dict[str, dict] = {label: {} for label in labels}
        # One way on every engine back to back: they share the load of the same minute.
        for way in _rotated(chosen, r):
            for label in _rotated(labels, r):
                got[label].update(ways[way](label))
        rounds.append(got)
        for label in labels:
            print(f"round {r + 1} {label}: " + ", ".join(
                f"{name} {got[label][key]:,.1f}" for key, name, _ in figures)
                + f"; load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"median of {args.rounds} rounds, {args.events} events, {args.lookups} lookups:")
    medians = {label: {key: statistics.median(got[label][key] for got in rounds)
                       for key, _, _ in figures} for label in labels}
    for label, m in medians.items():
        print(f"  {label:<22} " + ", ".join(f"{name} {m[key]:,.1f}" for key, name, _ in figures)
              + (f"; write_events/raw {m['store'] / m['raw']:.2f}" if "raw" in m and "store" in m
                 else ""))
    print("spread of the medians (slowest/fastest, target >= 0.80): " + ", ".join(
        f"{key} {_spread([m[key] for m in medians.values()], higher):.2f}"
        for key, _, higher in figures))
    own = {key: statistics.median(_spread([got[label][key] for label in labels], higher)
                                  for got in rounds) for key, _, higher in figures}
    print("median of the rounds' own spreads: "
          + ", ".join(f"{key} {value:.2f}" for key, value in own.items()))


def _spread(values: list[float], higher_is_better: bool) -> float:
    return min(values) / max(values) if higher_is_better or min(values) > 0 else math.nan


if __name__ == "__main__":
    main()
