"""Logstash's ``file`` input: ``message``, ``@timestamp`` (when it read the line), ``@version``,
and the file as ``log.file.path`` (ECS compatibility on, the default since 8.0) or ``path``
(legacy), the host as ``host.name`` or a plain ``host`` string.

The file is required: ``@timestamp``, ``@version`` and ``message`` alone are what an
application's own JSON log looks like (logstash-logback-encoder writes exactly those), and
such a document is the event itself, not a line to unwrap."""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, dig, text, when


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("message"))
    if line is None or "@version" not in doc:
        return None
    path = text(dig(doc, "log.file.path")) or text(doc.get("path"))
    if path is None:
        return None
    host = text(dig(doc, "host.name")) or text(doc.get("host"))
    return Shipped(line=line, shipper="logstash", host=host, path=path,
                   created_ms=when(doc.get("@timestamp")))
