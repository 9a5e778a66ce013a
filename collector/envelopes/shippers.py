"""Which shipper wrapped a delivered message: the envelopes tried in turn.

The more specific shapes claim first (a Splunk HEC event names ``event``; the Beats carry
``log.file.path`` and ``agent``; Logstash adds ``@version``), the looser ones last (Fluent
Bit's ``log`` key, the syslog templates). A document no shipper claims is None and is read as
it stands, by the generic JSON parser as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from collector import native
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
from collector.envelopes.shipped import MIN_RUN, Run, Shipped, grouped, runs

Matcher = Callable[[dict], Shipped | None]
# Delivery sources whose shipper is remembered (``Shapes``); beyond, they are learned afresh.
MAX_SHAPES = 1024
MATCHERS: tuple[Matcher, ...] = (splunk_hec.match, filebeat.match, logstash.match, vector.match, fluentbit.match,
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


class Shapes:
    """``unwrap`` for the messages of many delivery sources (Kafka topics, HTTP endpoints),
    asking first the shipper that claimed a source's message before. A source carries one
    shipper's documents, so after its first message one matcher is asked instead of the
    whole list in turn (most of what a message cost beyond its JSON decoding); a message
    that shipper does not claim is asked of all, in order, as ``unwrap`` does."""

    __slots__ = ("_last", "_filebeat", "_filebeat_runs")

    def __init__(self):
        self._last: dict[str, Matcher] = {}
        # The native reader of Filebeat documents (``collector.native``), or None; and its
        # reader of them in runs.
        self._filebeat = native.filebeat_docs()
        self._filebeat_runs = native.filebeat_runs()

    def unwrap_runs(self, texts: Sequence[str], sources: Sequence[str]
                    ) -> list[Shipped | Run | None]:
        """``unwrap_all`` with the runs of one source's messages as one ``Run`` each
        (``collector.envelopes.shipped.runs``). Where every source of the delivery is known
        to carry Filebeat documents, the native reader makes the runs itself, without a
        ``Shipped`` a message (0.71 against 0.98 µs a line; with what ``Delivery`` saves on
        a run's lines, 1.1-2.0 µs a line in all: most of what a shipped line cost more than
        a file's); a delivery with a message it declines is read as ``unwrap_all`` reads it,
        so the answer never depends on which reader made it."""
        if (self._filebeat_runs is not None and len(texts) >= MIN_RUN
                and all(self._last.get(source) is filebeat.match for source in set(sources))):
            groups = self._filebeat_runs(texts)
            if None not in groups:
                return grouped(groups)  # type: ignore[return-value]
        return runs(self.unwrap_all(texts, sources))

    def unwrap_all(self, texts: Sequence[str], sources: Sequence[str]) -> list[Shipped | None]:
        """``unwrap`` of each message (``texts[i]`` delivered by ``sources[i]``). Where a
        source's shipper is Filebeat, the native reader's answer stands for it (the same
        ``Shipped``, without the whole document decoded as Python objects: most of what an
        envelope cost); a message it declines is read here."""
        last, filebeat_match, unwrap = self._last, filebeat.match, self.unwrap
        # The native reader only where Filebeat may be the shipper: a source known to send
        # another shipper's envelopes (syslog frames, a Fluent Bit topic) would discard it.
        fast = (self._filebeat(texts) if self._filebeat is not None and len(texts) > 1
                and any(last.get(source, filebeat_match) is filebeat_match
                        for source in set(sources)) else None)
        if fast is None:
            return [unwrap(text, source) for text, source in zip(texts, sources, strict=True)]
        return [found if found is not None and last.get(source) is filebeat_match
                else unwrap(text, source)
                for text, source, found in zip(texts, sources, fast, strict=True)]

    def unwrap(self, record_text: str, source: str) -> Shipped | None:
        if record_text[:1] != "{":
            return unwrap(record_text)
        try:
            doc = orjson.loads(record_text)
        except orjson.JSONDecodeError:
            return None
        if doc.__class__ is not dict:
            return None
        last = self._last.get(source)
        if last is not None:
            found = last(doc)
            if found is not None:
                return found
        for matcher in MATCHERS:
            found = matcher(doc)
            if found is not None:
                if len(self._last) >= MAX_SHAPES:
                    self._last.clear()
                self._last[source] = matcher
                return found
        return None
