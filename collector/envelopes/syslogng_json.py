"""syslog-ng's ``$(format-json --scope rfc5424 --scope nv-pairs)``: upper-case macro names,
``MESSAGE`` the line, ``HOST``, ``PROGRAM``, ``ISODATE`` (or ``DATE``) and, from a ``file()``
source, ``FILE_NAME``."""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, text, when


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("MESSAGE"))
    if line is None or not ("HOST" in doc or "PROGRAM" in doc):
        return None
    return Shipped(line=line, shipper="syslog-ng", host=text(doc.get("HOST")),
                   path=text(doc.get("FILE_NAME")), app=text(doc.get("PROGRAM")),
                   created_ms=when(doc.get("ISODATE") or doc.get("DATE")))
