"""The ID types midwatch's own parsers and inputs write, and the near misses of them.

The flow catalog's ``ids:`` section (``link``, ``labels``, ``one_per_message``,
``join_window``) names ID types, and a misspelt one did nothing without a word:
``labels: [x12.iza]`` let real ISA control numbers join messages again (one interchange's
purchase orders folded into one trace). ID types are open (a parser mapping's ``ids:`` or a
site's own parser may write any), so an unknown name is no error by itself; one a letter
changed or two letters swapped from a known type is (``collector.correlation.catalog``
refuses it, naming the key), unless the catalog's ``ids.types`` declares it the site's own.

``tests/unit/test_id_types.py`` scans the parser sources for the kinds they write and fails
when one is missing here, so the registry stays complete.
"""

from __future__ import annotations

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
    "tibco.job",
    # messaging: Kafka record keys and message-ID headers, AMQP message IDs
    "kafka.key", "msg", "amqp.msg",
    # EDI envelopes and sets
    "x12.isa", "x12.gs", "x12.st", "edifact.unb", "edifact.unh",
    # named by the default labels and the example catalogs for what a site's mapping writes
    "batch", "file",
})


def near_miss(name: str, known: Iterable[str]) -> str | None:
    """The known type ``name`` is most likely a misspelling of: one of the same length with
    one letter changed (``x12.iza``) or two neighbours swapped (``requets``); None when it is
    no such near miss of any. A longer or shorter name (``orders``, ``x12.isa13``,
    ``message.id``) is rather a type of its own, and warned of only."""
    for kind in sorted(known):
        if len(kind) == len(name) and kind != name and _one_edit(name, kind):
            return kind
    return None


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` (same length, not equal) differ in one letter, or in two neighbours
    swapped."""
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
