"""Rule types: one module each, found by name through ``REGISTRY`` (``collector.registry``).

A built-in type is one new file here plus one line in ``REGISTRY``; an installed package adds
one through the entry point group ``midwatch.rule_types`` (value: the module's dotted path),
with the same contract, checked by the same conformance test. A type module defines:

- ``KEYS``: the rule keys it reads beyond the common ones (name, filter, window, ...);
- ``CONTEXT``: template variables its samples provide (beyond ``COMMON_VARIABLES``);
- ``parse(section) -> spec``: its own settings, validated with file:line errors;
- ``index(spec) -> str``: the store index its filters and group_by apply to;
- ``queries(rule, at_ms) -> list[MetricQuery]`` and
  ``evaluate(rule, at_ms, results) -> list[Sample]``: pure, so the engine can batch every
  rule's queries into one ``store.metrics`` call and share identical ones;
- optionally ``check(rule, section)``: checks that need the whole rule (group_by and
  type settings together); ``EXTRA_LABELS``: labels its alerts carry beyond group_by;
  ``examples(rule, sample, at_ms, store, limit) -> list[str]``: sample message IDs for a
  page, when the events index (the engine's default) is not where they are;
  ``quiet(rule, at_ms, results) -> bool``: True only when no sample of ``evaluate`` would be
  active, checked more cheaply (a rule without open alerts then needs no samples: a
  backfill's ``rules.series.Runs`` are checked for all groups at once);
  ``retain(names)``: called on every reload with the names of the rules now loaded, so a
  type that keeps per-rule state in the process (models) drops that of removed rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from collector.config_values import Section
from collector.registry import Registry
from collector.store.base import Agg, MetricQuery, MetricRow
from rules.schema import Rule

COUNT = Agg("count")
COMMON_VARIABLES = ("rule", "severity", "value", "window", "for", "message_ids", "trace_url",
                    "description", "example_message", "template", "unit")


REGISTRY = Registry(
    "rule type",
    {
        "absence": "rules.types.absence",
        "anomaly": "rules.types.anomaly",
        "latency": "rules.types.latency",
        "new_error": "rules.types.new_error",
        "query": "rules.types.query",
        "ratio": "rules.types.ratio",
        "slo_burn": "rules.types.slo_burn",
        "spike": "rules.types.spike",
        "stuck": "rules.types.stuck",
        "threshold": "rules.types.threshold",
    },
    required=("KEYS", "CONTEXT", "parse", "index", "queries", "evaluate"),
    optional=("check", "EXTRA_LABELS", "examples", "UNIT", "quiet", "retain"),
    entry_point_group="midwatch.rule_types",
)


def get(name: str) -> ModuleType:
    """The type module; an unknown name raises ``KeyError`` naming the closest and the known."""
    return REGISTRY.get(name)


def window_query(rule: Rule, at_ms: int, agg: Agg = COUNT, *, index: str = "events",
                 start_ms: int | None = None, end_ms: int | None = None,
                 time_field: str = "@timestamp", extra_group: tuple[str, ...] = (),
                 max_groups: int | None = None) -> MetricQuery:
    """The rule's filters and groups over its window ending at ``at_ms`` (or the given span)."""
    return MetricQuery(
        index=index,  # type: ignore[arg-type]
        start_ms=at_ms - rule.window_ms if start_ms is None else start_ms,
        end_ms=at_ms if end_ms is None else end_ms,
        agg=agg,
        filters=rule.filters,
        group_by=rule.group_by + extra_group,
        time_field=time_field,
        max_groups=max_groups or rule.max_groups,
    )


def group_key(row: MetricRow, fields: tuple[str, ...]) -> tuple[str, ...]:
    """Group values as text, so YAML-written expectations match typed store keys."""
    group = row.group  # as ``text_key``, inline: called for every group of every rule
    if len(fields) == 1:  # most rules group by one field
        value = group.get(fields[0])
        return ("" if value is None else str(value),)
    return tuple(["" if (value := group.get(f)) is None else str(value) for f in fields])


def text_key(values: Iterable[Any]) -> tuple[str, ...]:
    """``group_key`` of a group's values (in group_by order)."""
    return tuple(["" if v is None else str(v) for v in values])


def bounds(s: Section) -> tuple[float | None, float | None]:
    """``above`` / ``below`` (at least one): the condition holds outside them."""
    above, below = number(s, "above"), number(s, "below")
    if above is None and below is None:
        raise s.error("above", "is required (or below)", "e.g. above: 10")
    return above, below


def breaches(value: float | None, above: float | None, below: float | None) -> bool:
    if value is None:
        return False
    return (above is not None and value > above) or (below is not None and value < below)


def number(s: Section, key: str, default: float | None = None, *, minimum: float | None = None,
           maximum: float | None = None) -> Any:
    value = s.raw(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise s.error(key, f"expected a number, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise s.error(key, f"expected a number in [{minimum}, {maximum}], got {value!r}")
    return value
