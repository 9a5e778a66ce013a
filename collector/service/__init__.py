"""Wiring for ``midwatch run``: ``service`` starts inputs, writer, correlator and API and stops
them in order; ``pipeline`` is the writer (parse, correlate, store, ack); ``spool`` holds batches
while the store is away. Components (inputs, parsers, stores) never import this package.
"""
