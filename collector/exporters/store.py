"""The Store as the pipeline sees it, plus: every trace it writes is offered to the exporters.

Every trace write (the correlator's flush, the stuck sweep, trace repair) goes through
``upsert_traces``, so this is the one place that sees every journey reach a final state without
the correlator knowing about exporters. Offering happens after the write succeeded: what is
exported is what the store holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.exporters.otlp import OtlpExporter
from collector.store.base import ConflictError, Store
from collector.trace import Trace


class ExportingStore:
    def __init__(self, store: Store, exporters: Sequence[OtlpExporter]):
        self.store, self.exporters = store, tuple(exporters)

    def __getattr__(self, name: str):
        return getattr(self.store, name)

    def upsert_traces(self, traces: Sequence[Trace], deleted: Sequence[Trace] = ()) -> None:
        try:
            self.store.upsert_traces(traces, deleted)
        except ConflictError as exc:  # the rest were written
            lost = set(exc.trace_keys)
            self._offer([t for t in traces if t.trace_key not in lost])
            raise
        self._offer(list(traces))

    def _offer(self, traces: list[Trace]) -> None:
        for exporter in self.exporters:
            exporter.offer(traces)
