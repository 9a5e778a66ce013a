"""The stored documents' field types, shared by both stores so they answer queries alike.

One table drives the Elasticsearch mappings (``es_mappings``), how SQLite reads a field out of
its JSON documents, and the validation of metric queries and filters: a field a rule names
that the index does not have is an error at once ("unknown field 'midwatch.flw' ... did you
mean 'midwatch.flow'?") instead of a query that silently matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from collector.yamlconf import did_you_mean

FieldType = Literal["keyword", "text", "date", "long", "integer", "boolean"]
# How much of a field the search engines index. Every indexed field costs the engine CPU on
# every document written (OpenSearch 1.4-1.6x what Elasticsearch spends per field), so only
# what a board, rule, report, trace lookup or the explorer reads is indexed:
# - "search": indexed with doc values: filtered, grouped, measured, sorted;
# - "sort": doc values only: sorted on, never searched (``event.id``, the tie-breaker of
#   event pages);
# - "source": kept in each document's ``_source`` (returned with it, shown by the explorer
#   and the trace API) but never indexed; a rule or filter naming it is refused with why.
Keep = Literal["search", "sort", "source"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    type: FieldType
    # Arrays of values (``midwatch.ids``): a filter matches when any element does.
    array: bool = False
    keep: Keep = "search"


_K = FieldSpec("keyword")
_KA = FieldSpec("keyword", array=True)
_T = FieldSpec("text")
_D = FieldSpec("date")
_L = FieldSpec("long")
_I = FieldSpec("integer")
_B = FieldSpec("boolean")
# Nothing filters, groups or measures these (the audit in ``es_mappings``' docstring).
_K_SORT = FieldSpec("keyword", keep="sort")
_K_SRC = FieldSpec("keyword", keep="source")
_T_SRC = FieldSpec("text", keep="source")
_D_SRC = FieldSpec("date", keep="source")
_L_SRC = FieldSpec("long", keep="source")
_B_SRC = FieldSpec("boolean", keep="source")

EVENTS: dict[str, FieldSpec] = {
    "@timestamp": _D, "event.id": _K_SORT, "event.ingested": _D_SRC, "event.created": _D_SRC,
    "event.dataset": _K,
    "event.action": _K, "event.outcome": _K, "event.duration": _L, "log.level": _K,
    "message": _T, "service.name": _K, "host.name": _K, "trace.id": _K, "span.id": _K_SRC,
    "error.type": _K, "error.code": _K, "error.message": _T, "error.stack_trace": _T_SRC,
    "midwatch.platform": _K, "midwatch.flow": _K, "midwatch.stage": _K,
    "midwatch.partner": _K, "midwatch.message_id": _K, "midwatch.ids": _KA,
    "midwatch.error_class": _K, "midwatch.signature": _K, "midwatch.payload_bytes": _L_SRC,
    "midwatch.timestamp_estimated": _B_SRC, "midwatch.probe.value": _L,
}

# ``id_values`` is the stores' own addition to the trace document: the bare values of
# ``ids`` (``4711`` for ``order:4711``), so a lookup by bare ID is one term query.
TRACES: dict[str, FieldSpec] = {
    "trace_key": _K, "ids": _KA, "id_values": _KA, "flow": _K, "partner": _K, "status": _K,
    "started_at": _D, "ended_at": _D, "last_seen": _D, "duration_ms": _L, "hop_count": _I,
    "error_count": _I, "retry_count": _I, "stages": _KA, "sla_ms": _L, "sla_breached": _B,
    "last_error.class": _K_SRC, "last_error.message": _T, "last_error.stage": _K_SRC,
    "dead_lettered": _B, "platforms": _KA, "services": FieldSpec("keyword", array=True, keep="source"),
}

DEADLETTER: dict[str, FieldSpec] = {
    "@timestamp": _D, "reason": _T, "source": _K, "stage": _K, "raw": _T,
    "raw_truncated": _B, "field": _K, "input": _K, "kind": _K,
}

# Alert history documents belong to the rule engine and are free-form; only their time is
# fixed. Other fields are typed by value (strings as keywords) and not validated.
ALERTS: dict[str, FieldSpec] = {"@timestamp": _D, "duration_ms": _L}  # (firing to resolved)

SCHEMAS: dict[str, dict[str, FieldSpec]] = {
    "events": EVENTS, "traces": TRACES, "deadletter": DEADLETTER, "alerts": ALERTS,
}
# Free key/value maps (labels from the sources, alert labels and annotations): any key under
# them is a keyword field, and a key may itself contain dots (``labels.kafka.topic``). They are
# ``flattened`` in Elasticsearch, so new keys never grow the mapping.
OPEN_MAPS: dict[str, tuple[str, ...]] = {
    "events": ("labels",), "alerts": ("labels", "annotations"), "traces": (), "deadletter": (),
}


def split_path(index: str, field: str) -> list[str]:
    """Document path of a dotted field name; keys inside an open map stay whole."""
    head, _, rest = field.partition(".")
    if rest and head in OPEN_MAPS[index]:
        return [head, rest]
    return field.split(".")

def spec(index: str, field: str) -> FieldSpec:
    """The type of ``field`` in ``index``; ValueError naming the field and a fix if unknown."""
    schema = SCHEMAS[index]
    found = schema.get(field)
    if found is not None:
        return found
    head, _, rest = field.partition(".")
    if index == "alerts" or (rest and head in OPEN_MAPS[index]):
        return _K
    hint = did_you_mean(field, schema)
    raise ValueError(
        f"unknown field {field!r} for index {index!r}"
        + (f"; {hint}" if hint else f"; known fields: {', '.join(sorted(schema))}")
    )


def searchable(index: str, field: str) -> FieldSpec:
    """``spec``, for a field a query filters, groups, measures or buckets time by: ValueError
    naming the field and why when it is only kept in the documents, not indexed."""
    found = spec(index, field)
    if found.keep != "search":
        raise ValueError(
            f"field {field!r} of index {index!r} is kept in each document but not indexed "
            "(nothing midwatch ships reads it, and indexing it costs the store on every "
            "event), so it cannot be filtered, grouped or measured; searchable fields: "
            + ", ".join(name for name, s in sorted(SCHEMAS[index].items()) if s.keep == "search")
        )
    return found


def check_fields(index: str, fields: Iterable[str]) -> None:
    for name in fields:
        spec(index, name)


def time_fields(index: str) -> list[str]:
    return sorted(name for name, s in SCHEMAS[index].items()
                  if s.type == "date" and s.keep == "search")
