"""Claims cost a request per look-up: while none meets another collector's claim, only a
probe now and then claims; the first that does makes every look-up claim again."""

from __future__ import annotations

from collector.store.id_claims import PROBE_EVERY, QUIET_CLAIMS, ClaimPacing


def test_quiet_claims_thin_out_to_probes_and_a_held_claim_restores_them():
    pacing = ClaimPacing()
    assert all(pacing.due() for _ in range(QUIET_CLAIMS))
    later = [pacing.due() for _ in range(4 * PROBE_EVERY)]
    assert sum(later) == 4  # one probe in every PROBE_EVERY look-ups
    pacing.met(0)  # a probe that met nothing changes nothing
    assert not pacing.due()
    pacing.met(3)  # another collector holds some of these IDs: claim every time again
    assert all(pacing.due() for _ in range(QUIET_CLAIMS))
