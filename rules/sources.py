"""Raw query rules checked against the store they will run on, at validation and startup.

A ``query`` rule names an index pattern and fields of the cluster, which only the cluster
can confirm: its ``_validate/query`` and ``_field_caps`` answers become errors at the rule's
file:line (``Store.check_source``). A SQLite store refuses such rules outright. A store
that does not answer leaves the shape checks of the loader as the only ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from collector.store.base import Store, StoreUnavailable
from collector.yamlconf import ConfigError
from rules import types
from rules.schema import Rule


def check_sources(rules: Iterable[Rule], store: Store) -> tuple[list[ConfigError], bool]:
    """(every problem, as a ConfigError at the rule's origin; False when the store did not
    answer and the rules were checked by shape only)."""
    errors: list[ConfigError] = []
    for rule in rules:
        module = types.get(rule.type)
        if not hasattr(module, "store_checks"):
            continue
        source, needs = module.store_checks(rule)
        try:
            problems = store.check_source(source, needs)
        except StoreUnavailable:
            return errors, False
        file, _, line = rule.origin.rpartition(":")
        errors += [ConfigError(file or rule.origin, int(line) if line.isdigit() else None,
                               f"rule {rule.name}", p) for p in problems]
    return errors, True
