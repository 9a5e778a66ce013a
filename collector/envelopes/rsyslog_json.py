"""rsyslog's JSON template with its own property names (docs/shipping.md gives the template):
``msg`` the line, ``hostname``, ``programname`` or ``syslogtag``, ``timegenerated`` (when
rsyslog read it; ``timereported`` is the same for imfile) and ``filename`` from imfile's
``addMetadata`` (``$!metadata!filename``)."""

from __future__ import annotations

from collector.envelopes.shipped import Shipped, body, dig, text, when


def match(doc: dict) -> Shipped | None:
    line = body(doc.get("msg"))
    if line is None or not ("syslogtag" in doc or "programname" in doc or "timereported" in doc):
        return None
    app = text(doc.get("programname")) or (text(doc.get("syslogtag")) or "").rstrip(":") or None
    path = text(doc.get("filename")) or text(dig(doc, "metadata.filename"))
    return Shipped(line=line, shipper="rsyslog", host=text(doc.get("hostname")), path=path,
                   app=app, created_ms=when(doc.get("timegenerated") or doc.get("timereported")))
