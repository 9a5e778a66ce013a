"""The ceiling every store bench is compared with: raw ``helpers.bulk`` into the same cluster.

Shared by store_bench and e2e_bench so both measure midwatch against the same yardstick in
the same run (these machines are noisy; absolute numbers alone mean little).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from collector.event import Event, to_doc
from collector.store import es_mappings
from collector.store.elasticsearch import ElasticsearchStore


def cleanup(es: Elasticsearch, prefix: str) -> None:
    """Delete a bench prefix's indices and templates."""
    found = es.indices.get(index=f"{prefix}-*", allow_no_indices=True)
    if found:
        es.indices.delete(index=",".join(found))
    for name in es_mappings.templates(prefix):
        es.options(ignore_status=404).indices.delete_index_template(name=name)


def es_cpu_s() -> float | None:
    """CPU seconds used so far by the local Elasticsearch started by services.sh (its pid file
    under MIDWATCH_CACHE), or None when it is not that one: on a machine where the collector
    and the store share the cores, the store's CPU per event is half of the story."""
    home = Path(os.environ.get("MIDWATCH_CACHE", Path.home() / ".cache" / "midwatch"))
    try:
        return proc_cpu_s((home / "run" / "es.server.pid").read_text().strip())
    except OSError:
        return None


def proc_stat(pid: str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def proc_cpu_s(pid: str, fields: list[str] | None = None) -> float:
    """User + system CPU seconds of a process so far; OSError once it is gone."""
    fields = fields if fields is not None else proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_bulk(es: Elasticsearch, events: list[Event], chunk: int,
             traces: Sequence[dict] = ()) -> float:
    """helpers.bulk of prepared documents (built before the clock starts) into fresh indices:
    the events, and when given the trace documents (each once); events per second."""
    prefix = f"mwbench-raw-{uuid.uuid4().hex[:6]}"
    ElasticsearchStore(client=es, index_prefix=prefix).setup()
    names = es_mappings.index_names(prefix)
    prepared = [{"_index": es_mappings.daily(names.events, e.timestamp_ms), "_id": e.id,
                 "_source": to_doc(e)} for e in events]
    prepared += [{"_index": names.traces, "_id": t["trace_key"], "_source": t} for t in traces]
    try:
        t = time.perf_counter()
        helpers.bulk(es, prepared, chunk_size=chunk, stats_only=True)
        return len(events) / (time.perf_counter() - t)
    finally:
        cleanup(es, prefix)
