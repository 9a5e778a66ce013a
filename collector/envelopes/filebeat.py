"""Filebeat and Elastic Agent (its filestream/log inputs are Filebeat's): an ECS document.

``message`` is the line, ``log.file.path`` the file, ``log.offset`` the byte offset the line
starts at, ``host.name`` the machine, ``@timestamp`` when Filebeat read the line (not when
the platform wrote it). Outputs write the fields nested (Elasticsearch, Kafka, Logstash,
file) or, after some processors, flattened as dotted keys; both are read. Filebeat before 6.3
wrote ``source`` and ``offset`` at the top instead. Shape: tests/data/shippers/SOURCES.md.
"""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, dig, offset, text, text_ms, when


def match(doc: dict) -> Shipped | None:
    line = doc.get("message")
    if line.__class__ is not str:
        return None
    # Nested, as outputs write it: read directly, with exact type checks instead of the
    # helpers (every message of a busy shipper comes here; this is most of its unwrap cost).
    log, agent_doc = doc.get("log"), doc.get("agent")
    if log.__class__ is dict and agent_doc.__class__ is dict:
        file_doc = log.get("file")
        path, agent = (file_doc.get("path") if file_doc.__class__ is dict else None,
                       agent_doc.get("type"))
        if path.__class__ is str and path and agent.__class__ is str and agent:
            host_doc = doc.get("host")
            host = host_doc.get("name") if host_doc.__class__ is dict else host_doc
            where, stamp = log.get("offset"), doc.get("@timestamp")
            return Shipped(line, agent, host if host.__class__ is str and host else None, path,
                           where if where.__class__ is int and where >= 0 else offset(where),
                           text_ms(stamp) if stamp.__class__ is str else when(stamp))
    return _loose(doc, line)


def _loose(doc: dict, line: str) -> Shipped | None:
    """Flattened dotted keys, a nested document missing a part, or Filebeat before 6.3."""
    host_doc = doc.get("host")
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
