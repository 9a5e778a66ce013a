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
    # Nested, as outputs write it: read directly (every message of a busy shipper comes here).
    log, agent_doc, host_doc = doc.get("log"), doc.get("agent"), doc.get("host")
    file_doc = log.get("file") if isinstance(log, dict) else None
    if isinstance(file_doc, dict) and isinstance(agent_doc, dict):
        path, agent = text(file_doc.get("path")), text(agent_doc.get("type"))
        where = log.get("offset")
        host = text(host_doc.get("name")) if isinstance(host_doc, dict) else text(host_doc)
    else:
        path, agent = text(dig(doc, "log.file.path")), text(dig(doc, "agent.type"))
        where = dig(doc, "log.offset")
        host = text(dig(doc, "host.name")) or text(dig(doc, "host.hostname")) or text(host_doc)
    agent = agent or text(dig(doc, "@metadata.beat"))
    if path is None and agent is not None and text(doc.get("source")) is not None:
        path, where = text(doc.get("source")), doc.get("offset")  # Filebeat before 6.3
    if path is None or (agent is None and "input" not in doc and "ecs" not in doc):
        return None
    return Shipped(line=line, shipper=agent or "filebeat", host=host, path=path,
                   offset=offset(where), created_ms=when(doc.get("@timestamp")))
