"""What the correlator reads of an event, taken where the event is parsed.

In a correlated collector the parse worker used to ship whole ``Event`` objects, which the
collector's process unpickled (about 2.2 µs an event) only to classify them, take a handful of
fields for the trace, and serialize them again for the store: the writer thread, which holds
the interpreter lock for all of it, sets the collector's rate. Now the worker classifies the
event with the same catalog (built from the same ``flows:`` section), serializes its document
once, and ships the document bytes plus a ``JoinView``: the IDs, the link IDs, the message ID,
flow, partner and the hop the trace gains. Classification is a pure function of the event and
the catalog, so the document and the trace come out as they do when the collector's process
classifies (tests/unit/test_joinview.py compares both paths).

Two kinds of event still travel whole, because classifying them needs state only the
collector's process holds: an event with a Boomi execution ID (``ProcessNames`` learns and
lends process names across inputs before classifying) and an acknowledgement of a whole
EDI group or interchange (``ack_scope``: answered by the flush, which reads the store).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from collector.correlation.catalog import Catalog, is_placeholder, load_catalog
from collector.correlation.id_forms import with_canonical_forms
from collector.correlation.tracebuild import hop_from_event
from collector.encoded import EncodedEvent
from collector.event import ACK_SCOPE_LABEL, Event
from collector.process_names import EXECUTION_ID_PREFIXES
from collector.trace import Hop


@dataclass(frozen=True, slots=True)
class CatalogSource:
    """The ``flows:`` section a correlator's catalog was built from (``load_catalog``'s
    arguments; a catalog file as the collector's process read it, not its path): what a
    parse worker builds its own copy from (a compiled catalog holds closures, which do not
    pickle). Already validated by the collector's process."""

    data: Any
    path: tuple[str | int, ...] = ("flows",)
    mapped_types: frozenset[str] = frozenset()  # load_catalog's: the mappings' ID types

    def load(self) -> Catalog:
        return load_catalog(self.data, None, self.path, mapped_types=self.mapped_types)


def classified_links(ev: Event, catalog: Catalog) -> list[str]:
    """Set the event's flow and stage (and a placeholder message ID's stand-in) from the
    catalog; its IDs that join messages. The one place both paths classify."""
    ev.flow, ev.stage = catalog.classify(ev)
    is_link = catalog.is_link
    ev.ids = with_canonical_forms(ev.ids, ev.platform, is_link)  # one ID in another form joins too
    links = [i for i in ev.ids if is_link(i)]
    # A message ID among the links is no placeholder (``is_link`` said so): asked only of
    # one that is not, which spares most events a second look at it.
    if (links and ev.message_id is not None and ev.message_id not in links
            and is_placeholder(ev.message_id.partition(":")[2])):
        ev.message_id = links[0]  # a page's example IDs name it: "correlation:N/A" did
    return links


def needs_collector(ev: Event) -> bool:
    """Whether the event must reach the collector's process whole (see the module's
    docstring); checked before classifying, which the collector's process then does."""
    if ev.labels and ev.labels.get(ACK_SCOPE_LABEL):
        return True
    for i in ev.ids:  # a loop, not any(): this runs for every event a worker parses
        if i.startswith(EXECUTION_ID_PREFIXES):
            return True
    return False


class JoinView:
    """An event's part in its trace: ``ids``, ``links``, ``message_id``, ``flow`` and
    ``partner`` as ``Correlator.process`` reads them from an ``Event``, and its ``hop``."""

    __slots__ = ("flow", "hop", "ids", "links", "message_id", "partner")

    def __init__(self, ids: list[str], links: list[str], message_id: str | None,
                 flow: str | None, partner: str | None, hop: Hop) -> None:
        self.ids, self.links, self.message_id = ids, links, message_id
        self.flow, self.partner, self.hop = flow, partner, hop

    @classmethod
    def of(cls, ev: Event, links: list[str]) -> JoinView:
        """The view of a classified event with these link IDs."""
        return cls(ev.ids, links, ev.message_id, ev.flow, ev.partner, hop_from_event(ev))

    def reduce_event(self, id: str, timestamp_ms: int, ingested_ms: int,  # noqa: A002
                     doc: bytes) -> tuple[Any, tuple]:
        """``EncodedEvent.__reduce__`` of the event this is the view of: the event and its
        view as one flat tuple of plain values (the hop's time is the event's), loaded by one
        call (``_loaded``). Nested objects cost the writer's process a call each to load,
        which is what shipping the view instead of the event is meant to save."""
        h = self.hop
        return _loaded, (id, timestamp_ms, ingested_ms, doc, self.ids, self.links,
                         self.message_id, self.flow, self.partner, h.stage, h.service,
                         h.platform, h.outcome, h.event_id, h.action, h.error_class,
                         h.error_message)


def _loaded(id: str, timestamp_ms: int, ingested_ms: int, doc: bytes,  # noqa: A002
            ids: list[str], links: list[str], message_id: str | None, flow: str | None,
            partner: str | None, stage: str | None, service: str | None, platform: str,
            outcome: str, event_id: str, action: str | None, error_class: str | None,
            error_message: str | None) -> EncodedEvent:
    # The service interned, as hop_from_event does: a pickle does not keep that across
    # processes, and in-flight traces hold a million hops naming a handful of services.
    hop = Hop(stage, sys.intern(service) if service else service, platform, timestamp_ms,
              outcome, event_id, action, None, error_class, error_message)
    return EncodedEvent(id, timestamp_ms, ingested_ms, doc,
                        JoinView(ids, links, message_id, flow, partner, hop))
