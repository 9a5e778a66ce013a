"""Stage 2 and 3 of the anomaly model on inputs whose answer is worked out by hand: the
per-series tail fit (rarity) and page suppression (pages)."""

from __future__ import annotations

import math

import numpy as np

from rules.anomaly import pages, rarity


def test_one_threshold_means_the_same_on_a_calm_and_a_wild_series():
    rng = np.random.default_rng(1)
    calm = np.abs(rng.normal(0, 1, 5000))
    wild = np.abs(rng.laplace(0, 1, 5000)) * 10  # heavier tails, ten times the spread
    tails = rarity.fit(np.stack([calm, wild]))
    # Each series' own 1-in-1000 deviation gets about the same rarity (-log10 p ~ 3) ...
    own = np.array([[np.quantile(calm, 0.999)], [np.quantile(wild, 0.999)]])
    r = rarity.rarity(own, tails)[:, 0]
    assert 2.3 < r[0] < 4.0 and 2.3 < r[1] < 4.0
    # ... while the same absolute deviation of 8 is far rarer on the calm one.
    same = rarity.rarity(np.array([[8.0], [8.0]]), tails)[:, 0]
    assert same[0] > 8 and same[1] < 2.5


def test_tail_extrapolates_beyond_anything_seen_and_inverts():
    d = np.abs(np.random.default_rng(2).normal(0, 1, (1, 2000)))
    tails = rarity.fit(d)
    u, lq, beta = tails[0]
    assert lq == -math.log10(0.02) and 1.5 < u < 3.0 and 0.25 <= beta < 1.0
    # Rising linearly to -log10 q at u, then by 1/(beta ln 10) per unit of deviation.
    assert abs(rarity.rarity(np.array([[u]]), tails)[0, 0] - lq) < 1e-12
    step = rarity.rarity(np.array([[u + 1]]), tails)[0, 0] - lq
    assert abs(step - 1 / (beta * math.log(10))) < 1e-12
    for r in (0.5, lq, 7.0, 30.0):
        back = rarity.rarity(rarity.deviation_at(r, tails)[:, None], tails)[0, 0]
        assert abs(back - r) < 1e-9


def test_one_past_incident_does_not_deafen_the_series():
    d = np.abs(np.random.default_rng(3).normal(0, 1, (1, 600)))
    clean = rarity.fit(d)
    d[0, 100] = 40.0  # an outage in the training history
    dirty = rarity.fit(d)
    assert dirty[0, 2] < 2 * clean[0, 2]  # the tail's mean excess barely moves


def test_a_long_anomaly_pages_once_and_again_only_when_clearly_worse():
    raw = np.array([[0.1, 0.2, 0.85, 0.855, 0.852, 0.858, 0.95, 0.5, 0.1, 0.1, 0.9]])
    paged = pages.pages(raw, quiet=3, step=0.01)
    # first crossing at 2; 3 and 5 creep up by less than 0.01; 6 is clearly worse; at 10 the
    # quiet period (3 rows) after the last high score is over.
    assert list(np.nonzero(paged[0] >= 0.8)[0]) == [2, 6, 10]
    assert list(np.nonzero(pages.pages(raw, quiet=3, step=0.0)[0] >= 0.8)[0]) == [2, 3, 5, 6, 10]
    # No suppression at all: every row keeps its score.
    assert (pages.pages(raw, quiet=0) == raw).all()


def test_firing_starts_on_a_page_and_lasts_while_the_raw_score_stays_high():
    raw = np.array([[0.9, 0.9, 0.5], [0.5, 0.9, 0.9], [0.5, 0.5, 0.5]])
    paged = pages.pages(raw, quiet=10, step=0.01)
    # Series 0 paged and fell back; series 1 paged and is still anomalous; 2 never paged.
    assert list(pages.firing(paged, raw, 0.8)) == [False, True, False]


def test_trailing_max_looks_back_exactly_n_columns():
    x = np.random.default_rng(4).random((3, 200))
    for n in (1, 2, 3, 7, 64, 100, 288):
        want = np.array([[x[s, max(0, t - n):t].max(initial=0.0) for t in range(200)]
                         for s in range(3)])
        np.testing.assert_array_equal(pages.trailing_max(x, n), want)


def test_only_pages_silence_the_quiet_period_other_rows_only_their_episode():
    # Row 1 is high but does not page (row 0 paged higher just before); once the episode
    # (2 rows) is over, row 5 is compared with the last page (0.95), not with row 1.
    raw = np.array([[0.95, 0.94, 0.1, 0.1, 0.1, 0.97, 0.1, 0.1, 0.1, 0.96]])
    paged = pages.pages(raw, quiet=20, step=0.01, episode=2)
    assert list(np.nonzero(paged[0])[0]) == [0, 5]  # row 9: below the last page (0.97)
    # A later, lower row does not page while the last page is within the quiet period.
    raw = np.array([[0.1, 0.2, 0.1, 0.1, 0.1, 0.15]])
    assert list(np.nonzero(pages.pages(raw, quiet=20, step=0.0, episode=2)[0])[0]) == [0, 1]
