"""Words of the report: certificate days left count whole days as the TLS probe does (a page
saying "20 days left" and the month's report agree); counts read as sentences."""

from __future__ import annotations

import pytest

from midwatch.report.probes import _days_left
from midwatch.report.scope import counted

H = 3_600_000
D = 24 * H


@pytest.mark.parametrize(("ms", "text"), [
    (20 * D + 22 * H, "20"), (21 * D, "21"), (3 * H, "0"), (0, "0"),
    (-3 * H, "expired today"), (-(D + H), "expired 1 day ago"), (-(3 * D + 2 * H), "expired 3 days ago"),
])
def test_days_left_are_whole_days(ms, text):
    assert _days_left(ms) == text


def test_counts_agree_with_their_nouns():
    assert [counted(n, "flow") for n in (0, 1, 2, 1500)] == [
        "0 flows", "1 flow", "2 flows", "1,500 flows"]
