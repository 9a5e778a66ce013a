"""What Elasticsearch itself did while a run wrote to it (``e2e_bench.py --timeline``).

The stage timeline says how long the collector's writer sat inside a bulk request; only the
store can say why (issue 25): were its write threads busy the whole time (the node's
``write`` pool has one thread per core, and a bulk request to a one-shard index is one task
for one of them), or idle while requests queued elsewhere (the client, the GIL)? How much of
a request's time was indexing, and how many refreshes, flushes and translog writes did the
run cost? So the node's write pool is sampled while the run goes (``_nodes/stats``, every
``period_s``), and the index stats of the run's indices are read before and after. The pool
is the node's: on a store others write to as well, their tasks count in it, while the index
stats (shard bulk time against the wall time) are the run's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch


@dataclass
class WriteStats:
    """Samples of the node's write pool, and the indices' stats before and after."""
    samples: int = 0
    active: int = 0        # sum over samples of busy write threads
    busy: int = 0          # samples with at least one busy write thread
    full: int = 0          # samples with every write thread busy
    queued: int = 0        # sum over samples of tasks waiting for a write thread
    threads: int = 0
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def _write_pool(es: Elasticsearch) -> dict:
    nodes = es.nodes.stats(metric="thread_pool")["nodes"]
    pools = [n["thread_pool"]["write"] for n in nodes.values()]
    return {key: sum(p[key] for p in pools) for key in ("threads", "active", "queue")}


def _index_totals(es: Elasticsearch, index: str) -> dict:
    """Sums over the primaries of ``index`` (a pattern; the store set its indices up)."""
    resp = es.indices.stats(index=index, metric="indexing,bulk,refresh,flush,translog,merge")
    p = resp.get("_all", {}).get("primaries", {})
    if not p:
        return {}
    return {
        "bulk_ops": p["bulk"]["total_operations"],
        "bulk_ms": p["bulk"]["total_time_in_millis"],
        "bulk_bytes": p["bulk"]["total_size_in_bytes"],
        "docs": p["indexing"]["index_total"],
        "index_ms": p["indexing"]["index_time_in_millis"],
        "refreshes": p["refresh"]["total"],
        "refresh_ms": p["refresh"]["total_time_in_millis"],
        "flushes": p["flush"]["total"],
        "merge_ms": p["merges"]["total_time_in_millis"],
        "translog_ops": p["translog"]["operations"],
    }


@contextmanager
def sampled(url: str, index: str, period_s: float = 0.05) -> Iterator[WriteStats]:
    """Sample the write pool until the block ends; index stats of ``index`` around it."""
    stats = WriteStats()
    es = Elasticsearch(url, request_timeout=30)
    done = threading.Event()
    stats.before = _index_totals(es, index)

    def sample() -> None:
        while not done.wait(period_s):
            pool = _write_pool(es)
            stats.samples += 1
            stats.threads = pool["threads"]
            stats.active += pool["active"]
            stats.busy += pool["active"] > 0
            stats.full += pool["active"] >= max(1, pool["threads"])
            stats.queued += pool["queue"]

    sampler = threading.Thread(target=sample, name="es-write-stats", daemon=True)
    sampler.start()
    try:
        yield stats
    finally:
        done.set()
        sampler.join()
        stats.after = _index_totals(es, index)
        es.close()


def report(stats: WriteStats, elapsed_s: float) -> str:
    n = max(1, stats.samples)
    lines = [f"Elasticsearch while it ran ({stats.samples} samples of the write pool, "
             f"{stats.threads} threads):",
             f"  write threads busy: mean {stats.active / n:.2f}; >= 1 busy {stats.busy / n:.0%}"
             f", all busy {stats.full / n:.0%} of the time; mean queued tasks "
             f"{stats.queued / n:.2f}"]
    if stats.after:
        d = {k: stats.after[k] - stats.before.get(k, 0) for k in stats.after}
        reqs = max(1, d["bulk_ops"])
        lines.append(
            f"  shard bulk requests {d['bulk_ops']}: {d['docs'] / reqs:,.0f} docs, "
            f"{d['bulk_bytes'] / reqs / 1e3:,.0f} kB, {d['bulk_ms'] / reqs:.0f} ms each "
            f"(inside the shard); in all {d['bulk_ms'] / 1e3:.2f} s of bulk, "
            f"{d['index_ms'] / 1e3:.2f} s indexing ({d['bulk_ms'] / 1e3 / elapsed_s:.0%} and "
            f"{d['index_ms'] / 1e3 / elapsed_s:.0%} of the wall time)")
        lines.append(
            f"  refreshes {d['refreshes']} ({d['refresh_ms'] / 1e3:.2f} s), flushes "
            f"{d['flushes']}, merges {d['merge_ms'] / 1e3:.2f} s, translog ops "
            f"{d['translog_ops']}")
    return "\n".join(lines)
