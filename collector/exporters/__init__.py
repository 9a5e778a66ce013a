"""Exporters: message journeys sent on to the tracing tools teams already run.

``spans`` turns Traces into an OTLP request, ``otlp`` sends it over OTLP/HTTP from a
bounded queue on its own thread, ``config`` reads the ``exporters:`` section, and
``store`` is the thin Store wrapper that offers every trace reaching a final state to them.
"""
