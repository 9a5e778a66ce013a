"""Correlation: events grouped into traces by the flow catalog.

``catalog`` (flows and stages from configuration), ``correlator`` (events -> traces),
``tracebuild`` (the pure trace arithmetic both share) and ``trace_repair`` (merging traces split
across collectors) change together, so they live together, below the service and above the data
model (``collector.event``, ``collector.trace``); nothing here imports a parser.
"""
