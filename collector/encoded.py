"""An event already turned into its stored document: what a parse worker ships instead of the
``Event`` when nothing in the collector's process reads events (no correlator, no known issues).

Without that, the parent unpickled every event (26% of its CPU in an events-only run) only to
turn it into its document and serialize it (another 18%): ``Event`` -> pickle -> ``Event`` ->
``to_doc`` -> orjson. Here the worker serializes the document once and the parent keeps the
bytes and the few fields it still needs: the ID (bulk ``_id``, dead letters), the event time
(daily index, the file input's reading order) and the ingest time (pipeline lag).

The bytes are exactly ``orjson.dumps(to_doc(event))``, what the Elasticsearch store and the
spool write for an ``Event``, so a document does not depend on which path it took.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from collector.event import DeadLetter, Event, to_doc

if TYPE_CHECKING:
    from collector.correlation.catalog import Catalog
    from collector.correlation.joinview import JoinView


@dataclass(slots=True)
class EncodedEvent:
    id: str
    timestamp_ms: int
    ingested_ms: int
    doc: bytes  # orjson.dumps(to_doc(event))
    # What the correlator reads of it, in a correlated collector; None there for an event
    # with no link ID (it joins nothing), and always without a correlator.
    join: JoinView | None = None

    def __reduce__(self) -> tuple[Any, tuple]:
        """Pickled as its values (a third of the default's bytes); with its view, as the
        view says (``JoinView.reduce_event``)."""
        if self.join is not None:
            return self.join.reduce_event(self.id, self.timestamp_ms, self.ingested_ms, self.doc)
        return EncodedEvent, (self.id, self.timestamp_ms, self.ingested_ms, self.doc)


# What the writer and the stores take as an event: parsed here, or encoded by a worker.
StoredEvent = Event | EncodedEvent


def encoded(items: Iterable[Event | DeadLetter],
            catalog: Catalog | None = None) -> list[EncodedEvent | Event | DeadLetter]:
    """Each event as its document bytes; dead letters as they are. An event whose document
    orjson refuses (a lone surrogate, say) stays an ``Event``: the writer then dead-letters
    it as it does any event the store cannot write, instead of the worker failing the input.

    With the correlator's ``catalog``, each event is classified first and carries its
    ``join``; one whose classification needs the collector's process stays an ``Event``
    (``joinview.needs_collector``)."""
    dumps = orjson.dumps
    if catalog is not None:
        # Imported here: an uncorrelated worker never loads the catalog's modules.
        from collector.correlation.joinview import JoinView, classified_links, needs_collector
    out: list[EncodedEvent | Event | DeadLetter] = []
    for item in items:
        if isinstance(item, Event):
            join = None
            if catalog is not None:
                if needs_collector(item):
                    out.append(item)
                    continue
                links = classified_links(item, catalog)
                if links:
                    join = JoinView.of(item, links)
            try:
                item = EncodedEvent(item.id, item.timestamp_ms, item.ingested_ms,  # noqa: PLW2901
                                    dumps(to_doc(item)), join)
            except orjson.JSONEncodeError:
                pass
        out.append(item)
    return out


def document_bytes(ev: StoredEvent) -> bytes:
    """The stored document of either kind of event, serialized."""
    return ev.doc if isinstance(ev, EncodedEvent) else orjson.dumps(to_doc(ev))
