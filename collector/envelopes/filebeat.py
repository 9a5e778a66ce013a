"""Filebeat and Elastic Agent (its filestream/log inputs are Filebeat's): an ECS document.

``message`` is the line, ``log.file.path`` the file, ``log.offset`` the byte offset the line
starts at, ``host.name`` the machine, ``@timestamp`` when Filebeat read the line (not when
the platform wrote it). Outputs write the fields nested (Elasticsearch, Kafka, Logstash,
file) or, after some processors, flattened as dotted keys; both are read. Filebeat before 6.3
wrote ``source`` and ``offset`` at the top instead. Shape: tests/data/shippers/SOURCES.md.
"""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, dig, offset, text, when


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("message"))
    if line is None:
        return None
    agent = text(dig(doc, "agent.type")) or text(dig(doc, "@metadata.beat"))
    path = text(dig(doc, "log.file.path"))
    legacy = path is None and agent is not None and text(doc.get("source")) is not None
    if legacy:
        path = text(doc.get("source"))
    if path is None or (agent is None and "input" not in doc and "ecs" not in doc):
        return None
    host = text(dig(doc, "host.name")) or text(dig(doc, "host.hostname")) or text(doc.get("host"))
    where = doc.get("offset") if legacy else dig(doc, "log.offset")
    return Shipped(line=line, shipper=agent or "filebeat", host=host, path=path,
                   offset=offset(where), created_ms=when(doc.get("@timestamp")))
