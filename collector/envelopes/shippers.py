"""Which shipper wrapped a delivered message: the envelopes tried in turn.

The more specific shapes claim first (a Splunk HEC event names ``event``; the Beats carry
``log.file.path`` and ``agent``; Logstash adds ``@version``), the looser ones last (Fluent
Bit's ``log`` key, the syslog templates). A document no shipper claims is None and is read as
it stands, by the generic JSON parser as before.
"""

from __future__ import annotations

import orjson

from collector.envelopes import (
    filebeat,
    fluentbit,
    logstash,
    rsyslog_json,
    splunk_hec,
    syslog,
    syslogng_json,
    vector,
)
from collector.envelopes.shipped import Shipped

MATCHERS = (splunk_hec.match, filebeat.match, logstash.match, vector.match, fluentbit.match,
            rsyslog_json.match, syslogng_json.match)


def match_doc(doc: dict) -> Shipped | None:
    """The shipper envelope of a decoded JSON document, or None."""
    for matcher in MATCHERS:
        found = matcher(doc)
        if found is not None:
            return found
    return None


def unwrap(record_text: str) -> Shipped | None:
    """The shipper envelope of one delivered message (a Kafka value, an NDJSON line, a bulk
    document, a syslog frame), or None when it is not in one."""
    head = record_text[:1]
    if head == "<":
        return syslog.match(record_text)
    if head != "{":
        return None
    try:
        doc = orjson.loads(record_text)
    except orjson.JSONDecodeError:
        return None
    return match_doc(doc) if isinstance(doc, dict) else None
