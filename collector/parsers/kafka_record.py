"""Kafka records as the Kafka input hands them over: value text, key, headers, topic, offset.

Kept apart from ``kafka_broker`` because the two share nothing but the platform: broker logs
are lines in files, records are whole messages whose IDs ride in headers (set by the
producing application or by OpenTelemetry) and in the JSON body. ``detect`` is always false:
records are parsed with this format by configuration (the Kafka input's ``format``), never
guessed from a line, where they would be indistinguishable from generic JSON.

- ``Record.source`` is the topic (a ``kafka:`` or ``kafka://`` prefix is dropped) and
  ``Record.position`` ``<partition>:<offset>`` (``/`` and ``-`` separators are accepted too).
- Headers: correlation (``correlation-id``, ``x-correlation-id``, ``correlationId``...),
  ``traceparent``, ``message-id`` -> ``msg:``, and any header ``fields.id_kind`` recognizes.
  The key becomes ``kafka.key:``.
- Body: a JSON object's top-level fields (and those of an ``headers``/``metadata``/``meta``
  envelope) are business fields; its ``timestamp``/``@timestamp``/``time``/``eventTime`` is the
  event time. Without one, the record's ingest time stands in, flagged as estimated (the
  record's own Kafka timestamp is not part of ``Record``).
- ``event.action`` is ``consumed`` unless a ``midwatch-action`` header names another action.

Lines of ``kafka-console-consumer`` (piped in with ``--format kafka-record``) carry what the
Kafka input would have handed over, in the order its DefaultMessageFormatter writes them,
tab-separated: ``CreateTime:<ms>``/``LogAppendTime:<ms>``/``NO_TIMESTAMP``
(``print.timestamp``), ``Partition:<n>``, ``Offset:<n>``, the headers as ``k:v,k:v`` or
``NO_HEADERS`` (``print.headers``), the key (``print.key``), then the value. A line is read so
only when it starts with the timestamp, partition or offset field; the record's timestamp
then stands in for the ingest time.
"""

from __future__ import annotations

import re

import orjson

from collector.event import ACTIONS, Event, Record
from collector.normalize import normalize_level
from collector.parsers._base import ParseContext
from collector.parsers._fields import business_field, id_kind, set_label
from collector.timeparse import parse_ms

NAME = "kafka-record"
DATASET = "kafka.record"
START = None

_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_POSITION = re.compile(r"(\d+)[:/-](\d+)$")
_MESSAGE_ID_HEADERS = frozenset({"message-id", "message_id", "messageid", "x-message-id",
                                 "jms_messageid", "id"})
_ACTION_HEADERS = ("midwatch-action", "x-midwatch-action", "midwatch.action")
_TIME_FIELDS = ("@timestamp", "timestamp", "time", "eventTime", "event_time", "ts")
_ENVELOPES = ("headers", "metadata", "meta")
_SKIP_BODY = frozenset({"payload", "data", "body", "content"})
_CONSOLE_FIRST = ("CreateTime:", "LogAppendTime:", "NO_TIMESTAMP", "Partition:", "Offset:")


def detect(line: str) -> bool:
    return False


def parse(record: Record, ctx: ParseContext) -> list[Event]:
    topic = record.source.removeprefix("kafka://").removeprefix("kafka:")
    ev = Event(timestamp_ms=record.ingested_ms or ctx.now_ms, timestamp_estimated=True,
               dataset=DATASET, platform="kafka", action="consumed")
    set_label(ev, "kafka_topic", topic)
    position = _POSITION.search(record.position)
    if position:
        set_label(ev, "kafka_partition", position.group(1))
        set_label(ev, "kafka_offset", position.group(2))
    _headers(ev, record.headers)
    ev.add_id("kafka.key", record.key)
    value = record.text
    if value.startswith(_CONSOLE_FIRST) and "\t" in value:
        value = _console_line(ev, value)
    body = _json(value)
    if body is None:
        ev.message = value[:1024]
    else:
        _body(ev, body, ctx)
    ev.payload_bytes = len(value.encode("utf-8", "replace"))
    if not ev.message:
        ev.message = f"record on {topic}"
    return [ev]


def _console_line(ev: Event, line: str) -> str:
    """Read the fields ``kafka-console-consumer`` put before the value into ``ev``; returns
    the value. Which of headers and key were printed is told by how many fields remain
    (headers, key, value / key, value / value), the key being the likelier of the two."""
    fields = line.split("\t")
    head = fields[0]
    if head.startswith(("CreateTime:", "LogAppendTime:")):
        ts = head.partition(":")[2]
        if ts.isdigit():
            ev.timestamp_ms, ev.timestamp_estimated = int(ts), False
        fields.pop(0)
    elif head == "NO_TIMESTAMP":
        fields.pop(0)
    for prefix, label in (("Partition:", "kafka_partition"), ("Offset:", "kafka_offset")):
        if len(fields) > 1 and fields[0].startswith(prefix):
            set_label(ev, label, fields.pop(0)[len(prefix):])
    if len(fields) > 1 and (fields[0] == "NO_HEADERS" or len(fields) > 2):
        _headers(ev, _console_headers(fields.pop(0)))
    if len(fields) > 1 and fields[0] != "null":
        ev.add_id("kafka.key", fields[0])
    return fields[-1] if len(fields) <= 2 else "\t".join(fields[1:])


def _console_headers(text: str) -> dict[str, str]:
    """``k:v,k2:v2`` as the console consumer prints headers; ``NO_HEADERS`` when there are none."""
    if text == "NO_HEADERS":
        return {}
    pairs = (item.partition(":") for item in text.split(","))
    return {key: value for key, sep, value in pairs if sep and key}


def _json(text: str) -> dict | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _headers(ev: Event, headers: dict[str, str]) -> None:
    for name, value in headers.items():
        lower = name.lower()
        if lower == "traceparent":
            m = _TRACEPARENT.fullmatch(str(value).strip())
            if m:
                ev.trace_id, ev.span_id = m.group(1), m.group(2)
                ev.add_id("otel.trace", m.group(1))
        elif lower in _MESSAGE_ID_HEADERS:
            ev.add_id("msg", value)
        elif lower in _ACTION_HEADERS:
            if value in ACTIONS:
                ev.action = value
        else:
            kind = id_kind(lower)
            if kind:
                ev.add_id(kind, value)
        set_label(ev, f"header_{lower}", value)


def _event_time(doc: dict, ctx: ParseContext) -> int | None:
    envelopes = [doc[e] for e in _ENVELOPES if isinstance(doc.get(e), dict)]
    for part in (doc, *envelopes):
        for key in _TIME_FIELDS:
            if part.get(key) is not None:
                ts = parse_ms(str(part[key]), ctx.tz, ctx.now_ms)
                if ts is not None:
                    return ts
    return None


def _body(ev: Event, doc: dict, ctx: ParseContext) -> None:
    ts = _event_time(doc, ctx)
    if ts is not None:
        ev.timestamp_ms, ev.timestamp_estimated = ts, False
    for key in ("message", "msg", "event", "eventType", "type"):
        if isinstance(doc.get(key), str):
            ev.message = doc[key]
            break
    if isinstance(doc.get("level"), str):
        ev.level = normalize_level(doc["level"])
    if isinstance(doc.get("service"), str):
        ev.service = doc["service"]
    for envelope in _ENVELOPES:
        if isinstance(doc.get(envelope), dict):
            for key, value in doc[envelope].items():
                if key not in _TIME_FIELDS:
                    business_field(ev, str(key), value)
    for key, value in doc.items():
        if key not in _SKIP_BODY and key not in _TIME_FIELDS:
            business_field(ev, key, value)
