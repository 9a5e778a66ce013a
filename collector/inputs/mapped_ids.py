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
    return _types_of(getattr(cfg, "mapping", None) for cfg in inputs)


def mapped_id_types_in(data: Any) -> frozenset[str]:
    """The same for a config read raw (``midwatch trace`` and ``slo`` read only its
    ``flows:`` and ``store:``, not every input): each ``inputs:`` entry's ``mapping``, so they
    accept the catalog ``midwatch run`` accepts."""
    inputs = data.get("inputs") if isinstance(data, dict) else None
    return _types_of(i.get("mapping") for i in inputs if isinstance(i, dict)) \
        if isinstance(inputs, list) else frozenset()


def _types_of(files: Iterable[Any]) -> frozenset[str]:
    found: set[str] = set()
    for file in files:
        if isinstance(file, str) and file:
            found.update(k[4:] for k in load_mapping(file) if k.startswith("ids."))
    return frozenset(found)
