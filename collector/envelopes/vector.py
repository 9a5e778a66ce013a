"""Vector's ``file`` source (legacy log namespace, the default): ``message`` is the line,
``file`` the path, ``host`` the machine, ``timestamp`` when Vector read it and
``source_type`` the source's kind (``file``, ``kubernetes_logs``, ``docker_logs``...)."""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, text, when


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("message"))
    kind = text(doc.get("source_type"))
    if line is None or kind is None:
        return None
    return Shipped(line=line, shipper="vector", host=text(doc.get("host")),
                   path=text(doc.get("file")), created_ms=when(doc.get("timestamp")))
