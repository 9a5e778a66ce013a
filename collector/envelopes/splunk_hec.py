"""Splunk HTTP Event Collector events (``/services/collector/event``), as a Universal
Forwarder, Fluent Bit's or Vector's ``splunk_hec`` output, or the OTel Collector's
``splunkhec`` exporter send them: ``event`` is the line (a string, or an object for
structured events), ``source`` usually the file path, ``host`` the machine, ``time`` epoch
seconds with a fraction."""

from __future__ import annotations

import orjson

from collector.envelopes.shipped import Shipped, text, when


def match(doc: dict) -> Shipped | None:
    event = doc.get("event")
    if not (isinstance(event, str) or isinstance(event, dict)) or not (
            "sourcetype" in doc or "source" in doc or "time" in doc):
        return None
    line = event if isinstance(event, str) else orjson.dumps(event).decode()
    if not line:
        return None
    source = text(doc.get("source"))
    return Shipped(line=line.removesuffix("\n"), shipper="splunk-hec", host=text(doc.get("host")),
                   path=source, created_ms=when(doc.get("time")))
