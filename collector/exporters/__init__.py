"""Exporters: message journeys sent on to the tracing tools teams already run.

``spans`` turns Traces into an OTLP request, ``otlp`` sends it over OTLP/HTTP from a
bounded queue on its own thread, ``config`` reads the ``exporters:`` section, and
``store`` is the thin Store wrapper that offers every trace reaching a final state to them.

Each exporter is one module named by one line in ``EXPORTERS`` (or an entry point in
``midwatch.exporters``), holding ``KEYS`` (its keys under ``exporters.<name>``),
``parse(section) -> settings`` (settings with a ``name``) and ``build(settings)`` (an object
with ``offer(traces)``, ``start()`` and ``stop()``, run as a worker of the service).
"""

from __future__ import annotations

from collector.registry import Registry

EXPORTERS = Registry("exporter", {"otlp": "collector.exporters.otlp"},
                     required=("KEYS", "parse", "build"),
                     entry_point_group="midwatch.exporters")
