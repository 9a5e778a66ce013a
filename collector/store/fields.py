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


@dataclass(frozen=True, slots=True)
class FieldSpec:
    type: FieldType
    # Arrays of values (``midwatch.ids``): a filter matches when any element does.
    array: bool = False


_K = FieldSpec("keyword")
_KA = FieldSpec("keyword", array=True)
_T = FieldSpec("text")
_D = FieldSpec("date")
_L = FieldSpec("long")
_I = FieldSpec("integer")
_B = FieldSpec("boolean")

EVENTS: dict[str, FieldSpec] = {
    "@timestamp": _D, "event.id": _K, "event.ingested": _D, "event.created": _D,
    "event.dataset": _K,
    "event.action": _K, "event.outcome": _K, "event.duration": _L, "log.level": _K,
    "message": _T, "service.name": _K, "host.name": _K, "trace.id": _K, "span.id": _K,
    "error.type": _K, "error.code": _K, "error.message": _T, "error.stack_trace": _T,
    "midwatch.platform": _K, "midwatch.flow": _K, "midwatch.stage": _K,
    "midwatch.partner": _K, "midwatch.message_id": _K, "midwatch.ids": _KA,
    "midwatch.error_class": _K, "midwatch.signature": _K, "midwatch.payload_bytes": _L,
    "midwatch.timestamp_estimated": _B, "midwatch.probe.value": _L,
}

# ``id_values`` is the stores' own addition to the trace document: the bare values of
# ``ids`` (``4711`` for ``order:4711``), so a lookup by bare ID is one term query.
TRACES: dict[str, FieldSpec] = {
    "trace_key": _K, "ids": _KA, "id_values": _KA, "flow": _K, "partner": _K, "status": _K,
    "started_at": _D, "ended_at": _D, "last_seen": _D, "duration_ms": _L, "hop_count": _I,
    "error_count": _I, "retry_count": _I, "stages": _KA, "sla_ms": _L, "sla_breached": _B,
    "last_error.class": _K, "last_error.message": _T, "last_error.stage": _K,
    "dead_lettered": _B, "platforms": _KA, "services": _KA,
}

DEADLETTER: dict[str, FieldSpec] = {
    "@timestamp": _D, "reason": _T, "source": _K, "stage": _K, "raw": _T,
    "raw_truncated": _B, "field": _K,
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


def check_fields(index: str, fields: Iterable[str]) -> None:
    for name in fields:
        spec(index, name)


def time_fields(index: str) -> list[str]:
    return sorted(name for name, s in SCHEMAS[index].items() if s.type == "date")
