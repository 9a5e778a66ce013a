"""The ID types midwatch's own parsers and inputs write, and the near misses of them.

The flow catalog's ``ids:`` section (``link``, ``labels``, ``one_per_message``,
``join_window``) names ID types, and a misspelt one did nothing without a word:
``labels: [x12.iza]`` let real ISA control numbers join messages again (one interchange's
purchase orders folded into one trace). ID types are open (a parser mapping's ``ids:`` or a
site's own parser may write any), so an unknown name is no error by itself; one a letter or
two from a known type is (``collector.correlation.catalog`` refuses it, naming the key).

``tests/unit/test_id_types.py`` scans the parser sources for the kinds they write and fails
when one is missing here, so the registry stays complete.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# What the parsers, native readers and inputs write (``Event.add_id``), by source.
BUILT_IN_ID_TYPES = frozenset({
    # business keys named by fields, headers and pairs (``parsers._fields.id_kind``), and the
    # X12/EDIFACT documents' own (claims, payments, status inquiries)
    "correlation", "request", "order", "invoice", "shipment", "customer", "message",
    "transaction", "claim", "payment",
    # HTTP, gateways, cloud and tracing
    "http.request", "aws.request", "xray", "otel.trace", "logicapps.run", "oracle.ecid",
    # integration platforms
    "boomi.exec", "biztalk.msg", "biztalk.interchange", "ace.ltid", "ace.gtid",
    # messaging: Kafka record keys and message-ID headers, AMQP message IDs
    "kafka.key", "msg", "amqp.msg",
    # EDI envelopes and sets
    "x12.isa", "x12.gs", "x12.st", "edifact.unb", "edifact.unh",
    # named by the default labels and the example catalogs for what a site's mapping writes
    "batch", "file",
})
# How close a name must be to a known type to be taken for a misspelling of it (difflib's
# ratio: "x12.iza" to "x12.isa" is 0.86, "requets" to "request" 0.86, "ordr" to "order" 0.89;
# "region" to "request" is 0.46).
NEAR_MISS_CUTOFF = 0.8


def near_miss(name: str, known: Iterable[str]) -> str | None:
    """The known type ``name`` is most likely a misspelling of: its letters in another order
    (``ordre``), or one within ``NEAR_MISS_CUTOFF``; None when it is like none of them."""
    known = sorted(known)
    letters = sorted(name)
    for kind in known:
        if kind != name and sorted(kind) == letters:
            return kind
    close = difflib.get_close_matches(name, known, n=1, cutoff=NEAR_MISS_CUTOFF)
    return close[0] if close and close[0] != name else None

