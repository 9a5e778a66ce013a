"""What the rules lease says in the log, on the real stores: a normal start (nobody held the
lease, or its holder gave it up on stop) is not a warning; taking it over from a holder whose
lease ran out while it held it is (that holder may still be alive, paused or cut off)."""

from __future__ import annotations

import logging

import pytest
from paging_support import paging_stores  # noqa: F401 (the fixture "store")

from collector.store.paging import lease_for
from rules.leadership import Leadership

pytestmark = pytest.mark.integration

TTL_MS = 1_000


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "midwatch.rules" and r.levelno >= logging.WARNING]


def test_a_normal_start_and_a_handover_on_stop_do_not_warn(store, caplog):
    caplog.set_level(logging.INFO, logger="midwatch.rules")
    first = Leadership(lease_for(store), ttl_ms=TTL_MS)
    assert first.renew()
    first.stop()  # gives the lease up
    second = Leadership(lease_for(store), ttl_ms=TTL_MS)
    assert second.renew()
    assert warnings(caplog) == []
    assert sum("taken" in r.getMessage() for r in caplog.records) == 2


def test_a_takeover_from_a_holder_whose_lease_ran_out_warns_naming_it(store, caplog):
    now = [1_000_000]
    first = Leadership(lease_for(store), ttl_ms=TTL_MS, clock=lambda: now[0])
    assert first.renew()
    now[0] += TTL_MS + 1  # first never renewed: paused, cut off or killed
    second = Leadership(lease_for(store), ttl_ms=TTL_MS, clock=lambda: now[0])
    assert second.renew()
    (msg,) = warnings(caplog)
    assert "taken over" in msg and first.holder in msg
