"""The trace explorer: server-rendered HTML pages over the same store queries as the API.

Served by the API listener at ``/``, ``/traces/...``, ``/flows/...`` and ``/static/...``
(``collector.api`` hands those paths to ``routes.handle``). Pages are built on the server from
templates shipped in this package, so they work offline and need no front-end build; every
value is escaped by ``markup.render`` unless a view explicitly produced it as ``Safe`` markup.
"""
