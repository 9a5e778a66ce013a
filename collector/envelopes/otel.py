"""OTLP log records the OpenTelemetry Collector's ``filelog`` receiver made of a file's lines.

Such a record has the raw line as a string ``body`` and the file in the attributes
``log.file.path`` (``include_file_path: true``) or ``log.file.name`` (the default
``include_file_name: true``); ``host.name`` is a resource attribute (``resourcedetection``)
and ``observedTimeUnixNano`` is when the receiver read the line (``timeUnixNano`` stays 0
unless an operator parsed the line's time). These records are the platform's lines, not
OTel logs: ``split`` takes them out of an export for the line parsers; every other record
(an SDK's structured log) stays in the export for the ``otlp-json`` mapping.

The line's identity is its file path plus a hash of the record (receiver time and body),
so an exporter's retry overwrites instead of duplicating.
"""

from __future__ import annotations

import orjson

from collector.envelopes.shipped import Shipped, text

_FILE_KEYS = ("log.file.path", "log.file.name")


def _string(value: object) -> str | None:
    """An OTLP AnyValue's string (``stringValue`` in OTLP/JSON, ``string_value`` from protobuf
    field names); only strings matter here (a body, a path, a host name). Read here rather
    than with the otlp-json parser's helpers so that envelopes do not depend on parsers."""
    if not isinstance(value, dict):
        return None
    found = value.get("stringValue", value.get("string_value"))
    return found if isinstance(found, str) else None


def _strings(items: object) -> dict[str, str]:
    """The string-valued attributes of a key/value list."""
    out: dict[str, str] = {}
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            value = _string(item.get("value"))
            if value is not None:
                out[item["key"]] = value
    return out


def _nanos(record: dict, camel: str, snake: str) -> int:
    value = record.get(camel, record.get(snake))
    try:
        return max(0, int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def shipped(record: dict, resource: dict[str, str]) -> Shipped | None:
    """The file line of one log record, or None when the record is not one."""
    body = _string(record.get("body"))
    if not body:
        return None
    attrs = _strings(record.get("attributes"))
    path = next((text(attrs.get(k)) for k in _FILE_KEYS if text(attrs.get(k))), None)
    if path is None:
        return None
    seen = (_nanos(record, "observedTimeUnixNano", "observed_time_unix_nano")
            or _nanos(record, "timeUnixNano", "time_unix_nano"))
    return Shipped(line=body.removesuffix("\n"), shipper="otel-collector",
                   host=text(resource.get("host.name")), path=path,
                   created_ms=seen // 1_000_000)


def _list(d: dict, camel: str, snake: str) -> list:
    value = d.get(camel, d.get(snake))
    return value if isinstance(value, list) else []


def _with(d: dict, camel: str, snake: str, items: list) -> dict:
    """A copy of ``d`` with ``items`` as its list under the camelCase key."""
    out = {k: v for k, v in d.items() if k not in (camel, snake)}
    out[camel] = items
    return out


def split(export: dict) -> tuple[dict, list[Shipped]]:
    """(the export without its file lines, the file lines in order). The export is copied
    only where records were taken out."""
    lines: list[Shipped] = []
    kept_resources = []
    for rl in _list(export, "resourceLogs", "resource_logs"):
        if not isinstance(rl, dict):
            continue
        resource_obj = rl.get("resource")
        resource = _strings(resource_obj.get("attributes")
                            if isinstance(resource_obj, dict) else None)
        kept_scopes = []
        for sl in _list(rl, "scopeLogs", "scope_logs"):
            if not isinstance(sl, dict):
                continue
            kept = []
            for record in _list(sl, "logRecords", "log_records"):
                line = shipped(record, resource) if isinstance(record, dict) else None
                if line is None:
                    kept.append(record)
                else:
                    lines.append(line)
            if kept:
                kept_scopes.append(_with(sl, "logRecords", "log_records", kept))
        if kept_scopes:
            kept_resources.append(_with(rl, "scopeLogs", "scope_logs", kept_scopes))
    if not lines:
        return export, []
    rest = {k: v for k, v in export.items() if k not in ("resourceLogs", "resource_logs")}
    rest["resourceLogs"] = kept_resources
    return rest, lines


def proto_as_json(value: bytes) -> str | None:
    """A Kafka value the OTel Collector's Kafka exporter wrote with ``encoding: otlp_proto``
    (an ``ExportLogsServiceRequest``), as OTLP/JSON text; None when the value is not one.

    Such a value starts with field 1 (``resource_logs``, length-delimited: byte 0x0A), which
    no text line does (it would be an empty line); it must then decode and hold a record.
    """
    if value[:1] != b"\x0a":
        return None
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    try:
        request = logs_service_pb2.ExportLogsServiceRequest.FromString(value)
    except DecodeError:
        return None
    if not any(sl.log_records for rl in request.resource_logs for sl in rl.scope_logs):
        return None
    return orjson.dumps(MessageToDict(request)).decode()
