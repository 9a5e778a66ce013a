"""Claims on a trace's joining IDs: what keeps two collectors from creating two traces for
one message.

With several collectors in one Kafka consumer group, one message's events reach different
processes. Each looks its IDs up before writing, but a search does not see a trace written
within the store's last refresh interval, so two processes that see the same message within
seconds of each other each created a trace for it (25-67% of the messages of the scale-out
bench when the events were spread over partitions), and the trace repair merged them later
at ~84 us of collector CPU each.

A claim is one small document per joining ID, keyed by a hash of the typed ID and created
(``op_type: create``) before the trace is looked up and written. Creating is atomic and
real-time where a search is not: the second collector to claim an ID is refused (409), reads
the claim by key (real-time) and fetches the claiming trace by its key, so it joins that
trace instead of creating its own. Whether it joins is the correlator's usual decision
(``Catalog.joins``: near enough in event time), so a claim left by a message that reused the
ID long ago joins nothing, and the window never rests on the claim.

A claim only has to outlive the search's blind spot (the trace index refreshes every few
seconds). Claims go to one index per ``CLAIM_BUCKET_MS`` of wall clock, and the collector
holding the trace-repair lease deletes whole indices once they are ``CLAIM_TTL_MS`` past
(deleting documents by query is not in every Elasticsearch/OpenSearch build, and an index
drop costs the same whatever it holds). Two collectors claiming one ID within a second of a
bucket's end may claim it in two indices: that message can still split, and the trace repair
merges it as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Wall clock: claims made in one bucket share an index; an index is dropped once its bucket
# ended CLAIM_TTL_MS ago (minutes against a blind spot of seconds).
CLAIM_BUCKET_MS = 600_000
CLAIM_TTL_MS = 120_000
# A claim costs its document and, per look-up, a request (measured: +8-11% CPU per event of
# two processes whose messages each stay on one partition, where no claim ever meets another).
# So after QUIET_CLAIMS requests in a row where none did, only every PROBE_EVERY-th look-up
# claims; the first claim held by another trace makes every look-up claim again. What a
# skipped look-up leaves unclaimed may split, and the trace repair merges it.
QUIET_CLAIMS = 8
PROBE_EVERY = 16


@dataclass(frozen=True, slots=True)
class IdClaim:
    """The trace keyed ``trace_key`` holds ``typed_id``."""

    typed_id: str
    trace_key: str


def claim_doc_id(typed_id: str) -> str:
    """The claim document's key: typed IDs may be longer than a document key may be (512
    bytes on Elasticsearch), a 128-bit hash of one never is."""
    return hashlib.blake2b(typed_id.encode(), digest_size=16).hexdigest()


def claim_bucket(now_ms: int) -> int:
    """The bucket (index) a claim made at ``now_ms`` (wall clock) goes to."""
    return now_ms // CLAIM_BUCKET_MS


class ClaimPacing:
    """Whether a look-up claims (see ``QUIET_CLAIMS``), told what each claim request met."""

    def __init__(self) -> None:
        self.quiet = 0  # claim requests (and skipped look-ups) since one met another's claim

    def due(self) -> bool:
        self.quiet += 1
        return self.quiet <= QUIET_CLAIMS or self.quiet % PROBE_EVERY == 0

    def met(self, held: int) -> None:
        if held:
            self.quiet = 0
