"""``midwatch report``: the monthly (or quarterly) integration health report.

Every figure comes from aggregations the store runs (``Store.metrics``, the query layer the
rules and boards use), never from events pulled into Python, so a month of ten million events
costs a few dozen queries. ``build`` turns their answers into plain sections (tables and chart
data); ``html``, ``markdown`` and ``pdf`` only lay those out.
"""
