"""Splunk HTTP Event Collector events (``/services/collector/event``), as a Universal
Forwarder, Fluent Bit's or Vector's ``splunk_hec`` output, or the OTel Collector's
``splunkhec`` exporter send them: ``event`` is the line (a string, or an object for
structured events), ``source`` usually the file path, ``host`` the machine, ``time`` epoch
seconds with a fraction.

An application's JSON log may well have ``event`` and ``time`` keys (structlog names its
message ``event``): a HEC event is only taken with ``sourcetype``, or with ``host`` and
``source``, and a numeric ``time`` when it has one."""

from __future__ import annotations

import orjson

from collector.envelopes.shipped import Shipped, text, when


def match(doc: dict) -> Shipped | None:
    event = doc.get("event")
    if not isinstance(event, str | dict) or not (
            "sourcetype" in doc or ("host" in doc and "source" in doc)):
        return None
    stamp = doc.get("time")
    if stamp is not None and not isinstance(stamp, int | float) and not (
            isinstance(stamp, str) and stamp.replace(".", "", 1).isdigit()):
        return None
    line = event if isinstance(event, str) else orjson.dumps(event).decode()
    if not line:
        return None
    source = text(doc.get("source"))
    return Shipped(line=line.removesuffix("\n"), shipper="splunk-hec", host=text(doc.get("host")),
                   path=source, created_ms=when(stamp))
