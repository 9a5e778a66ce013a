"""The ceiling every store bench is compared with: raw ``helpers.bulk`` into the same cluster.

Shared by store_bench and e2e_bench so both measure midwatch against the same yardstick in
the same run (these machines are noisy; absolute numbers alone mean little).
"""

from __future__ import annotations

import time
import uuid

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


def raw_bulk(es: Elasticsearch, events: list[Event], chunk: int) -> float:
    """helpers.bulk of prepared documents (built before the clock starts) into fresh indices."""
    prefix = f"mwbench-raw-{uuid.uuid4().hex[:6]}"
    ElasticsearchStore(client=es, index_prefix=prefix).setup()
    base = es_mappings.index_names(prefix).events
    prepared = [{"_index": es_mappings.daily(base, e.timestamp_ms), "_id": e.id,
                 "_source": to_doc(e)} for e in events]
    try:
        t = time.perf_counter()
        ok, _ = helpers.bulk(es, prepared, chunk_size=chunk, stats_only=True)
        return ok / (time.perf_counter() - t)
    finally:
        cleanup(es, prefix)
