"""The ID types the configured inputs' parser mappings write (``ids:`` of a ``mapping:``
file): a site's own types, which the flow catalog's ``ids:`` may name however close to a
built-in one (``collector.id_types``) without being taken for a misspelling."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collector.parsers.json_lines import load_mapping


def mapped_id_types(inputs: Iterable[Any]) -> frozenset[str]:
    """Each input config's ``mapping`` file read as the input reads it (a ``ConfigError``
    names its file, line and key), its ``ids.<type>`` keys."""
    found: set[str] = set()
    for cfg in inputs:
        file = getattr(cfg, "mapping", None)
        if file:
            found.update(k[4:] for k in load_mapping(file) if k.startswith("ids."))
    return frozenset(found)
