"""Bounded work per OTLP export: limits checked before a request becomes Python objects.

A 29 KB gzip body of ten million empty spans (``{}``) drove the receiver past 4 GB, and a
4 MB protobuf of two million spans to 2 GB: every span costs about 1.1 KB once decoded and
mapped, whatever it carried on the wire. So the shape of a request is checked first, at a
cost proportional to its bytes and without building what it describes:

- protobuf: a walk over the wire format (tags and lengths only; strings are skipped, not
  copied) counts fields, records, attributes per message and nesting depth, and measures
  every string, stopping at the first limit passed;
- JSON: ``bytes.count`` of ``{``, ``[`` and ``,`` bounds the values before ``orjson`` builds
  any (those inside strings only overcount), piece by piece while a gzip body is
  inflated, so a bomb stops at its first megabytes; once parsed, an iterative walk checks
  depth, records, attributes and string lengths before any event is built.

The limits (``otlp`` input keys, see deploy/midwatch.example.yaml) and what they bound:
``max_records`` spans and log records per request, ``max_attributes`` attributes of one
span, log record, resource, scope, span event or link, ``max_depth`` nesting levels (JSON
objects and arrays, or protobuf messages), ``max_string_bytes`` one string or bytes value,
``max_values`` values in a request: JSON objects, arrays and their members after the first
(``{``, ``[`` and ``,``: a string of a million numbers costs as much as a million objects),
or protobuf fields.
Over a limit is ``LimitExceeded``: the receiver answers 413 naming the limit, and a file
record is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


@dataclass(frozen=True, slots=True)
class Limits:
    max_records: int = 10_000
    max_attributes: int = 256
    max_depth: int = 64
    max_string_bytes: int = 1024 * 1024
    max_values: int = 1_000_000


# The defaults, also what bounds an OTLP JSON record read from a file (a line of at most 1 MiB).
DEFAULT = Limits()


class NotOtlp(ValueError):
    """A protobuf body the walk can tell is no OTLP export (the receiver answers 400)."""


class LimitExceeded(ValueError):
    """A request over one of the limits; ``limit`` is the config key that bounds it."""

    def __init__(self, limit: str, bound: int, what: str):
        super().__init__(f"{what}: over the limit of {bound} (otlp input setting {limit})")
        self.limit, self.bound = limit, bound


# --- JSON -----------------------------------------------------------------------------------

RECORD_KEYS = frozenset({"spans", "logRecords", "log_records"})


class JsonValues:
    """Counts the values of a JSON body piece by piece (as gzip inflates it), in C
    (``bytes.count``), so a bomb is refused once a piece passes ``max_values``."""

    def __init__(self, limits: Limits):
        self.limits, self.seen = limits, 0

    def __call__(self, piece: bytes) -> None:
        self.seen += piece.count(b"{") + piece.count(b"[") + piece.count(b",")
        if self.seen > self.limits.max_values:
            raise LimitExceeded("max_values", self.limits.max_values,
                                f"more than {self.limits.max_values} JSON values in one "
                                f"request")


def check_json_bytes(body: bytes, limits: Limits) -> None:
    """Before parsing: at most ``max_values`` values."""
    JsonValues(limits)(body)


def check_json(obj: object, limits: Limits) -> None:
    """After parsing, before mapping: depth, records, attributes and strings of an export.
    Iterative, so a value nested a thousand levels costs no Python stack."""
    records = 0
    stack: list[tuple[dict | list, int]] = [(obj, 1)] if isinstance(obj, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limits.max_depth:
            raise LimitExceeded("max_depth", limits.max_depth,
                                f"values nested more than {limits.max_depth} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, limits)
                if isinstance(item, list):
                    if key in RECORD_KEYS:
                        records += len(item)
                        if records > limits.max_records:
                            raise LimitExceeded("max_records", limits.max_records,
                                                f"more than {limits.max_records} spans and log "
                                                f"records in one request")
                    elif key == "attributes" and len(item) > limits.max_attributes:
                        raise LimitExceeded("max_attributes", limits.max_attributes,
                                            f"{len(item)} attributes on one record")
            items = value.values()
        else:
            items = value
        for item in items:
            if isinstance(item, str):
                _check_string(item, limits)
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))


def _check_string(text: str, limits: Limits) -> None:
    if len(text) > limits.max_string_bytes:
        raise LimitExceeded("max_string_bytes", limits.max_string_bytes,
                            f"a string of {len(text)} characters")


# --- protobuf -------------------------------------------------------------------------------

@dataclass(slots=True)
class _Shape:
    """What the walk needs of one message type: its message-typed fields by number, which of
    them are records (spans, log records), and the number of its ``attributes`` field."""

    children: dict[int, _Shape]
    records: frozenset[int]
    attributes: int | None


def _shape(desc: Descriptor, seen: dict[str, _Shape]) -> _Shape:
    if desc.full_name in seen:
        return seen[desc.full_name]
    shape = _Shape({}, frozenset(), None)
    seen[desc.full_name] = shape  # AnyValue refers to itself through its lists
    records = set()
    for f in desc.fields:
        if f.name == "attributes":
            shape.attributes = f.number
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            shape.children[f.number] = _shape(f.message_type, seen)
            if f.message_type.name in ("Span", "LogRecord"):
                records.add(f.number)
    shape.records = frozenset(records)
    return shape


_SHAPES = {
    "/v1/traces": _shape(trace_service_pb2.ExportTraceServiceRequest.DESCRIPTOR, {}),
    "/v1/logs": _shape(logs_service_pb2.ExportLogsServiceRequest.DESCRIPTOR, {}),
}


class _Walk:
    """One request's walk: running totals, and the limits they are held to."""

    __slots__ = ("buf", "limits", "records", "values")

    def __init__(self, buf: bytes, limits: Limits):
        self.buf, self.limits = buf, limits
        self.records = 0
        self.values = 0

    def varint(self, pos: int) -> tuple[int, int]:
        buf = self.buf
        byte = buf[pos]
        if byte < 0x80:
            return byte, pos + 1
        value, shift = byte & 0x7F, 7
        while True:
            pos += 1
            byte = buf[pos]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos + 1
            shift += 7
            if shift > 63:
                raise IndexError("varint too long")

    def message(self, start: int, end: int, shape: _Shape, depth: int) -> None:
        limits = self.limits
        if depth > limits.max_depth:
            raise LimitExceeded("max_depth", limits.max_depth,
                                f"messages nested more than {limits.max_depth} levels deep")
        attributes = 0
        pos = start
        while pos < end:
            tag, pos = self.varint(pos)
            self.values += 1
            if self.values > limits.max_values:
                raise LimitExceeded("max_values", limits.max_values,
                                    f"more than {limits.max_values} protobuf fields in one "
                                    f"request")
            wire = tag & 7
            if wire == 0:
                _, pos = self.varint(pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = self.varint(pos)
                if pos + size > end:
                    return  # cut short: the decoder will say so
                number = tag >> 3
                child = shape.children.get(number)
                if child is None:
                    if size > limits.max_string_bytes:
                        raise LimitExceeded("max_string_bytes", limits.max_string_bytes,
                                            f"a string of {size} bytes")
                else:
                    if number in shape.records:
                        self.records += 1
                        if self.records > limits.max_records:
                            raise LimitExceeded("max_records", limits.max_records,
                                                f"more than {limits.max_records} spans and "
                                                f"log records in one request")
                    elif number == shape.attributes:
                        attributes += 1
                        if attributes > limits.max_attributes:
                            raise LimitExceeded("max_attributes", limits.max_attributes,
                                                f"more than {limits.max_attributes} "
                                                f"attributes on one record")
                    self.message(pos, pos + size, child, depth + 1)
                pos += size
            else:
                # Groups (proto2) are in no OTLP message, but a decoder keeps them as unknown
                # fields and reads on: stopping the walk here let whatever followed through
                # uncounted. Wire types 6 and 7 do not exist.
                raise NotOtlp(f"wire type {wire} (field {tag >> 3}): no OTLP message has "
                              f"groups")


def check_protobuf(path: str, body: bytes, limits: Limits) -> None:
    """Before decoding: the wire walk of an ``Export*ServiceRequest``. A body that is not
    well-formed is left to the decoder, which answers it with a 400 of its own."""
    try:
        _Walk(body, limits).message(0, len(body), _SHAPES[path], 1)
    except IndexError:
        return
