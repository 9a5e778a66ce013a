"""Logstash's ``file`` input: ``message``, ``@timestamp`` (when it read the line), ``@version``,
and the file as ``log.file.path`` (ECS compatibility on, the default since 8.0) or ``path``
(legacy), the host as ``host.name`` or a plain ``host`` string."""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, dig, text, when


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("message"))
    if line is None or "@version" not in doc:
        return None
    path = text(dig(doc, "log.file.path")) or text(doc.get("path"))
    host = text(dig(doc, "host.name")) or text(doc.get("host"))
    return Shipped(line=line, shipper="logstash", host=host, path=path,
                   created_ms=when(doc.get("@timestamp")))
